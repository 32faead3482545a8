"""`TrainingConfig`: every option of `train`, with its default, type, valid
range and help text in one place.

The command line derives the flags of `keras-seq2seq train` from it,
`config.json` records it (under `"options"`), and a resumed run compares it
with the recorded one. Building one checks every value; a bad one raises a
`PipelineError` naming the option, what was expected and what was received.

>>> config = TrainingConfig(epochs=5, label_smoothing=0.1)
>>> config.epochs, config.model_options()["decoder_units"]
(5, 512)
>>> TrainingConfig(epochs=0)
Traceback (most recent call last):
...
keras_seq2seq.translate.errors.PipelineError: `epochs` must be an integer > 0. Received: epochs=0
"""

import dataclasses
import numbers
import os

from keras_seq2seq.translate.errors import PipelineError

# Padded tokens per batch (rows x length) unless `batch_size` is given:
# short sentences get more rows.
DEFAULT_MAX_TOKENS = 2048
# The recurrent cells, attention mechanisms and dtype policies `train` takes
# (both dtype policies keep float32 variables, so a run may switch between
# them when it resumes).
RNN_TYPES = ("gru", "lstm")
ATTENTIONS = ("bahdanau", "luong")
DTYPE_POLICIES = ("float32", "mixed_bfloat16")
DISTRIBUTE_KINDS = ("none", "data")
# Options that may not be given together.
EXCLUSIVE = (("batch_size", "max_tokens"),)


class Check:
    """The type and range of an option: `expected` describes it in an
    error message, `parse` reads it from a command line, `valid` tests it."""

    expected = "a value"

    def parse(self, text):
        return text

    def valid(self, value):
        return True

    def normalize(self, value):
        return value


class Integer(Check):
    def __init__(self, minimum):
        self.minimum = minimum
        self.expected = "an integer > 0" if minimum == 1 else f"an integer >= {minimum}"

    def parse(self, text):
        return int(text)

    def valid(self, value):
        return (
            not isinstance(value, bool)
            and isinstance(value, numbers.Integral)
            and value >= self.minimum
        )

    def normalize(self, value):
        return int(value)


class Number(Check):
    """A real number > 0, or in [0, 1) with `fraction=True`."""

    def __init__(self, fraction=False):
        self.fraction = fraction
        self.expected = "a number in [0, 1)" if fraction else "a number > 0"

    def parse(self, text):
        return float(text)

    def valid(self, value):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return False
        return 0 <= value < 1 if self.fraction else value > 0

    def normalize(self, value):
        return float(value)


class SplitSize(Check):
    """A pair count (int >= 0) or a fraction of the corpus (float in [0, 1))."""

    expected = "a pair count (an integer >= 0) or a fraction in [0, 1)"

    def parse(self, text):
        return int(text) if text.strip().isdigit() else float(text)

    def valid(self, value):
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return value >= 0
        return Number(fraction=True).valid(value)


class Choice(Check):
    def __init__(self, choices):
        self.choices = choices
        self.expected = f"one of {choices}"

    def valid(self, value):
        return isinstance(value, str) and value in self.choices


class Flag(Check):
    expected = "True or False"

    def valid(self, value):
        return isinstance(value, bool)


class File(Check):
    expected = "a file path"

    def valid(self, value):
        return isinstance(value, (str, os.PathLike))

    def normalize(self, value):
        return os.fspath(value)


def option(default, help, check, *, flag=None, metavar=None, group=None, run=False):
    """A `TrainingConfig` field. `flag`: its command-line flag (default: the
    name with dashes; for a flag that is True by default, the flag that sets
    it False); `group`: its heading in `--help`; `run`: it may change when a
    run resumes (the others define the data and the model)."""
    metadata = {
        "help": help,
        "check": check,
        "flag": flag,
        "metavar": metavar,
        "group": group,
        "run": run,
    }
    return dataclasses.field(default=default, metadata=metadata)


MODEL = "model"
DATA = "data and optimisation"


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """The options of `train`; see each field's help (or
    `keras-seq2seq train --help`). None where a default is derived:
    `decoder_units` is 2 x `encoder_units`, `max_tokens` is
    `DEFAULT_MAX_TOKENS` unless `batch_size` is given.

    >>> TrainingConfig(encoder_units=64).model_options()["decoder_units"]
    128
    """

    pairs: str = option(
        None,
        "tab-separated sentence pairs, .txt or .gz (default: the bundled "
        "English-French corpus)",
        File(),
        metavar="FILE",
        run=True,
    )
    reverse: bool = option(
        False, "translate from the second column to the first", Flag()
    )
    epochs: int = option(
        20,
        "most epochs, earlier runs included",
        Integer(1),
        metavar="N",
        run=True,
    )
    max_minutes: float = option(
        None,
        "stop training after M minutes (the model is still saved); the "
        "learning rate falls to 2% of its value after --lr-hold of them",
        Number(),
        metavar="M",
        run=True,
    )
    distribute: str = option(
        "none",
        "'data': data-parallel over every local device (keras.distribution "
        "on jax, tf.distribute on tensorflow; see docs/scaling.md)",
        Choice(DISTRIBUTE_KINDS),
        run=True,
    )
    seed: int = option(
        0, "seed of the split, batch order and weights", Integer(0), metavar="S"
    )
    rnn_type: str = option(
        "gru", "recurrent cell", Choice(RNN_TYPES), flag="--rnn", group=MODEL
    )
    encoder_units: int = option(
        256,
        "encoder units per direction",
        Integer(1),
        flag="--units",
        metavar="N",
        group=MODEL,
    )
    decoder_units: int = option(
        None,
        "decoder units (default: 2 x --units)",
        Integer(1),
        metavar="N",
        group=MODEL,
    )
    encoder_layers: int = option(
        2, "encoder layers", Integer(1), flag="--layers", metavar="N", group=MODEL
    )
    embedding_dim: int = option(
        256, "embedding depth", Integer(1), metavar="N", group=MODEL
    )
    attention: str = option(
        "bahdanau", "attention mechanism", Choice(ATTENTIONS), group=MODEL
    )
    attention_units: int = option(
        None,
        "units of the attention's score (default: the decoder's)",
        Integer(1),
        metavar="N",
        group=MODEL,
    )
    attention_layer_size: int = option(
        None,
        "size of the attention vector fed back (default: the decoder's units)",
        Integer(1),
        metavar="N",
        group=MODEL,
    )
    # Within an hour on the full eng-fra corpus the model is short of
    # training, not of regularisation (README, "Translation": the runs with
    # and without dropout).
    dropout: float = option(
        0.0, "dropout rate", Number(fraction=True), metavar="RATE", group=MODEL
    )
    bidirectional: bool = option(
        True,
        "a one-directional encoder",
        Flag(),
        flag="--unidirectional",
        group=MODEL,
    )
    vocab_size: int = option(
        8000, "SentencePiece pieces per language", Integer(1), metavar="N", group=DATA
    )
    batch_size: int = option(
        None, "sentence pairs per batch", Integer(1), metavar="N", group=DATA, run=True
    )
    max_tokens: int = option(
        None,
        f"padded tokens per batch (default: {DEFAULT_MAX_TOKENS} unless "
        "--batch-size is given)",
        Integer(1),
        metavar="N",
        group=DATA,
        run=True,
    )
    max_length: int = option(
        64,
        "leave out training pairs longer than this many pieces",
        Integer(1),
        metavar="N",
        group=DATA,
    )
    max_train_pairs: int = option(
        None,
        "train on a seeded sample of this many pairs",
        Integer(1),
        metavar="N",
        group=DATA,
    )
    test_size: float = option(
        None,
        "test pairs: a count or a fraction (default 2000 or 10%)",
        SplitSize(),
        metavar="N",
        group=DATA,
    )
    valid_size: float = option(
        None,
        "validation pairs: a count or a fraction (default 2000 or 10%)",
        SplitSize(),
        metavar="N",
        group=DATA,
    )
    # With 2,048-token batches, 3e-3 learned fastest of the rates tried
    # (2e-3 to 5e-3, batches of 1,024 to 4,096 tokens).
    learning_rate: float = option(
        3e-3, "Adam learning rate", Number(), metavar="LR", group=DATA, run=True
    )
    learning_rate_hold: float = option(
        0.0,
        "with --max-minutes, the fraction of the minutes at the full learning "
        "rate before it falls linearly to 2% of it; a faster run takes more "
        "steps in it: lower it if the loss rises",
        Number(fraction=True),
        flag="--lr-hold",
        metavar="F",
        group=DATA,
        run=True,
    )
    clipnorm: float = option(
        1.0,
        "Adam's gradient clipping norm",
        Number(),
        metavar="C",
        group=DATA,
        run=True,
    )
    label_smoothing: float = option(
        0.0,
        "probability mass of each target token spread over the vocabulary in "
        "the loss (the logged losses then include it)",
        Number(fraction=True),
        metavar="R",
        group=DATA,
        run=True,
    )
    dtype_policy: str = option(
        "float32",
        "Keras dtype policy of training: mixed_bfloat16 computes in bfloat16, "
        "faster on torch with AVX512-BF16 or AMX; the saved model computes in "
        "float32 either way",
        Choice(DTYPE_POLICIES),
        group=DATA,
        run=True,
    )
    patience: int = option(
        3,
        "epochs without a lower validation loss before stopping",
        Integer(1),
        metavar="N",
        group=DATA,
        run=True,
    )
    bleu_sentences: int = option(
        500,
        "validation sentences for the BLEU of each epoch, 0 for none",
        Integer(0),
        metavar="N",
        group=DATA,
        run=True,
    )

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is None and field.default is None:
                continue
            check = field.metadata["check"]
            if not check.valid(value):
                raise PipelineError(
                    f"`{field.name}` must be {check.expected}. "
                    f"Received: {field.name}={value!r}"
                )
            object.__setattr__(self, field.name, check.normalize(value))
        for names in EXCLUSIVE:
            given = [name for name in names if getattr(self, name) is not None]
            if len(given) > 1:
                received = ", ".join(
                    f"{name}={getattr(self, name)!r}" for name in given
                )
                raise PipelineError(
                    f"Give {' or '.join(f'`{n}`' for n in names)}, not both. "
                    f"Received: {received}"
                )

    @classmethod
    def from_options(cls, config=None, **options):
        """`config` (a `TrainingConfig` or None) with `options` replacing its
        values; an unknown option is a `PipelineError` naming the known ones."""
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise PipelineError(
                f"Unknown training option(s) {', '.join(unknown)}; known: "
                f"{', '.join(sorted(known))}"
            )
        if config is None:
            return cls(**options)
        if not isinstance(config, cls):
            raise PipelineError(
                f"`config` must be a {cls.__name__}. Received: config={config!r}"
            )
        return dataclasses.replace(config, **options)

    def to_dict(self):
        """The options as a JSON-ready dict (as `config.json` holds them)."""
        return dataclasses.asdict(self)

    def fixed(self):
        """The options a resumed run must share with the first: those that
        define the data and the model."""
        return {
            field.name: getattr(self, field.name)
            for field in dataclasses.fields(self)
            if not field.metadata["run"]
        }

    def model_options(self):
        """The `Translator` arguments (vocabulary sizes aside)."""
        names = (
            "embedding_dim",
            "rnn_type",
            "bidirectional",
            "encoder_layers",
            "encoder_units",
            "decoder_units",
            "attention",
            "attention_units",
            "attention_layer_size",
            "dropout",
        )
        model = {name: getattr(self, name) for name in names}
        model["decoder_units"] = self.decoder_units or 2 * self.encoder_units
        return model

    def batching(self):
        """`BucketedBatches`' batch size argument: `batch_size` or `max_tokens`."""
        if self.batch_size is not None:
            return {"batch_size": self.batch_size}
        return {"max_tokens": self.max_tokens or DEFAULT_MAX_TOKENS}


def options():
    """The fields of `TrainingConfig`, in order (for the command line)."""
    return dataclasses.fields(TrainingConfig)
