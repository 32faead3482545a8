"""The `keras-seq2seq` command line."""

import argparse
import sys


def _info(args):
    import keras

    from keras_seq2seq import __version__

    print(f"keras-seq2seq {__version__}")
    print(f"keras {keras.__version__}, backend {keras.backend.backend()}")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="keras-seq2seq",
        description="Sequence-to-sequence models with attention for Keras 3.",
    )
    parser.add_argument("--version", action="store_true", help="print the version")
    commands = parser.add_subparsers(dest="command")
    info = commands.add_parser("info", help="print versions and the Keras backend")
    info.set_defaults(handler=_info)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from keras_seq2seq import __version__

        print(__version__)
        return 0
    if args.command is None:
        parser.print_help()
        return 0
    args.handler(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
