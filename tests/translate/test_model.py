"""Translator: teacher forcing vs step-by-step decoding, masking, saving,
training on a toy copy task, greedy (compiled and eager) and beam decoding.

On JAX, the model's passes run through `run` (`jax.jit`): eagerly, JAX
compiles every op and every loop on its own, several times slower here.
"""

import keras
import numpy as np
import pytest
from keras import ops

from keras_seq2seq.backend.compile import compile_function
from keras_seq2seq.translate.model import Translation, Translator

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PAD, BOS, EOS, VOCAB = 0, 1, 2, 20
TINY = dict(
    embedding_dim=8, encoder_units=8, decoder_units=16, encoder_layers=1, dropout=0.0
)
CONFIGS = {  # the bridge's cases: GRU/LSTM, one or two directions, stacked layers
    "gru-bahdanau-bi2": dict(rnn_type="gru", attention="bahdanau", encoder_layers=2),
    "lstm-luong-bi1": dict(rnn_type="lstm", attention="luong", encoder_layers=1),
    "lstm-bahdanau-uni1": dict(
        rnn_type="lstm", attention="bahdanau", bidirectional=False, encoder_layers=1
    ),
}


def run(model, fn, *args):
    """`fn(*args)`, through `jax.jit` on JAX (one compile), eagerly elsewhere."""
    if keras.backend.backend() == "jax":
        if not model.built:
            model.build()
        return compile_function(fn, model)(*args)
    return fn(*args)


def tiny_model(seed=0, **overrides):
    keras.utils.set_random_seed(seed)
    return Translator(VOCAB, VOCAB, **{**TINY, **overrides})


def copy_pairs(count, rng, min_length=3, max_length=6, width=None):
    """Copy task: target = source + EOS; decoder input = BOS + source."""
    width = width or max_length
    sources = np.zeros((count, width), "int32")
    inputs = np.zeros((count, width + 1), "int32")
    targets = np.zeros((count, width + 1), "int32")
    for row, length in enumerate(rng.integers(min_length, max_length + 1, count)):
        tokens = rng.integers(3, VOCAB, length)
        sources[row, :length] = tokens
        inputs[row, 0], inputs[row, 1 : length + 1] = BOS, tokens
        targets[row, :length], targets[row, length] = tokens, EOS
    return sources, inputs, targets


class CopyBatches(keras.utils.PyDataset):
    """Yields `((source_ids, decoder_input_ids), decoder_target_ids, sample_weight)`,
    int32, as the data layer does; batch widths may differ."""

    def __init__(self, batches):
        super().__init__()
        self.batches = batches

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, index):
        sources, inputs, targets = self.batches[index]
        weights = (targets != PAD).astype("int32")
        return (sources, inputs), targets, weights


def random_ids(rng, shape, pad_from=None):
    ids = rng.integers(3, VOCAB, shape).astype("int32")
    if pad_from is not None:
        for row, start in enumerate(pad_from):
            ids[row, start:] = PAD
    return ids


def as_numpy(x):
    return ops.convert_to_numpy(x)


# ---------------------------------------------------------------- structure


def test_variables_built_with_stable_paths_and_any_batch():
    model = tiny_model(rnn_type="lstm", encoder_layers=2)
    model.build()
    paths = [variable.path for variable in model.weights]
    for path in (
        "translator/source_embedding/embeddings",
        "translator/target_embedding/embeddings",
        "translator/output_projection/kernel",
        "translator/bridge_h/kernel",
        "translator/bridge_c/kernel",
        "translator/decoder_cell/attention_projection/kernel",
        "translator/decoder_cell/mechanism/memory_kernel",
    ):
        assert path in paths
    assert any(path.startswith("translator/encoder_1/") for path in paths)
    rng = np.random.default_rng(0)
    logits = run(model, model, (random_ids(rng, (5, 6)), random_ids(rng, (5, 4))))
    assert tuple(logits.shape) == (5, 4, VOCAB)
    assert [variable.path for variable in model.weights] == paths


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_step_by_step_decoding_equals_teacher_forcing(config):
    model = tiny_model(**CONFIGS[config])
    rng = np.random.default_rng(1)
    sources = random_ids(rng, (3, 7), pad_from=[7, 4, 2])
    targets = random_ids(rng, (3, 5))
    logits = as_numpy(run(model, model, (sources, targets)))
    memory, memory_mask, state = run(model, model.encode, sources)
    step = model.decode_step_fn(memory, memory_mask)
    for time in range(targets.shape[1]):
        step_logits, state = step(targets[:, time], state)
        np.testing.assert_allclose(as_numpy(step_logits), logits[:, time], atol=1e-5)


def test_extra_source_padding_changes_nothing():
    model = tiny_model()
    rng = np.random.default_rng(2)
    sources = random_ids(rng, (3, 5), pad_from=[5, 3, 1])
    targets = random_ids(rng, (3, 4))
    padded = np.concatenate([sources, np.zeros((3, 4), "int32")], axis=1)
    logits = as_numpy(run(model, model, (sources, targets)))
    padded_logits = as_numpy(run(model, model, (padded, targets)))
    np.testing.assert_allclose(padded_logits, logits, atol=1e-5)
    weights = as_numpy(run(model, model.attention_weights, padded, targets))
    assert np.all(weights[..., 5:] == 0.0) and np.all(weights[1, :, 3:] == 0.0)
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-5)


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="JAX only")
def test_compile_function_refuses_an_unbuilt_model():
    with pytest.raises(ValueError, match="build the layer first"):
        compile_function(lambda x: x, tiny_model())


def test_config_round_trip():
    model = tiny_model(**CONFIGS["lstm-luong-bi1"], attention_layer_size=12)
    clone = Translator.from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    assert clone.decoder_cell.attention_layer_size == 12


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"source_vocab_size": 0}, "source_vocab_size"),
        ({"rnn_type": "rnn"}, "rnn_type"),
        ({"attention": "dot"}, "attention"),
        ({"encoder_layers": 0}, "encoder_layers"),
        ({"dropout": 1.0}, "dropout"),
        ({"pad_id": -1}, "pad_id"),
    ],
)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Translator(**{"source_vocab_size": VOCAB, "target_vocab_size": VOCAB, **kwargs})


def test_invalid_inputs():
    model = tiny_model()
    with pytest.raises(ValueError, match="source_ids, decoder_input_ids"):
        model(np.ones((2, 3), "int32"))
    with pytest.raises(ValueError, match="decoder_input_ids"):
        model((np.ones((2, 3), "int32"), np.ones((2, 3, 1), "int32")))


# ---------------------------------------------------------------- training


@pytest.fixture(scope="module")
def trained():
    """A tiny model trained briefly on the copy task with `fit`.

    The dataset yields int32 `((source_ids, decoder_input_ids), targets,
    sample_weight)` as the data layer does, in batches of two widths (one of
    width 3, then 16 of width 6), as bucketing gives. (TensorFlow takes the
    dataset's shapes from its first two batches: they must differ where
    later ones do.)
    """
    rng = np.random.default_rng(0)
    model = tiny_model(
        embedding_dim=32, encoder_units=32, decoder_units=64, encoder_layers=1
    )
    sources, inputs, targets = copy_pairs(512, rng)
    batches = [copy_pairs(16, rng, 2, 3)] + [
        (sources[i : i + 32], inputs[i : i + 32], targets[i : i + 32])
        for i in range(0, 512, 32)
    ]
    epochs = 20
    model.compile(
        # The rate decays to 0 over the whole run.
        optimizer=keras.optimizers.Adam(
            keras.optimizers.schedules.CosineDecay(0.01, len(batches) * epochs),
            clipnorm=1.0,
        ),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    history = model.fit(CopyBatches(batches), epochs=epochs, verbose=0)
    return model, history.history["loss"]


def test_fit_lowers_loss(trained):
    _, losses = trained
    assert np.all(np.isfinite(losses))
    assert losses[-1] < 0.3 * losses[0], losses


@pytest.fixture(scope="module")
def copy_test(trained):
    """Held-out copy pairs and the trained model's compiled greedy output:
    `make_translate_function` (jax.jit on JAX, tf.function on TensorFlow)."""
    model, _ = trained
    sources, _, targets = copy_pairs(32, np.random.default_rng(7))
    translate = model.make_translate_function(max_length=9, bos_id=BOS, eos_id=EOS)
    assert model.make_translate_function(9, BOS, EOS) is translate  # cached
    return sources, targets, translate(sources)


def test_greedy_decodes_most_of_the_copy_task(copy_test):
    sources, targets, out = copy_test
    assert isinstance(out, Translation)
    tokens, lengths = as_numpy(out.tokens), as_numpy(out.lengths)
    expected_lengths = (targets != PAD).sum(1)
    exact = [
        lengths[row] == expected_lengths[row]
        and np.array_equal(tokens[row, : lengths[row]], targets[row, : lengths[row]])
        for row in range(len(sources))
    ]
    # Copying a random 2-to-8-token sequence exactly needs the attention to
    # align.
    assert np.mean(exact) >= 0.75, np.mean(exact)
    attention = as_numpy(out.attention)
    assert attention.shape == tokens.shape + (sources.shape[1],)
    steps = np.arange(tokens.shape[1])
    np.testing.assert_allclose(
        attention.sum(-1), (steps < lengths[:, None]).astype("float32"), atol=1e-5
    )
    assert np.all(tokens[steps[None, :] >= lengths[:, None]] == PAD)


def test_greedy_equals_a_step_by_step_argmax_decode(trained, copy_test):
    """Tokens, lengths, scores and alignments against `decode_step_fn` run by hand."""
    model, _ = trained
    sources, _, out = copy_test
    sources = sources[:6]
    tokens, lengths = as_numpy(out.tokens)[:6], as_numpy(out.lengths)[:6]
    attention, scores = as_numpy(out.attention)[:6], as_numpy(out.scores)[:6]
    memory, memory_mask, state = model.encode(sources)
    step = model.decode_step_fn(memory, memory_mask)
    previous, total = np.full((6,), BOS, "int32"), np.zeros(6)
    for time in range(lengths.max()):
        logits, state = step(previous, state)
        logits = as_numpy(logits).astype("float64")
        live = time < lengths
        chosen = logits.argmax(-1)
        np.testing.assert_array_equal(tokens[live, time], chosen[live])
        np.testing.assert_allclose(
            attention[live, time], as_numpy(state[2])[live], atol=1e-6
        )
        log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
        total += np.where(live, log_probs[np.arange(6), chosen], 0.0)
        assert np.all((chosen[live] == EOS) == (time + 1 == lengths[live]))
        previous = chosen.astype("int32")
    np.testing.assert_allclose(scores, total, atol=1e-4)


@pytest.mark.skipif(
    keras.backend.backend() == "jax",
    reason="JAX: ~15 s of per-op compiles here; eager greedy runs in the doctest, "
    "and the jitted greedy is checked against the step-by-step decode",
)
def test_eager_greedy_matches_compiled(trained, copy_test):
    model, _ = trained
    sources, _, compiled = copy_test
    sources = sources[:4]
    eager = model.greedy(sources, max_length=9, bos_id=BOS, eos_id=EOS)
    tokens = as_numpy(eager.tokens)
    steps = tokens.shape[1]  # eagerly: the longest row's length
    assert steps == as_numpy(eager.lengths).max()
    np.testing.assert_array_equal(as_numpy(compiled.tokens)[:4, :steps], tokens)
    np.testing.assert_array_equal(
        as_numpy(compiled.lengths)[:4], as_numpy(eager.lengths)
    )
    np.testing.assert_allclose(
        as_numpy(compiled.attention)[:4, :steps], as_numpy(eager.attention), atol=1e-5
    )
    np.testing.assert_allclose(
        as_numpy(compiled.scores)[:4], as_numpy(eager.scores), atol=1e-4
    )


def test_save_load_gives_identical_outputs(trained, tmp_path):
    """`.keras` round trip without custom_objects (the class is registered)."""
    model, _ = trained
    sources, inputs, _ = copy_pairs(4, np.random.default_rng(4))
    path = tmp_path / "translator.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, Translator)
    assert loaded.get_config() == model.get_config()
    np.testing.assert_allclose(
        as_numpy(run(loaded, loaded, (sources, inputs))),
        as_numpy(run(model, model, (sources, inputs))),
        atol=1e-6,
    )


def test_mixed_bfloat16_reaches_every_layer():
    """`dtype="mixed_bfloat16"` applies to every sublayer: bfloat16
    arithmetic and logits, float32 variables, the float32 model's logits
    within bfloat16's precision; the policy survives a config round trip."""
    model = tiny_model(**CONFIGS["gru-bahdanau-bi2"], dtype="mixed_bfloat16")
    reference = tiny_model(**CONFIGS["gru-bahdanau-bi2"])
    model.build()
    reference.build()
    reference.set_weights(model.get_weights())
    assert {keras.backend.standardize_dtype(v.dtype) for v in model.weights} == {
        "float32"
    }
    layers = list(model._flatten_layers())
    assert len(layers) > 10  # embeddings, bidirectional GRUs and their cells, ...
    assert {layer.dtype_policy.name for layer in layers} == {"mixed_bfloat16"}
    rng = np.random.default_rng(5)
    sources = random_ids(rng, (3, 6), pad_from=[6, 4, 2])
    inputs = random_ids(rng, (3, 5))
    logits = run(model, model, (sources, inputs))
    assert keras.backend.standardize_dtype(logits.dtype) == "bfloat16"
    expected = as_numpy(run(reference, reference, (sources, inputs)))
    error = np.abs(as_numpy(ops.cast(logits, "float32")) - expected)
    assert 0 < error.max() < 0.05 * np.abs(expected).max()
    clone = Translator.from_config(model.get_config())
    assert clone.output_projection.dtype_policy.name == "mixed_bfloat16"


# ---------------------------------------------------------------- beam search


def test_beam_scores_at_least_greedy_and_attention_follows_the_beam(trained, copy_test):
    model, _ = trained
    sources, _, greedy = copy_test
    beam3 = model.make_translate_function(9, BOS, EOS, beam_width=3)(sources)
    assert np.all(as_numpy(beam3.scores) >= as_numpy(greedy.scores) - 1e-4)
    tokens, lengths = as_numpy(beam3.tokens), as_numpy(beam3.lengths)
    attention = as_numpy(beam3.attention)
    assert attention.shape == tokens.shape + (sources.shape[1],)
    # The alignments gathered along the best beam are the teacher-forced ones.
    inputs = np.concatenate([np.full((len(tokens), 1), BOS), tokens[:, :-1]], 1)
    forced = as_numpy(run(model, model.attention_weights, sources, inputs))
    live = np.arange(tokens.shape[1])[None, :] < lengths[:, None]
    np.testing.assert_allclose(attention[live], forced[live], atol=1e-5)
    assert np.all(attention[~live] == 0.0)


@pytest.mark.skipif(
    keras.backend.backend() == "torch", reason="torch.compile takes minutes here"
)
def test_trains_with_jit_compile():
    """XLA must differentiate the decoder loop (TensorFlow once failed on the
    Bahdanau score's tensordot inside it)."""
    model = tiny_model(attention="bahdanau")
    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=True,
    )
    rng = np.random.default_rng(0)
    source, target = random_ids(rng, (8, 5)), random_ids(rng, (8, 4))
    history = model.fit((source, target), target, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
