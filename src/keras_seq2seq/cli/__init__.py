"""The `keras-seq2seq` command line: train, translate, evaluate, attention,
export, serve, demo and info, over the public Python API (one module per command).

Results go to stdout (translations, scores); progress and messages go to
stderr. Bad input (a missing or corrupt model directory, an empty corpus, a
wrong option, an unknown backend) ends with one `keras-seq2seq: error: ...`
line on stderr and exit status 1 (2 for a malformed command line), without
a traceback.

The Keras backend is chosen as Keras chooses it, JAX where nothing says
(see `keras_seq2seq.cli.environment`). Parsing imports no Keras: `--help`
and `info` answer at once.
"""

import argparse
import sys

from keras_seq2seq.cli import (
    attention,
    demo,
    environment,
    evaluate,
    export,
    info,
    serve,
    train,
)
from keras_seq2seq.cli import translate as translate_command

COMMANDS = (
    info,
    train,
    translate_command,
    evaluate,
    attention,
    export,
    serve,
    demo,
)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="keras-seq2seq",
        description="Sequence-to-sequence models with attention for Keras 3: "
        "train, use and inspect a neural machine translator.",
        epilog="The Keras backend is KERAS_BACKEND's, else the one in "
        "~/.keras/keras.json ($KERAS_HOME/keras.json), else "
        f"{environment.DEFAULT_BACKEND} (tensorflow, jax or torch). On JAX, "
        "compiled programs are cached in ~/.cache/keras-seq2seq/jax unless "
        "JAX_COMPILATION_CACHE_DIR is set.",
    )
    parser.add_argument("--version", action="store_true", help="print the version")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(commands)
    return parser


def main(argv=None):
    """Runs the command line; returns the exit status.

    Without `argv` (the console script, `python -m keras_seq2seq.cli`), the
    environment defaults are set before Keras is imported (see
    `environment.set_defaults`) and glibc's malloc keeps freed memory (see
    `keras_seq2seq.keep_freed_memory`); `main(argv)` leaves the process's
    environment alone.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from keras_seq2seq import __version__

        print(__version__)
        return 0
    if args.command is None:
        parser.print_help()
        return 0
    try:
        args.backend = environment.choose_backend()
    except environment.BackendError as error:
        print(f"keras-seq2seq: error: {error}", file=sys.stderr)
        return 1
    if argv is None:
        import keras_seq2seq

        environment.set_defaults()
        keras_seq2seq.keep_freed_memory()
    from keras_seq2seq.translate import PipelineError

    try:
        args.handler(args)
    except KeyboardInterrupt:
        print("keras-seq2seq: interrupted", file=sys.stderr)
        return 130
    except (PipelineError, OSError, ImportError, ValueError) as error:
        message = " ".join(str(error).split()) or type(error).__name__
        print(f"keras-seq2seq: error: {message}", file=sys.stderr)
        return 1
    return 0
