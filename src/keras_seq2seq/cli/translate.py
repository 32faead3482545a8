"""`keras-seq2seq translate`: sentences from the command line, a file or
stdin, one translation per line, in input order.

A file or stdin is read and translated a window of lines at a time, each
window's translations written (and flushed) before the next is read, so
output appears as it is produced and memory stays bounded on long inputs.
"""

import contextlib
import itertools
import random
import sys

from keras_seq2seq import translate as pipeline
from keras_seq2seq.cli.options import add_model_and_decoding_options, positive_integer

# Lines read and translated together, in `--batch-size` batches sorted by
# length: a wider window sorts better, a narrower one shows output sooner.
WINDOW_BATCHES = 16


def add_parser(commands):
    parser = commands.add_parser(
        "translate",
        help="translate sentences",
        description="Translate the sentences given, or each line of --input "
        "(default stdin); one translation per line, in input order, on "
        "--output (default stdout).",
    )
    add_model_and_decoding_options(parser)
    parser.add_argument("--input", metavar="FILE", help="the sentences, one a line")
    parser.add_argument("--output", metavar="FILE", help="where the translations go")
    parser.add_argument(
        "--batch-size",
        metavar="N",
        type=positive_integer,
        default=64,
        help="sentences decoded together (default %(default)s)",
    )
    parser.add_argument(
        "--scores",
        action="store_true",
        help="write 'score<TAB>translation' lines (the sum of the output "
        "pieces' log probabilities; beam search: its penalised score)",
    )
    parser.add_argument(
        "--n-best",
        metavar="N",
        type=positive_integer,
        help="write the N best beams of each sentence (N <= --beam; with "
        "--sample, N draws) as "
        "'index<TAB>rank<TAB>score<TAB>translation' lines: the input line's "
        "index from 0, the rank from 1 (the best)",
    )
    parser.add_argument(
        "--max-output-length",
        "--max-length",
        dest="max_output_length",
        metavar="N",
        type=positive_integer,
        help="most output pieces (default: 2 x source pieces + 10, at most "
        "256); the outputs cut short by it are counted on stderr",
    )
    sampling = parser.add_argument_group(
        "sampling",
        "Draw each output piece from the model's distribution instead of "
        "taking the most likely (--beam 1); with --n-best N, N independent "
        "draws of each sentence, best first.",
    )
    sampling.add_argument("--sample", action="store_true", help="sample the outputs")
    sampling.add_argument(
        "--temperature",
        metavar="T",
        type=float,
        default=1.0,
        help="divides the logits: below 1 sharper, above 1 flatter (default 1)",
    )
    sampling.add_argument(
        "--top-k", metavar="K", type=positive_integer, help="draw from the K likeliest"
    )
    sampling.add_argument(
        "--top-p",
        metavar="P",
        type=float,
        help="draw from the smallest set of pieces whose probability reaches P",
    )
    sampling.add_argument(
        "--seed",
        metavar="S",
        type=int,
        help="the same seed gives the same draws (default: a random one, "
        "written to stderr)",
    )
    parser.add_argument(
        "sentences", nargs="*", metavar="SENTENCE", help="default: the lines of --input"
    )
    parser.set_defaults(handler=run)


def run(args):
    if args.sentences and args.input:
        raise ValueError("give SENTENCE arguments or --input, not both")
    sampling = _sampling(args)
    translator = pipeline.load(args.model)
    with contextlib.ExitStack() as files:
        source = sys.stdin
        if args.input:
            source = files.enter_context(open(args.input, encoding="utf-8"))
        lines = iter(args.sentences) if args.sentences else _lines(source)
        output = sys.stdout
        if args.output:
            output = files.enter_context(open(args.output, "w", encoding="utf-8"))
        total = cut_short = 0
        window = args.batch_size * WINDOW_BATCHES
        for chunk in iter(lambda: list(itertools.islice(lines, window)), []):
            hypotheses = translator.hypotheses(
                chunk,
                beam=args.beam,
                max_length=args.max_output_length,
                length_penalty=args.length_penalty,
                batch_size=args.batch_size,
                n_best=args.n_best or 1,
                sampling=sampling,
            )
            for index, found in enumerate(hypotheses, start=total):
                output.writelines(_lines_of(index, found, args))
            output.flush()
            total += len(hypotheses)
            cut_short += sum(not found[0].complete for found in hypotheses)
    if cut_short:
        print(
            f"keras-seq2seq: {cut_short:,} of {total:,} outputs reached the output "
            "length limit before their end (--max-output-length)",
            file=sys.stderr,
        )


def _sampling(args):
    """The `Sampling` the flags ask for, or None."""
    options = ("temperature", "top_k", "top_p", "seed")
    given = [name for name in options if getattr(args, name) not in (None, 1.0)]
    if not args.sample:
        if given:
            flags = ", ".join("--" + name.replace("_", "-") for name in given)
            raise ValueError(f"sampling options ({flags}) need --sample")
        return None
    if args.seed is None:
        args.seed = random.randrange(2**31)
        print(f"keras-seq2seq: sampling with --seed {args.seed}", file=sys.stderr)
    return pipeline.Sampling(args.temperature, args.top_k, args.top_p, args.seed)


def _lines_of(index, hypotheses, args):
    """The output lines of one input line."""
    if args.n_best:
        return [
            f"{index}\t{rank}\t{h.score:.4f}\t{h.text}\n"
            for rank, h in enumerate(hypotheses, start=1)
        ]
    score = f"{hypotheses[0].score:.4f}\t" if args.scores else ""
    return [f"{score}{hypotheses[0].text}\n"]


def _lines(file):
    return (line.rstrip("\r\n") for line in file)
