"""keras_seq2seq.seq2seq.loss against tfa 0.23's recorded outputs, plus Keras use."""

import json
import re
from pathlib import Path

import keras
import numpy as np
import pytest
from keras import ops

from keras_seq2seq.seq2seq.loss import SequenceLoss, sequence_loss

FIXTURES = Path(__file__).parent / "fixtures" / "tfa"
CASES = json.loads((FIXTURES / "manifest.json").read_text())["cases"]
TOL = {"rtol": 1e-5, "atol": 1e-5}
FLAG_NAMES = (
    "average_across_timesteps",
    "average_across_batch",
    "sum_over_timesteps",
    "sum_over_batch",
)


def load(case):
    return np.load(FIXTURES / CASES[case]["file"])


def numpy(x):
    return ops.convert_to_numpy(x)


def dtype_of(x):
    return keras.backend.standardize_dtype(x.dtype)


FLAGS_DATA = load("loss_sequence_loss_flags")
LOGITS = FLAGS_DATA["inputs.logits"]
TARGETS = FLAGS_DATA["inputs.targets"]
WEIGHTS = FLAGS_DATA["inputs.weights"]  # row 2 is all zeros
COMBINATIONS = CASES["loss_sequence_loss_flags"]["combinations"]
VALID = [c for c in COMBINATIONS if "output" in c]
CONFLICTING = [c for c in COMBINATIONS if "raises" in c]


def combo_id(combination):
    return "".join(str(int(combination["flags"][n])) for n in FLAG_NAMES)


def conflicting_pair(combination):
    """The two flag names tfa's message reports, e.g. ('a', 'b') from 'a and b cannot ...'."""
    match = re.match(r"(\w+) and (\w+) cannot", combination["raises"]["message"])
    return match.groups()


def reference_losses(logits, targets, weights):
    """Unreduced weighted cross-entropy (batch, time) in float64."""
    logits = np.asarray(logits, np.float64)
    shifted = logits - logits.max(-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    picked = np.take_along_axis(log_probs, np.asarray(targets)[..., None], -1)[..., 0]
    return -picked * np.asarray(weights, np.float64)


# ------------------------------------------------------------ tfa fixtures


def test_fixture_covers_all_sixteen_combinations():
    assert len(COMBINATIONS) == 16
    assert len(VALID) == 7 and len(CONFLICTING) == 9


@pytest.mark.parametrize("combination", VALID, ids=combo_id)
def test_function_matches_tfa(combination):
    out = sequence_loss(LOGITS, TARGETS, WEIGHTS, **combination["flags"])
    expected = FLAGS_DATA[combination["output"]]
    assert tuple(out.shape) == expected.shape
    assert dtype_of(out) == "float32"
    np.testing.assert_allclose(numpy(out), expected, **TOL)


@pytest.mark.parametrize("combination", VALID, ids=combo_id)
def test_class_with_same_flags_matches_tfa(combination):
    loss_fn = SequenceLoss(**combination["flags"])
    out = loss_fn(TARGETS, LOGITS, WEIGHTS)
    np.testing.assert_allclose(numpy(out), FLAGS_DATA[combination["output"]], **TOL)


@pytest.mark.parametrize("combination", CONFLICTING, ids=combo_id)
def test_conflicting_flags_raise_like_tfa(combination):
    first, second = conflicting_pair(combination)
    pattern = rf"`{first}` and `{second}` cannot both be True"
    with pytest.raises(ValueError, match=pattern):
        sequence_loss(LOGITS, TARGETS, WEIGHTS, **combination["flags"])
    # The class reports the same conflict, already when it is built.
    with pytest.raises(ValueError, match=pattern):
        SequenceLoss(**combination["flags"])


def test_class_defaults_match_tfa():
    data = load("loss_sequence_loss_class_defaults")
    loss_fn = SequenceLoss()
    for name, value in CASES["loss_sequence_loss_class_defaults"][
        "constructor"
    ].items():
        assert getattr(loss_fn, name) is value
    out = loss_fn(
        y_true=data["inputs.y_true"],
        y_pred=data["inputs.y_pred"],
        sample_weight=data["inputs.sample_weight"],
    )
    assert tuple(out.shape) == ()
    np.testing.assert_allclose(numpy(out), data["outputs.loss"], **TOL)


def test_function_and_class_defaults_differ():
    by_function = numpy(sequence_loss(LOGITS, TARGETS, WEIGHTS))
    by_class = numpy(SequenceLoss()(TARGETS, LOGITS, WEIGHTS))
    np.testing.assert_allclose(by_function, FLAGS_DATA["outputs.loss_1100"], **TOL)
    np.testing.assert_allclose(by_class, FLAGS_DATA["outputs.loss_0011"], **TOL)
    assert not np.isclose(by_function, by_class)


def test_one_hot_targets_match_tfa():
    data = load("loss_sequence_loss_one_hot_targets")
    out = sequence_loss(
        data["inputs.logits"], data["inputs.targets"], data["inputs.weights"]
    )
    np.testing.assert_allclose(numpy(out), data["outputs.loss"], **TOL)


def test_numpy_reference_agrees_with_fixture():
    losses = reference_losses(LOGITS, TARGETS, WEIGHTS)
    np.testing.assert_allclose(losses, FLAGS_DATA["outputs.loss_0000"], **TOL)


# ------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("logits_shape", "targets_shape", "weights_shape", "label", "rank"),
    [
        ((3, 4), (3, 4), (3, 4), "logits", "3"),
        ((3, 4, 5, 1), (3, 4), (3, 4), "logits", "3"),
        ((3, 4, 5), (12,), (3, 4), "targets", "2"),
        ((3, 4, 5), (3, 4, 5, 1), (3, 4), "targets", "2"),
        ((3, 4, 5), (3, 4), (12,), "weights", "2"),
        ((3, 4, 5), (3, 4), (3, 4, 1), "weights", "2"),
    ],
)
def test_bad_ranks_raise(logits_shape, targets_shape, weights_shape, label, rank):
    logits = np.zeros(logits_shape, "float32")
    targets = np.zeros(targets_shape, "int32")
    weights = np.ones(weights_shape, "float32")
    with pytest.raises(ValueError) as info:
        sequence_loss(logits, targets, weights)
    message = str(info.value)
    assert f"`{label}`" in message
    assert f"rank {rank}" in message
    bad_shape = {"logits": logits_shape, "targets": targets_shape}
    assert str(bad_shape.get(label, weights_shape)) in message


def test_class_bad_rank_raises():
    with pytest.raises(ValueError, match="`logits` must have rank 3"):
        SequenceLoss()(TARGETS, LOGITS[..., 0], WEIGHTS)


@pytest.mark.parametrize("label", ["targets", "weights"])
def test_mismatched_sizes_raise(label):
    arrays = {"targets": TARGETS, "weights": WEIGHTS}
    arrays[label] = arrays[label][:, :3]
    with pytest.raises(ValueError, match=rf"`{label}` must match .*\(3, 3\)"):
        sequence_loss(LOGITS, arrays["targets"], arrays["weights"])


def test_bad_argument_types_raise():
    with pytest.raises(TypeError, match="sum_over_batch"):
        SequenceLoss(sum_over_batch="yes")
    with pytest.raises(TypeError, match="softmax_loss_function"):
        SequenceLoss(softmax_loss_function="sparse_categorical_crossentropy")
    with pytest.raises(TypeError, match="softmax_loss_function"):
        sequence_loss(LOGITS, TARGETS, WEIGHTS, softmax_loss_function=3)


# ------------------------------------------------------------ behaviour


def test_custom_softmax_loss_function_is_called_with_flat_keywords():
    seen = {}

    def squared_error(*, labels, logits):  # keyword-only, as tfa requires
        seen["labels"], seen["logits"] = tuple(labels.shape), tuple(logits.shape)
        seen["dtype"] = dtype_of(logits)
        one_hot = ops.one_hot(ops.cast(labels, "int32"), ops.shape(logits)[-1])
        return ops.sum(ops.square(logits - one_hot), axis=-1)

    out = sequence_loss(
        LOGITS,
        TARGETS,
        WEIGHTS,
        average_across_timesteps=False,
        average_across_batch=False,
        softmax_loss_function=squared_error,
    )
    assert seen == {"labels": (12,), "logits": (12, 5), "dtype": "float32"}
    one_hot = np.eye(5)[TARGETS]
    expected = ((LOGITS - one_hot) ** 2).sum(-1) * WEIGHTS
    np.testing.assert_allclose(numpy(out), expected, **TOL)

    # Through the class, with its reduction: sum / count_nonzero(weights).
    by_class = SequenceLoss(softmax_loss_function=squared_error)(
        TARGETS, LOGITS, WEIGHTS
    )
    np.testing.assert_allclose(
        numpy(by_class), expected.sum() / np.count_nonzero(WEIGHTS), **TOL
    )


def test_custom_crossentropy_function_equals_default():
    def crossentropy(labels, logits):
        return ops.sparse_categorical_crossentropy(labels, logits, from_logits=True)

    custom = sequence_loss(LOGITS, TARGETS, WEIGHTS, softmax_loss_function=crossentropy)
    np.testing.assert_allclose(numpy(custom), FLAGS_DATA["outputs.loss_1100"], **TOL)


@pytest.mark.parametrize("combination", VALID, ids=combo_id)
def test_all_zero_weights_give_zeros_not_nan(combination):
    out = numpy(
        sequence_loss(LOGITS, TARGETS, np.zeros_like(WEIGHTS), **combination["flags"])
    )
    assert np.all(out == 0.0)


def test_zero_weight_row_is_zero_in_per_row_losses():
    out = numpy(sequence_loss(LOGITS, TARGETS, WEIGHTS, average_across_batch=False))
    assert np.all(np.isfinite(out)) and out[2] == 0.0
    out = numpy(
        sequence_loss(
            LOGITS,
            TARGETS,
            WEIGHTS,
            average_across_timesteps=False,
            average_across_batch=False,
            sum_over_timesteps=True,
        )
    )
    assert np.all(np.isfinite(out)) and out[2] == 0.0


def test_weights_none_means_ones():
    ones = np.ones_like(WEIGHTS)
    expected = numpy(sequence_loss(LOGITS, TARGETS, ones))
    np.testing.assert_allclose(numpy(sequence_loss(LOGITS, TARGETS, None)), expected)
    by_class = numpy(SequenceLoss()(TARGETS, LOGITS))
    np.testing.assert_allclose(
        by_class, reference_losses(LOGITS, TARGETS, ones).mean(), **TOL
    )


def test_per_sequence_sample_weight_is_broadcast_over_time():
    per_sequence = np.array([1.0, 2.0, 0.0], "float32")
    out = SequenceLoss()(TARGETS, LOGITS, per_sequence)
    full = np.broadcast_to(per_sequence[:, None], WEIGHTS.shape)
    expected = reference_losses(LOGITS, TARGETS, full).sum() / np.count_nonzero(full)
    np.testing.assert_allclose(numpy(out), expected, **TOL)


def test_float_targets_are_cast_to_indices():
    out = sequence_loss(LOGITS, TARGETS.astype("float32"), WEIGHTS)
    np.testing.assert_allclose(numpy(out), FLAGS_DATA["outputs.loss_1100"], **TOL)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_low_precision_logits_computed_in_float32(dtype):
    # Logits of 100 overflow exp() in float16; a float32 softmax handles them.
    logits = ops.cast(ops.convert_to_tensor(LOGITS * 40.0), dtype)
    as_float32 = numpy(ops.cast(logits, "float32"))
    out = sequence_loss(logits, TARGETS, WEIGHTS, average_across_batch=False)
    assert dtype_of(out) == "float32"
    weighted = reference_losses(as_float32, TARGETS, WEIGHTS)
    row_weights = WEIGHTS.sum(1)
    expected = np.divide(
        weighted.sum(1), row_weights, out=np.zeros(3), where=row_weights != 0
    )
    np.testing.assert_allclose(numpy(out), expected, rtol=1e-5, atol=1e-4)


# ------------------------------------------------------------ Keras integration


def tiny_model(num_classes=5):
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [keras.Input((4, 3)), keras.layers.Dense(num_classes, name="logits")]
    )


def test_compile_and_fit_one_step():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 4, 3)).astype("float32")
    model = tiny_model()
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=SequenceLoss())
    before = numpy(model(x))
    start = [w.copy() for w in model.get_weights()]
    history = model.fit(
        x, TARGETS, sample_weight=WEIGHTS, batch_size=3, epochs=1, verbose=0
    )
    expected = reference_losses(before, TARGETS, WEIGHTS).sum() / np.count_nonzero(
        WEIGHTS
    )
    np.testing.assert_allclose(history.history["loss"][0], expected, rtol=1e-5)
    after = model.get_weights()
    assert all(np.all(np.isfinite(w)) for w in after)
    assert any(not np.allclose(a, b) for a, b in zip(after, start))

    # No sample weight means all ones; evaluate agrees with a direct call.
    evaluated = model.evaluate(x, TARGETS, batch_size=3, verbose=0)
    direct = numpy(SequenceLoss()(TARGETS, model(x)))
    np.testing.assert_allclose(evaluated, direct, rtol=1e-5)


def test_fit_with_all_zero_weights_keeps_weights_unchanged():
    x = np.ones((3, 4, 3), "float32")
    model = tiny_model()
    model.compile(
        optimizer=keras.optimizers.SGD(0.1),
        loss=SequenceLoss(
            average_across_timesteps=True,
            average_across_batch=True,
            sum_over_timesteps=False,
            sum_over_batch=False,
        ),
    )
    start = [w.copy() for w in model.get_weights()]
    history = model.fit(
        x, TARGETS, sample_weight=np.zeros_like(WEIGHTS), batch_size=3, verbose=0
    )
    assert history.history["loss"][0] == 0.0
    for a, b in zip(model.get_weights(), start):
        np.testing.assert_array_equal(a, b)


def test_keras_mask_of_predictions_zeroes_padded_steps():
    keras.utils.set_random_seed(0)
    tokens = np.array([[3, 1, 2, 0], [2, 0, 0, 0], [1, 2, 3, 4]], "int32")
    model = keras.Sequential(
        [
            keras.Input((4,), dtype="int32"),
            keras.layers.Embedding(6, 3, mask_zero=True),
            keras.layers.Dense(5),
        ]
    )
    model.compile(optimizer="sgd", loss=SequenceLoss())
    mask = (tokens != 0).astype("float32")
    logits = numpy(model(tokens))
    expected = reference_losses(logits, TARGETS, mask).sum() / mask.sum()
    np.testing.assert_allclose(
        model.evaluate(tokens, TARGETS, verbose=0), expected, rtol=1e-5
    )
    # Called directly on masked logits, as Keras 3's own losses do.
    direct = SequenceLoss()(TARGETS, model(tokens))
    np.testing.assert_allclose(numpy(direct), expected, rtol=1e-5)


@keras.saving.register_keras_serializable(package="keras_seq2seq_tests")
def doubled_crossentropy(labels, logits):
    return 2.0 * ops.sparse_categorical_crossentropy(labels, logits, from_logits=True)


def test_config_round_trip():
    loss_fn = SequenceLoss(
        average_across_timesteps=True,
        average_across_batch=False,
        sum_over_timesteps=False,
        sum_over_batch=False,
        softmax_loss_function=doubled_crossentropy,
        name="my_loss",
    )
    config = loss_fn.get_config()
    assert config["name"] == "my_loss"
    assert config["average_across_timesteps"] is True
    assert config["sum_over_batch"] is False
    json.dumps(config)  # plain JSON

    clone = SequenceLoss.from_config(config)
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(loss_fn)
    )
    expected = 2.0 * FLAGS_DATA["outputs.loss_1000"]
    for other in (clone, restored):
        assert isinstance(other, SequenceLoss)
        assert other.get_config() == config
        np.testing.assert_allclose(
            numpy(other(TARGETS, LOGITS, WEIGHTS)), expected, **TOL
        )

    defaults = SequenceLoss.from_config(SequenceLoss().get_config())
    assert defaults.get_config() == SequenceLoss().get_config()


def test_saved_model_keeps_the_loss(tmp_path):
    model = tiny_model()
    model.compile(optimizer="sgd", loss=SequenceLoss(sum_over_batch=False))
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.loss, SequenceLoss)
    assert loaded.loss.get_config() == model.loss.get_config()
