"""`keras-seq2seq evaluate`: sacreBLEU's BLEU and chrF of a model on a test
set."""

from keras_seq2seq import translate as pipeline
from keras_seq2seq.cli.options import add_model_and_decoding_options, positive_integer


def add_parser(commands):
    parser = commands.add_parser(
        "evaluate",
        help="score a model with sacreBLEU and chrF",
        description="Translate a test set and print sacreBLEU's BLEU (with its "
        "signature) and chrF. Without --pairs: the test split recorded at "
        "training (or --split valid).",
    )
    scored = parser.add_mutually_exclusive_group()
    scored.add_argument(
        "--pairs",
        metavar="FILE",
        help="sentence pairs to score, in the training file's column order "
        "(--reverse applies as at training)",
    )
    scored.add_argument(
        "--split",
        choices=("test", "valid"),
        help="a split recorded at training (default: test)",
    )
    add_model_and_decoding_options(parser)
    parser.add_argument(
        "--max-sentences",
        metavar="N",
        type=positive_integer,
        help="score only the first N pairs",
    )
    parser.add_argument("--json", metavar="PATH", help="write the result as JSON")
    parser.set_defaults(handler=run)


def run(args):
    pipeline.evaluate(
        args.model,
        pairs=args.pairs,
        split=args.split,
        beam=args.beam,
        length_penalty=args.length_penalty,
        max_sentences=args.max_sentences,
        json_path=args.json,
        log=print,
    )
