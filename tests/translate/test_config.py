"""`TrainingConfig`: one check per option with errors naming it, the
options' serialisation, and the `train` command's flags derived from it."""

import dataclasses

import pytest

from keras_seq2seq.cli import build_parser
from keras_seq2seq.translate import PipelineError, TrainingConfig
from keras_seq2seq.translate.config import ATTENTIONS, RNN_TYPES


@pytest.mark.parametrize(
    "option, value, expected",
    [
        ("epochs", 0, "an integer > 0"),
        ("epochs", 2.5, "an integer > 0"),
        ("epochs", True, "an integer > 0"),
        ("seed", -1, "an integer >= 0"),
        ("learning_rate", 0.0, "a number > 0"),
        ("max_minutes", "10", "a number > 0"),
        ("dropout", 1.0, r"a number in \[0, 1\)"),
        ("test_size", -3, "a pair count"),
        ("rnn_type", "transformer", r"one of \('gru', 'lstm'\)"),
        ("bidirectional", "yes", "True or False"),
        ("pairs", 3, "a file path"),
    ],
)
def test_a_bad_value_names_the_option_and_both_values(option, value, expected):
    with pytest.raises(PipelineError) as error:
        TrainingConfig(**{option: value})
    message = str(error.value)
    assert message.startswith(f"`{option}` must be ")
    assert expected.replace("\\", "") in message.replace("\\", "")
    assert message.endswith(f"Received: {option}={value!r}")


def test_options_that_exclude_each_other():
    with pytest.raises(PipelineError, match="Give `batch_size` or `max_tokens`"):
        TrainingConfig(batch_size=8, max_tokens=100)
    assert TrainingConfig(batch_size=8).batching() == {"batch_size": 8}
    assert TrainingConfig().batching() == {"max_tokens": 2048}


def test_from_options_replaces_and_rejects_unknown_names():
    base = TrainingConfig(epochs=3)
    assert TrainingConfig.from_options(base, seed=4) == TrainingConfig(epochs=3, seed=4)
    assert TrainingConfig.from_options(None) == TrainingConfig()
    with pytest.raises(PipelineError, match="Unknown training option.*epoch_count"):
        TrainingConfig.from_options(base, epoch_count=3)
    with pytest.raises(PipelineError, match="`config` must be a TrainingConfig"):
        TrainingConfig.from_options({"epochs": 3})
    with pytest.raises(dataclasses.FrozenInstanceError):
        base.epochs = 4


def test_serialisation_and_what_a_resumed_run_compares():
    config = TrainingConfig(pairs="a.txt", encoder_units=8, test_size=0.05)
    assert TrainingConfig(**config.to_dict()) == config
    fixed = config.fixed()
    assert fixed["encoder_units"] == 8 and fixed["test_size"] == 0.05
    # Run options may change on resuming; the corpus is compared by content.
    for name in ("epochs", "learning_rate", "dtype_policy", "pairs", "batch_size"):
        assert name not in fixed
    assert config.model_options()["decoder_units"] == 16


def test_the_choices_are_the_models():
    from keras_seq2seq.layers.attention_cell import CELL_TYPES, MECHANISMS

    assert RNN_TYPES == CELL_TYPES and sorted(ATTENTIONS) == sorted(MECHANISMS)


def test_the_train_flags_are_the_fields():
    parser = build_parser()
    args = parser.parse_args(["train", "--out", "m"])
    config = TrainingConfig(
        **{f.name: getattr(args, f.name) for f in dataclasses.fields(TrainingConfig)}
    )
    assert config == TrainingConfig()
    args = parser.parse_args(
        ["train", "--out", "m", "--units", "8", "--lr-hold", "0.5"]
        + ["--unidirectional", "--test-size", "0.1", "--valid-size", "300"]
    )
    assert (args.encoder_units, args.learning_rate_hold) == (8, 0.5)
    assert args.bidirectional is False
    assert (args.test_size, args.valid_size) == (0.1, 300)
