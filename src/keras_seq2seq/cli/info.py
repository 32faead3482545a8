"""`keras-seq2seq info`: the versions and the Keras backend, without
importing Keras (so it answers at once, and shows the backend a command
would use)."""

import importlib.metadata
import sys

from keras_seq2seq import __version__
from keras_seq2seq.cli.environment import BACKENDS


def add_parser(commands):
    parser = commands.add_parser("info", help="print versions and the Keras backend")
    parser.set_defaults(handler=run)


def run(args):
    print(f"keras-seq2seq {__version__}")
    print(f"keras {_version('keras')}, backend {args.backend}")
    package = BACKENDS[args.backend]
    print(f"{package} {_version(package)}")
    sys.stdout.flush()


def _version(name):
    for distribution in (name, f"{name}-cpu"):
        try:
            return importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            pass
    return "(version unknown)"
