"""The flags shared by `translate`, `evaluate` and `attention`: the model
directory and the decoding."""

import argparse


def add_model_and_decoding_options(parser):
    parser.add_argument(
        "--model", metavar="DIR", required=True, help="a model directory from train"
    )
    parser.add_argument(
        "--beam",
        type=positive_integer,
        default=1,
        metavar="K",
        help="beam width (default 1: greedy)",
    )
    parser.add_argument(
        "--length-penalty",
        metavar="ALPHA",
        type=_non_negative_number,
        default=0.0,
        help="GNMT length penalty alpha for beam search (default 0)",
    )


def positive_integer(text):
    """An argparse `type`: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _non_negative_number(text):
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value
