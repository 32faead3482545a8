"""The `keras-seq2seq` command line: train, translate, evaluate, attention,
demo and info, over the Python API of `keras_seq2seq.translate`.

Results go to stdout (translations, scores); progress and messages go to
stderr. Bad input (a missing or corrupt model directory, an empty corpus, a
wrong option) ends with one `keras-seq2seq: error: ...` line on stderr and
exit status 1 (2 for a malformed command line), without a traceback.

The Keras backend is JAX unless `KERAS_BACKEND` says otherwise; on JAX,
compiled programs are cached on disk (see `_backend_environment`).
"""

import argparse
import importlib.util
import os
import sys

DEFAULT_BACKEND = "jax"


def _backend_environment():
    """Sets the defaults the command line runs with, where the user has set
    none: `KERAS_BACKEND=jax` (when JAX is installed), TensorFlow's C++ log
    level 2 (warnings and errors only) and, on JAX, a persistent compilation
    cache in `~/.cache/keras-seq2seq/jax` (`$XDG_CACHE_HOME` if set), so a
    second `translate` or a resumed `train` does not compile the same
    programs again. These take effect only if set before Keras (or JAX) is
    imported. Returns True if the backend was chosen here."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    chosen = False
    if "KERAS_BACKEND" not in os.environ and importlib.util.find_spec(DEFAULT_BACKEND):
        os.environ["KERAS_BACKEND"] = DEFAULT_BACKEND
        chosen = True
    if os.environ.get("KERAS_BACKEND") == "jax":
        cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(
            os.path.expanduser("~"), ".cache"
        )
        os.environ.setdefault(
            "JAX_COMPILATION_CACHE_DIR", os.path.join(cache, "keras-seq2seq", "jax")
        )
        os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    return chosen


def _restart_with_backend(chosen):
    """Re-runs this command in a new process if Keras was imported before
    the default backend could be set (`import keras_seq2seq` imports Keras),
    so the default applies."""
    keras = sys.modules.get("keras")
    if not chosen or keras is None:
        return
    if keras.backend.backend() == os.environ["KERAS_BACKEND"]:
        return
    command = [sys.executable, "-m", "keras_seq2seq.cli", *sys.argv[1:]]
    if os.name == "posix":
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(sys.executable, command)
    import subprocess

    sys.exit(subprocess.call(command))


# ---------------------------------------------------------------- commands


def _info(args):
    import keras

    from keras_seq2seq import __version__

    print(f"keras-seq2seq {__version__}")
    print(f"keras {keras.__version__}, backend {keras.backend.backend()}")


def _train(args):
    from keras_seq2seq.translate import train

    model_options = {
        "rnn_type": args.rnn,
        "encoder_layers": args.layers,
        "encoder_units": args.units,
        "decoder_units": args.decoder_units or 2 * args.units,
        "embedding_dim": args.embedding_dim,
        "attention": args.attention,
        "dropout": args.dropout,
        "bidirectional": not args.unidirectional,
    }
    train(
        args.pairs,
        args.out,
        reverse=args.reverse,
        epochs=args.epochs,
        max_minutes=args.max_minutes,
        seed=args.seed,
        vocab_size=args.vocab_size,
        batch_size=args.batch_size,
        max_tokens=args.max_tokens,
        max_length=args.max_length,
        test_size=args.test_size,
        valid_size=args.valid_size,
        max_train_pairs=args.max_train_pairs,
        model_options=model_options,
        learning_rate=args.learning_rate,
        learning_rate_hold=args.lr_hold,
        label_smoothing=args.label_smoothing,
        dtype_policy=args.dtype_policy,
        patience=args.patience,
        bleu_sentences=args.bleu_sentences,
        resume=not args.restart,
        distribute_kind=args.distribute,
    )


def _translate(args):
    from keras_seq2seq.translate import load

    sentences = args.sentences
    if not sentences:
        sentences = [line.rstrip("\r\n") for line in sys.stdin]
    translator = load(args.model)
    outputs = translator.translate(
        sentences,
        beam=args.beam,
        max_length=args.max_length,
        length_penalty=args.length_penalty,
    )
    for output in outputs:
        print(output)


def _evaluate(args):
    from keras_seq2seq.translate import evaluate

    evaluate(
        args.model,
        pairs=args.pairs,
        split=args.split,
        beam=args.beam,
        length_penalty=args.length_penalty,
        max_sentences=args.max_sentences,
        json_path=args.json,
        log=print,
    )


def _attention(args):
    from keras_seq2seq.plot import plot_attention
    from keras_seq2seq.translate import load

    sentence = " ".join(args.sentence)
    translator = load(args.model)
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


def _demo(args):
    from keras_seq2seq.translate.demo import demo

    demo(args.out, minutes=args.minutes)


# ---------------------------------------------------------------- parsing


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _non_negative_int(text):
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def _non_negative_float(text):
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def _rate(text):
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a rate in [0, 1), got {text!r}")
    return value


def _split_size(text):
    """A count ("2000") or a fraction ("0.05")."""
    try:
        return int(text) if text.strip().isdigit() else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a pair count or a fraction, got {text!r}"
        ) from None


def build_parser():
    from keras_seq2seq.translate import training

    defaults = training.DEFAULT_MODEL
    parser = argparse.ArgumentParser(
        prog="keras-seq2seq",
        description="Sequence-to-sequence models with attention for Keras 3: "
        "train, use and inspect a neural machine translator.",
        epilog="The Keras backend is JAX unless KERAS_BACKEND is set "
        "(tensorflow, jax or torch). On JAX, compiled programs are cached in "
        "~/.cache/keras-seq2seq/jax unless JAX_COMPILATION_CACHE_DIR is set.",
    )
    parser.add_argument("--version", action="store_true", help="print the version")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    info = commands.add_parser("info", help="print versions and the Keras backend")
    info.set_defaults(handler=_info)

    train = commands.add_parser(
        "train",
        help="train a translation model",
        description="Train a translation model on a file of sentence pairs "
        "(Tatoeba/manythings format). Rerunning the same command resumes from "
        "the last checkpoint in --out.",
    )
    train.add_argument(
        "--pairs",
        metavar="FILE",
        help="tab-separated sentence pairs, .txt or .gz (default: the bundled "
        "English-French corpus)",
    )
    train.add_argument("--out", metavar="DIR", required=True, help="model directory")
    train.add_argument(
        "--reverse",
        action="store_true",
        help="translate from the second column to the first",
    )
    train.add_argument(
        "--epochs",
        metavar="N",
        type=_positive_int,
        default=training.DEFAULT_EPOCHS,
        help="most epochs, earlier runs included (default %(default)s)",
    )
    train.add_argument(
        "--max-minutes",
        type=_positive_float,
        metavar="M",
        help="stop training after M minutes (the model is still saved); the "
        "learning rate falls to 2%% of its value after --lr-hold of them",
    )
    train.add_argument(
        "--distribute",
        choices=("none", "data"),
        default="none",
        help="'data': data-parallel over every local device (keras.distribution "
        "on jax, tf.distribute on tensorflow; see docs/scaling.md)",
    )
    train.add_argument(
        "--seed",
        metavar="S",
        type=_non_negative_int,
        default=0,
        help="seed of the split, batch order and weights (default 0)",
    )
    train.add_argument(
        "--restart",
        action="store_true",
        help="start over instead of resuming from --out",
    )
    model = train.add_argument_group("model")
    model.add_argument(
        "--rnn",
        choices=("gru", "lstm"),
        default=defaults["rnn_type"],
        help="recurrent cell (default %(default)s)",
    )
    model.add_argument(
        "--units",
        metavar="N",
        type=_positive_int,
        default=defaults["encoder_units"],
        help="encoder units per direction (default %(default)s)",
    )
    model.add_argument(
        "--decoder-units",
        metavar="N",
        type=_positive_int,
        help="decoder units (default: 2 x --units)",
    )
    model.add_argument(
        "--layers",
        metavar="N",
        type=_positive_int,
        default=defaults["encoder_layers"],
        help="encoder layers (default %(default)s)",
    )
    model.add_argument(
        "--embedding-dim",
        metavar="N",
        type=_positive_int,
        default=defaults["embedding_dim"],
        help="embedding depth (default %(default)s)",
    )
    model.add_argument(
        "--attention",
        choices=("bahdanau", "luong"),
        default=defaults["attention"],
        help="attention mechanism (default %(default)s)",
    )
    model.add_argument(
        "--dropout",
        metavar="RATE",
        type=_rate,
        default=defaults["dropout"],
        help="dropout rate (default %(default)s)",
    )
    model.add_argument(
        "--unidirectional",
        action="store_true",
        help="a one-directional encoder",
    )
    data = train.add_argument_group("data and optimisation")
    data.add_argument(
        "--vocab-size",
        metavar="N",
        type=_positive_int,
        default=training.DEFAULT_VOCAB_SIZE,
        help="SentencePiece pieces per language (default %(default)s)",
    )
    batching = data.add_mutually_exclusive_group()
    batching.add_argument(
        "--batch-size", metavar="N", type=_positive_int, help="sentence pairs per batch"
    )
    batching.add_argument(
        "--max-tokens",
        metavar="N",
        type=_positive_int,
        help=f"padded tokens per batch (the default: {training.DEFAULT_MAX_TOKENS})",
    )
    data.add_argument(
        "--max-length",
        metavar="N",
        type=_positive_int,
        default=training.DEFAULT_MAX_LENGTH,
        help="leave out training pairs longer than this many pieces "
        "(default %(default)s)",
    )
    data.add_argument(
        "--max-train-pairs",
        metavar="N",
        type=_positive_int,
        help="train on a sample of this many pairs",
    )
    data.add_argument(
        "--test-size",
        metavar="N",
        type=_split_size,
        help="test pairs: a count or a fraction (default 2000 or 10%%)",
    )
    data.add_argument(
        "--valid-size",
        metavar="N",
        type=_split_size,
        help="validation pairs: a count or a fraction (default 2000 or 10%%)",
    )
    data.add_argument(
        "--learning-rate",
        metavar="LR",
        type=_positive_float,
        default=training.DEFAULT_LEARNING_RATE,
        help="Adam learning rate (default %(default)s)",
    )
    data.add_argument(
        "--lr-hold",
        metavar="F",
        type=_rate,
        default=training.DEFAULT_LEARNING_RATE_HOLD,
        help="with --max-minutes, the fraction of the minutes at the full "
        "learning rate before it falls linearly to 2%% of it (default %(default)s)",
    )
    data.add_argument(
        "--label-smoothing",
        metavar="R",
        type=_rate,
        default=0.0,
        help="probability mass of each target token spread over the vocabulary "
        "in the loss (default %(default)s)",
    )
    data.add_argument(
        "--dtype-policy",
        choices=training.DTYPE_POLICIES,
        default="float32",
        help="Keras dtype policy of training: mixed_bfloat16 computes in "
        "bfloat16, faster on torch with AVX512-BF16 or AMX (default %(default)s)",
    )
    data.add_argument(
        "--patience",
        metavar="N",
        type=_positive_int,
        default=training.DEFAULT_PATIENCE,
        help="epochs without a lower validation loss before stopping "
        "(default %(default)s)",
    )
    data.add_argument(
        "--bleu-sentences",
        metavar="N",
        type=_non_negative_int,
        default=training.DEFAULT_BLEU_SENTENCES,
        help="validation sentences for the BLEU of each epoch, 0 for none "
        "(default %(default)s)",
    )
    train.set_defaults(handler=_train)

    translate = commands.add_parser(
        "translate",
        help="translate sentences",
        description="Translate the sentences given, or each line of stdin; "
        "one translation per line on stdout.",
    )
    translate.add_argument(
        "--model", metavar="DIR", required=True, help="a model directory from train"
    )
    _decoding_options(translate)
    translate.add_argument(
        "--max-length",
        metavar="N",
        type=_positive_int,
        help="most output pieces (default: 2 x source pieces + 10)",
    )
    translate.add_argument(
        "sentences", nargs="*", metavar="SENTENCE", help="default: the lines of stdin"
    )
    translate.set_defaults(handler=_translate)

    evaluate = commands.add_parser(
        "evaluate",
        help="score a model with sacreBLEU and chrF",
        description="Translate a test set and print sacreBLEU's BLEU (with its "
        "signature) and chrF. Without --pairs: the test split recorded at "
        "training (or --split valid).",
    )
    evaluate.add_argument(
        "--model", metavar="DIR", required=True, help="a model directory from train"
    )
    scored = evaluate.add_mutually_exclusive_group()
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
    _decoding_options(evaluate)
    evaluate.add_argument(
        "--max-sentences",
        metavar="N",
        type=_positive_int,
        help="score only the first N pairs",
    )
    evaluate.add_argument("--json", metavar="PATH", help="write the result as JSON")
    evaluate.set_defaults(handler=_evaluate)

    attention = commands.add_parser(
        "attention",
        help="plot the attention of one translation",
        description="Translate SENTENCE and write a heatmap of the attention "
        "weights, source and output pieces on the axes (needs matplotlib).",
    )
    attention.add_argument(
        "--model", metavar="DIR", required=True, help="a model directory from train"
    )
    attention.add_argument("--out", metavar="FILE.png", required=True)
    _decoding_options(attention)
    attention.add_argument(
        "sentence",
        nargs="+",
        metavar="SENTENCE",
        help="the sentence (words may be unquoted)",
    )
    attention.set_defaults(handler=_attention)

    demo = commands.add_parser(
        "demo",
        help="train a small model on the bundled corpus and show it",
        description="Train a small English-French model on the bundled corpus "
        "(about 10 minutes on 2 CPU cores), then print its test BLEU and a few "
        "translations, and plot one attention heatmap.",
    )
    demo.add_argument(
        "--out",
        metavar="DIR",
        default="keras-seq2seq-demo",
        help="where the model and heatmap go (default %(default)s)",
    )
    demo.add_argument(
        "--minutes",
        type=_positive_float,
        default=10.0,
        help="the time the whole demo should take (default %(default)s)",
    )
    demo.set_defaults(handler=_demo)
    return parser


def _decoding_options(parser):
    parser.add_argument(
        "--beam",
        type=_positive_int,
        default=1,
        metavar="K",
        help="beam width (default 1: greedy)",
    )
    parser.add_argument(
        "--length-penalty",
        metavar="ALPHA",
        type=_non_negative_float,
        default=0.0,
        help="GNMT length penalty alpha for beam search (default 0)",
    )


def main(argv=None):
    """Runs the command line; returns the exit status.

    Without `argv` (the console script, `python -m keras_seq2seq.cli`), the
    command line's environment defaults are set first (see
    `_backend_environment`) and glibc's malloc keeps freed memory (see
    `keep_freed_memory`); `main(argv)` leaves the process alone.
    """
    if argv is None:
        _restart_with_backend(_backend_environment())
        from keras_seq2seq.backend.glibc_malloc import keep_freed_memory

        keep_freed_memory()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from keras_seq2seq import __version__

        print(__version__)
        return 0
    if args.command is None:
        parser.print_help()
        return 0
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


if __name__ == "__main__":
    sys.exit(main())
