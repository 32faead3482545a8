"""AttentionDecoder: the tutorial layer's recurrence, models, masks, saving, errors."""

import keras
import numpy as np
import pytest
from conftest import predict_in_fresh_process
from keras import layers

from keras_seq2seq import AttentionDecoder

RNG = np.random.default_rng(1)


def random(*shape, scale=1.0):
    return (scale * RNG.normal(size=shape)).astype("float32")


def numpy(x):
    return keras.ops.convert_to_numpy(x)


def softmax(x, mask=None):
    if mask is not None:
        x = np.where(mask, x, -np.inf)
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def reference(layer, x, targets=None, steps=None, mask=None, greedy=False):
    """The original layer's step function, written out in NumPy."""
    w = {v.path.split("/")[-1]: numpy(v) for v in layer.weights}
    out_dim = w["b_o"].shape[0]
    y, s = np.zeros((x.shape[0], out_dim), "float32"), np.tanh(x[:, 0] @ w["W_s"])
    keys = x @ w["U_a"] + w["b_a"]
    outputs, attentions = [], []
    for t in range(steps or (targets.shape[1] if targets is not None else x.shape[1])):
        if targets is not None:
            y = targets[:, t]
        a = softmax(np.tanh((s @ w["W_a"])[:, None] + keys) @ w["V_a"], mask)
        c = np.einsum("bt,btd->bd", a, x)
        fed = y @ w["W_y"] if "W_y" in w else y
        r = sigmoid(fed @ w["W_r"] + s @ w["U_r"] + c @ w["C_r"] + w["b_r"])
        z = sigmoid(fed @ w["W_z"] + s @ w["U_z"] + c @ w["C_z"] + w["b_z"])
        p = np.tanh(fed @ w["W_p"] + (r * s) @ w["U_p"] + c @ w["C_p"] + w["b_p"])
        y = softmax(fed @ w["W_o"] + s @ w["U_o"] + c @ w["C_o"] + w["b_o"])
        s = (1 - z) * s + z * p
        outputs.append(y)
        attentions.append(a)
        if greedy:
            y = np.eye(out_dim, dtype="float32")[y.argmax(-1)]
    return np.stack(outputs, 1), np.stack(attentions, 1)


def randomize(layer):
    layer.set_weights([random(*w.shape, scale=0.5) for w in layer.weights])


@pytest.mark.parametrize("feedback", ["full", "projected"])
@pytest.mark.parametrize("output_length", [None, 2, 7])
def test_recurrence_matches_numpy_reference(feedback, output_length):
    x = random(3, 5, 4)
    layer = AttentionDecoder(6, 8, feedback=feedback, output_length=output_length)
    layer.build(x.shape)
    randomize(layer)
    want, want_attention = reference(layer, x, steps=output_length)
    np.testing.assert_allclose(numpy(layer(x)), want, rtol=1e-4, atol=1e-5)
    layer.return_probabilities = True
    np.testing.assert_allclose(numpy(layer(x)), want_attention, rtol=1e-4, atol=1e-5)


def test_teacher_forcing_feeds_the_targets_and_greedy_feedback_its_argmax():
    x, targets = random(2, 5, 4), random(2, 3, 8)
    layer = AttentionDecoder(6, 8, greedy_feedback=True)
    layer.build([x.shape, targets.shape])
    randomize(layer)
    want, _ = reference(layer, x, targets=targets)
    np.testing.assert_allclose(numpy(layer([x, targets])), want, rtol=1e-4, atol=1e-5)
    want_free, _ = reference(layer, x, steps=5, greedy=True)
    np.testing.assert_allclose(numpy(layer(x)), want_free, rtol=1e-4, atol=1e-5)


def test_linear_outputs_for_regression():
    layer = AttentionDecoder(4, 1, output_activation=None, output_length=3)
    out = numpy(layer(random(2, 6, 3)))
    assert out.shape == (2, 3, 1) and not np.allclose(out, 1.0)


def test_tutorial_sequential_model_runs_with_only_the_import_changed():
    model = keras.Sequential()
    model.add(keras.Input((5, 50)))
    model.add(layers.LSTM(150, return_sequences=True))
    model.add(AttentionDecoder(150, 50))
    model.compile(
        loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"]
    )
    x = keras.utils.to_categorical(RNG.integers(0, 50, (1, 5)), 50).reshape(1, 5, 50)
    model.fit(x, x, epochs=1, verbose=0)
    yhat = model.predict(x, verbose=0)
    assert yhat.shape == (1, 5, 50)
    np.testing.assert_allclose(yhat.sum(-1), 1.0, rtol=1e-5)


def test_after_bidirectional_and_repeat_vector_and_below_further_lstms():
    model = keras.Sequential(
        [
            keras.Input((6, 7)),
            layers.Bidirectional(layers.LSTM(8)),
            layers.RepeatVector(4),
            AttentionDecoder(5, 7, output_length=3),
            layers.LSTM(6, return_sequences=True),
            layers.TimeDistributed(layers.Dense(2)),
        ]
    )
    model.compile(loss="mse", optimizer="adam")
    history = model.fit(random(4, 6, 7), random(4, 3, 2), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


class Seq2Seq(keras.Model):
    def __init__(self):
        super().__init__()
        self.encoder = layers.GRU(8, return_sequences=True)
        self.decoder = AttentionDecoder(8, 5)

    def call(self, inputs):
        return self.decoder(self.encoder(inputs))


def test_subclassed_model_trains():
    model = Seq2Seq()
    model.compile(loss="categorical_crossentropy", optimizer="adam")
    y = keras.utils.to_categorical(RNG.integers(0, 5, (4, 6)), 5)
    before = model.predict(random(4, 6, 3), verbose=0)
    history = model.fit(random(4, 6, 3), y, epochs=2, verbose=0)
    assert before.shape == (4, 6, 5) and np.isfinite(history.history["loss"][-1])


def masked_attention_model():
    tokens = keras.Input((None,), dtype="int32")
    embedded = layers.Embedding(10, 4, mask_zero=True)(tokens)
    encoded = layers.LSTM(6, return_sequences=True)(embedded)
    attention = AttentionDecoder(5, 10, return_probabilities=True, output_length=3)(
        encoded
    )
    return keras.Model(tokens, attention)


def test_encoder_mask_gives_padded_steps_zero_attention_and_padding_changes_nothing():
    model = masked_attention_model()
    tokens = np.array([[4, 2, 7, 0, 0], [1, 2, 3, 4, 5]], "int32")
    attention = numpy(model(tokens))
    assert np.all(attention[0, :, 3:] == 0.0)
    np.testing.assert_allclose(attention.sum(-1), 1.0, rtol=1e-5)
    padded = numpy(model(np.pad(tokens, [(0, 0), (0, 3)])))
    np.testing.assert_allclose(padded[..., :5], attention, atol=1e-6)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_half_precision_policies(policy):
    layer = AttentionDecoder(6, 8, dtype=policy)
    out = numpy(layer(random(2, 5, 4))).astype("float32")
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out.sum(-1), 1.0, atol=2e-2)


def test_parameter_count_is_linear_in_output_dim_with_projected_feedback():
    # The documented counts for output_dim=34,000, units=128, input width 128.
    def count(output_dim, feedback):
        layer = AttentionDecoder(
            128, output_dim, feedback=feedback, recurrent_initializer="zeros"
        )
        layer.build((None, 10, 128))
        return layer.count_params()

    assert count(34_000, "projected") == 17_639_248

    # "full" is too big to build in a test (4.7 GB): check its formula against
    # built layers, then evaluate it at 34,000. W_o is output_dim**2.
    def full_formula(o, u=128, i=128):
        return o * o + o * (4 * u + i + 1) + 4 * u * u + 5 * i * u + 5 * u

    assert {n: count(n, "full") for n in (10, 20)} == {
        10: full_formula(10),
        20: full_formula(20),
    }
    assert full_formula(34_000) == 1_177_942_096


def test_config_round_trip_keeps_every_argument():
    layer = AttentionDecoder(
        7,
        9,
        activation="relu",
        return_probabilities=True,
        name="decoder",
        kernel_regularizer="l2",
        bias_constraint="non_neg",
        output_length=4,
        output_activation=None,
        feedback="projected",
        greedy_feedback=True,
    )
    clone = AttentionDecoder.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    assert clone.output_length == 4 and clone.feedback == "projected"


def test_saved_model_loads_in_a_fresh_process(tmp_path):
    model = keras.Sequential(
        [
            keras.Input((5, 6)),
            layers.LSTM(8, return_sequences=True),
            AttentionDecoder(8, 6),
        ]
    )
    x = random(2, 5, 6)
    got = predict_in_fresh_process(model, [x], tmp_path)
    np.testing.assert_allclose(got, model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"units": 0, "output_dim": 5}, "units.*positive integer.*units=0"),
        ({"units": 4, "output_dim": 0}, "output_dim.*positive integer.*output_dim=0"),
        (
            {"units": 4, "output_dim": 5, "output_length": 0},
            "output_length.*output_length=0",
        ),
        ({"units": 4, "output_dim": 5, "feedback": "low"}, "feedback.*'low'"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        AttentionDecoder(**kwargs)


@pytest.mark.parametrize(
    "inputs, match",
    [
        (lambda: random(2, 5), "inputs.*rank 3.*\\(2, 5\\)"),
        (lambda: [random(2, 5, 3), random(2, 4, 5)], "shifted_targets.*output_dim=6"),
        (lambda: [random(2, 5, 3), random(3, 4, 6)], "same batch size"),
        (lambda: [random(2, 5, 3), random(2, 4)], "shifted_targets.*rank 3"),
        (lambda: [random(2, 5, 3)] * 3, "list of 3 inputs"),
    ],
)
def test_bad_inputs(inputs, match):
    with pytest.raises(ValueError, match=match):
        AttentionDecoder(4, 6)(inputs())


def test_targets_longer_than_output_length_are_rejected():
    with pytest.raises(ValueError, match="output_length=3.*\\(2, 4, 6\\)"):
        AttentionDecoder(4, 6, output_length=3)([random(2, 5, 3), random(2, 4, 6)])
