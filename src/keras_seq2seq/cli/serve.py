"""`keras-seq2seq serve`: an HTTP API and a web page over a trained translator."""

import dataclasses

from keras_seq2seq.cli.options import add_model_and_decoding_options, positive_integer
from keras_seq2seq.serve import Limits


def add_parser(commands):
    parser = commands.add_parser(
        "serve",
        help="serve a translator over HTTP, with a web page",
        description="Serve the translator in --model: POST /translate (JSON), "
        "GET /health, GET /info, and a page at / that translates and draws "
        "the attention. Concurrent requests are decoded in one batch. Stops "
        "on Ctrl-C or SIGTERM once the requests in flight are answered. "
        "Needs the serve extra (pip install keras-seq2seq[serve]).",
    )
    add_model_and_decoding_options(parser)
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="the address to listen on (default 127.0.0.1: this machine only)",
    )
    parser.add_argument(
        "--port", type=positive_integer, default=8000, help="default 8000"
    )
    for field in dataclasses.fields(Limits):
        parser.add_argument(
            "--" + field.name.replace("_", "-"),
            type=field.type,
            default=field.default,
            metavar="N",
            help=_described(field.name),
        )
    parser.set_defaults(handler=run)


def _described(name):
    """The line of `Limits`' docstring that describes the field `name`."""
    for line in Limits.__doc__.splitlines():
        if line.strip().startswith(f"{name}:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"Limits documents no field {name!r}")


def run(args):
    from keras_seq2seq.serve import serve

    limits = {
        field.name: getattr(args, field.name) for field in dataclasses.fields(Limits)
    }
    serve(
        args.model,
        host=args.host,
        port=args.port,
        beam=args.beam,
        length_penalty=args.length_penalty,
        **limits,
    )
