"""`keras-seq2seq export`: a trained translator as a TensorFlow SavedModel."""

import sys

from keras_seq2seq.cli.options import add_model_and_decoding_options, positive_integer


def add_parser(commands):
    parser = commands.add_parser(
        "export",
        help="export a translator as a TensorFlow SavedModel",
        description="Write a SavedModel that translates text with only "
        "tensorflow and tensorflow-text installed: SentencePiece tokenization "
        "and the decode loop (greedy, or beam search with --beam) inside. "
        "Signatures: serving_default (sentences -> translations, scores) and "
        "attention (sentences -> pieces, weights).",
    )
    add_model_and_decoding_options(parser)
    parser.add_argument(
        "--out", metavar="EXPORT_DIR", required=True, help="a new or empty directory"
    )
    parser.add_argument(
        "--max-output-length",
        type=positive_integer,
        metavar="N",
        help="the most output pieces (default: 2 x the padded source pieces "
        "+ 10, at most 256, as translate)",
    )
    parser.set_defaults(handler=run)


def run(args):
    from keras_seq2seq.translate.export import export_translator

    out = export_translator(
        args.model,
        args.out,
        beam=args.beam,
        length_penalty=args.length_penalty,
        max_output_length=args.max_output_length,
    )
    print(f"wrote the SavedModel '{out}'", file=sys.stderr)
