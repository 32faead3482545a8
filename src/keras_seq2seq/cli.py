"""The `keras-seq2seq` command line."""

import argparse
import sys


def _demo(args):
    from keras_seq2seq.demo import run_attention_demo

    run_attention_demo(out_dir=args.out, epochs=args.epochs, seed=args.seed)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="keras-seq2seq",
        description="Sequence-to-sequence models with attention for Keras 3.",
    )
    parser.add_argument("--version", action="store_true", help="print the version")
    commands = parser.add_subparsers(dest="command")
    demo = commands.add_parser(
        "demo", help="train the attention_keras NMT walk-through on a toy task"
    )
    demo.add_argument("--out", default="runs/demo", help="output directory")
    demo.add_argument("--epochs", type=int, default=20)
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(handler=_demo)
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
