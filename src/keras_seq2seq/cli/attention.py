"""`keras-seq2seq attention`: one translation and a heatmap of its attention."""

import sys

from keras_seq2seq import translate as pipeline
from keras_seq2seq.cli.options import add_model_and_decoding_options


def add_parser(commands):
    parser = commands.add_parser(
        "attention",
        help="plot the attention of one translation",
        description="Translate SENTENCE and write a heatmap of the attention "
        "weights, source and output pieces on the axes (needs matplotlib).",
    )
    parser.add_argument("--out", metavar="FILE.png", required=True)
    add_model_and_decoding_options(parser)
    parser.add_argument(
        "sentence",
        nargs="+",
        metavar="SENTENCE",
        help="the sentence (words may be unquoted)",
    )
    parser.set_defaults(handler=run)


def run(args):
    from keras_seq2seq.plot import plot_attention  # numpy: not for --help

    sentence = " ".join(args.sentence)
    translator = pipeline.load(args.model)
    source, target, weights = translator.attention(
        sentence, beam=args.beam, length_penalty=args.length_penalty
    )
    translation = translator.translate(
        [sentence], beam=args.beam, length_penalty=args.length_penalty
    )[0]
    decoding = "greedy" if args.beam == 1 else f"beam {args.beam}"
    plot_attention(
        weights,
        source,
        target,
        args.out,
        title=f"{sentence}\n→ {translation} ({decoding})",
    )
    print(translation)
    print(f"wrote the attention heatmap '{args.out}'", file=sys.stderr)
