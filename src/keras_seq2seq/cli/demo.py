"""`keras-seq2seq demo`: a small model trained on the bundled corpus, shown."""

import argparse

from keras_seq2seq import translate as pipeline


def add_parser(commands):
    parser = commands.add_parser(
        "demo",
        help="train a small model on the bundled corpus and show it",
        description="Train a small English-French model on the bundled corpus "
        "(about 10 minutes on 2 CPU cores), then print its test BLEU and a few "
        "translations, and plot one attention heatmap.",
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        default="keras-seq2seq-demo",
        help="where the model and heatmap go (default %(default)s)",
    )
    parser.add_argument(
        "--minutes",
        type=_positive_number,
        default=10.0,
        help="the time the whole demo should take (default %(default)s)",
    )
    parser.set_defaults(handler=run)


def run(args):
    pipeline.demo(args.out, minutes=args.minutes)


def _positive_number(text):
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value
