"""`keras-seq2seq translate`: sentences from the command line or stdin,
one translation per line on stdout."""

import sys

from keras_seq2seq import translate as pipeline
from keras_seq2seq.cli.options import add_model_and_decoding_options, positive_integer


def add_parser(commands):
    parser = commands.add_parser(
        "translate",
        help="translate sentences",
        description="Translate the sentences given, or each line of stdin; "
        "one translation per line on stdout.",
    )
    add_model_and_decoding_options(parser)
    parser.add_argument(
        "--max-length",
        metavar="N",
        type=positive_integer,
        help="most output pieces (default: 2 x source pieces + 10)",
    )
    parser.add_argument(
        "sentences", nargs="*", metavar="SENTENCE", help="default: the lines of stdin"
    )
    parser.set_defaults(handler=run)


def run(args):
    sentences = args.sentences
    if not sentences:
        sentences = [line.rstrip("\r\n") for line in sys.stdin]
    translator = pipeline.load(args.model)
    outputs = translator.translate(
        sentences,
        beam=args.beam,
        max_length=args.max_length,
        length_penalty=args.length_penalty,
    )
    for output in outputs:
        print(output)
