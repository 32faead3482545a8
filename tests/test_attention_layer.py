"""AttentionLayer: the attention_keras layer's math, models, masks and saving."""

import keras
import numpy as np
import pytest
from conftest import predict_in_fresh_process
from keras import layers

from keras_seq2seq import AttentionLayer

RNG = np.random.default_rng(0)


def reference(encoder_out, decoder_out, W_a, U_a, V_a, encoder_mask=None):
    """The article's math, one decoder step at a time, in NumPy."""
    contexts, energies = [], []
    for t in range(decoder_out.shape[1]):
        hidden = np.tanh(encoder_out @ W_a + (decoder_out[:, t] @ U_a)[:, None])
        e = (hidden @ V_a)[..., 0]
        if encoder_mask is not None:
            e = np.where(encoder_mask, e, -np.inf)
        e = np.exp(e - e.max(-1, keepdims=True))
        e = e / e.sum(-1, keepdims=True)
        energies.append(e)
        contexts.append(np.einsum("bt,btd->bd", e, encoder_out))
    return np.stack(contexts, 1), np.stack(energies, 1)


def random(*shape):
    return RNG.normal(size=shape).astype("float32")


def numpy(x):
    return keras.ops.convert_to_numpy(x)


def test_matches_numpy_reference_with_te_ne_td_and_hd_ne_he():
    encoder_out, decoder_out = random(2, 6, 5), random(2, 3, 4)
    layer = AttentionLayer(name="attention_layer")
    layer([encoder_out, decoder_out])
    weights = [random(5, 5), random(4, 5), random(5, 1)]
    layer.set_weights(weights)
    context, energies = layer([encoder_out, decoder_out])
    want_context, want_energies = reference(encoder_out, decoder_out, *weights)
    np.testing.assert_allclose(numpy(energies), want_energies, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(numpy(context), want_context, rtol=1e-5, atol=1e-6)
    assert [w.path.split("/")[-1] for w in layer.weights] == ["W_a", "U_a", "V_a"]


def article_models(encoder_layer, hidden, batch_size=None, vocab=7, te=6, td=5):
    """The article's training model and its one-step inference model."""
    shape_kw = {"batch_shape": (batch_size, te, vocab)} if batch_size else {}
    encoder_inputs = keras.Input(**(shape_kw or {"shape": (te, vocab)}))
    decoder_inputs = keras.Input(shape=(td, vocab))
    encoder_out = encoder_layer(encoder_inputs)
    decoder_gru = layers.GRU(hidden, return_sequences=True, return_state=True)
    decoder_out, _ = decoder_gru(decoder_inputs)
    attention = AttentionLayer(name="attention_layer")
    attn_out, attn_states = attention([encoder_out, decoder_out])
    concat = layers.Concatenate(axis=-1)([decoder_out, attn_out])
    dense = layers.Dense(vocab, activation="softmax")
    outputs = layers.TimeDistributed(dense)(concat)
    model = keras.Model([encoder_inputs, decoder_inputs], outputs)
    model.compile(optimizer="adam", loss="categorical_crossentropy")

    memory = keras.Input(batch_shape=(1, te, encoder_out.shape[-1]))
    state = keras.Input(batch_shape=(1, hidden))
    word = keras.Input(batch_shape=(1, 1, vocab))
    step_out, step_state = decoder_gru(word, initial_state=state)
    step_context, step_energies = attention([memory, step_out])
    step_concat = layers.Concatenate(axis=-1)([step_out, step_context])
    step_pred = layers.TimeDistributed(dense)(step_concat)
    step_model = keras.Model(
        [memory, state, word], [step_pred, step_energies, step_state]
    )
    return model, step_model


ENCODERS = {
    "gru": lambda: layers.GRU(8, return_sequences=True),
    "lstm": lambda: layers.LSTM(6, return_sequences=True),
    "bidirectional": lambda: layers.Bidirectional(
        layers.LSTM(5, return_sequences=True)
    ),
}


@pytest.mark.parametrize("encoder", sorted(ENCODERS))
@pytest.mark.parametrize("batch_size", [None, 4])
def test_article_models_train_and_reuse_layer_for_one_step(encoder, batch_size):
    model, step_model = article_models(
        ENCODERS[encoder](), hidden=8, batch_size=batch_size
    )
    x = [random(4, 6, 7), random(4, 5, 7)]
    y = keras.utils.to_categorical(RNG.integers(0, 7, (4, 5)), 7)
    before = [numpy(w).copy() for w in model.get_layer("attention_layer").weights]
    history = model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    after = model.get_layer("attention_layer").weights
    assert any(not np.allclose(b, numpy(a)) for b, a in zip(before, after))

    memory_depth = step_model.inputs[0].shape[-1]
    pred, energies, state = step_model.predict(
        [random(1, 6, memory_depth), random(1, 8), random(1, 1, 7)], verbose=0
    )
    assert (
        pred.shape == (1, 1, 7)
        and energies.shape == (1, 1, 6)
        and state.shape == (1, 8)
    )
    np.testing.assert_allclose(energies.sum(-1), 1.0, rtol=1e-5)


def test_energies_of_one_step_equal_the_teacher_forced_row():
    encoder_out, decoder_out = random(2, 6, 5), random(2, 4, 3)
    layer = AttentionLayer()
    context, energies = layer([encoder_out, decoder_out])
    for t in range(4):
        step_context, step_energies = layer([encoder_out, decoder_out[:, t : t + 1]])
        np.testing.assert_allclose(
            numpy(step_energies)[:, 0], numpy(energies)[:, t], atol=1e-6
        )
        np.testing.assert_allclose(
            numpy(step_context)[:, 0], numpy(context)[:, t], atol=1e-6
        )


def masked_model():
    tokens = keras.Input(shape=(None,), dtype="int32")
    decoder_out = keras.Input(shape=(3, 4))
    embedded = layers.Embedding(9, 4, mask_zero=True, embeddings_initializer="ones")(
        tokens
    )
    encoder_out = layers.LSTM(5, return_sequences=True, kernel_initializer="ones")(
        embedded
    )
    context, energies = AttentionLayer()([encoder_out, decoder_out])
    return keras.Model([tokens, decoder_out], [context, energies])


def test_embedding_mask_gives_padded_steps_zero_energy_and_padding_changes_nothing():
    model = masked_model()
    tokens = np.array([[3, 1, 4, 0, 0], [2, 7, 1, 8, 2]], "int32")
    decoder_out = random(2, 3, 4)
    context, energies = model([tokens, decoder_out])
    assert np.all(numpy(energies)[0, :, 3:] == 0.0)
    np.testing.assert_allclose(numpy(energies).sum(-1), 1.0, rtol=1e-5)
    more_padding = np.pad(tokens, [(0, 0), (0, 4)])
    context2, energies2 = model([more_padding, decoder_out])
    np.testing.assert_allclose(numpy(energies2)[..., :5], numpy(energies), atol=1e-6)
    np.testing.assert_allclose(numpy(context2), numpy(context), atol=1e-6)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_half_precision_policies_give_finite_zero_masked_energies(policy):
    layer = AttentionLayer(dtype=policy)
    mask = np.array([[True, True, False], [False, False, False]])
    context, energies = layer([random(2, 3, 4), random(2, 2, 4)], mask=[mask, None])
    energies = numpy(energies).astype("float32")
    assert np.all(np.isfinite(energies)) and np.all(
        np.isfinite(numpy(context).astype("float32"))
    )
    assert np.all(energies[0, :, 2] == 0.0) and np.all(energies[1] == 0.0)


def test_config_round_trip():
    layer = AttentionLayer(name="attention_layer", trainable=False)
    clone = AttentionLayer.from_config(layer.get_config())
    assert clone.name == "attention_layer" and not clone.trainable


def test_saved_model_loads_in_a_fresh_process_without_custom_objects(tmp_path):
    model, _ = article_models(ENCODERS["gru"](), hidden=8)
    x = [random(2, 6, 7), random(2, 5, 7)]
    got = predict_in_fresh_process(model, x, tmp_path)
    np.testing.assert_allclose(got, model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "inputs, match",
    [
        (lambda: random(2, 3, 4), "list of two tensors"),
        (lambda: [random(2, 3, 4)] * 3, "list of two tensors"),
        (lambda: [random(2, 3), random(2, 3, 4)], "encoder_out.*rank 3"),
        (lambda: [random(2, 3, 4), random(2, 4)], "decoder_out.*rank 3"),
        (
            lambda: [random(2, 3, 4), random(3, 2, 4)],
            "same batch size.*decoder_out.shape\\[0\\]=3",
        ),
    ],
)
def test_bad_input_names_argument_expected_and_received(inputs, match):
    with pytest.raises(ValueError, match=match):
        AttentionLayer()(inputs())
