"""tfa-compatible BasicDecoder, samplers and dynamic_decode, on every backend.

Numbers are checked against the tfa 0.23 fixtures in tests/fixtures/tfa (see
its README), eagerly and compiled.
"""

import collections
import json
from pathlib import Path

import keras
import numpy as np
import pytest
from keras import ops

import keras_seq2seq as tfa
from keras_seq2seq.seq2seq.basic_decoder import BasicDecoder, BasicDecoderOutput
from keras_seq2seq.seq2seq.decoder import Decoder, dynamic_decode
from keras_seq2seq.seq2seq.sampler import (
    CustomSampler,
    GreedyEmbeddingSampler,
    InferenceSampler,
    SampleEmbeddingSampler,
    ScheduledEmbeddingTrainingSampler,
    ScheduledOutputTrainingSampler,
    TrainingSampler,
)

BACKEND = keras.backend.backend()
FIXTURES = Path(__file__).parent / "fixtures" / "tfa"
CASES = json.loads((FIXTURES / "manifest.json").read_text())["cases"]


def numpy(x):
    return ops.convert_to_numpy(x)


def load_case(name):
    """(weights by path, inputs, outputs) of a recorded tfa case."""
    case = CASES[name]
    data = np.load(FIXTURES / case["file"])
    weights = {w["path"]: data[w["key"]] for w in case["weights"]}
    inputs = {k: data[v["key"]] for k, v in case["inputs"].items()}
    outputs = {k: data[v["key"]] for k, v in case["outputs"].items()}
    return weights, inputs, outputs


def resolve(obj, path):
    """`obj` followed along a tfa attribute path such as `cell._cells[0].kernel`."""
    for part in path.split("."):
        name, _, rest = part.partition("[")
        obj = getattr(obj, name)
        for index in rest.rstrip("]").split("][") if rest else ():
            obj = obj[int(index)]
    return obj


def build_sublayers(decoder, input_depth):
    """Builds a BasicDecoder's cell and output layer without decoding."""
    decoder.cell.build((None, input_depth))
    decoder.output_layer.build((None, decoder.cell.output_size))


def assign_weights(decoder, weights):
    for path, value in weights.items():
        variable = resolve(decoder, path)
        assert tuple(variable.shape) == value.shape, path
        variable.assign(value)


def run(fn, compiled):
    """`fn()` eagerly, or compiled the way each backend compiles a model step."""
    if not compiled:
        return fn()
    if BACKEND == "jax":
        import jax

        return jax.jit(fn)()
    if BACKEND == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, jit_compile=True)()
    return fn()  # torch runs model steps eagerly


def check_time_axis(actual, expected, axis, compiled):
    """Eager and TF results have tfa's steps; compiled JAX pads with zeros."""
    actual = np.asarray(actual)
    steps = expected.shape[axis]
    if compiled and BACKEND == "jax" and actual.shape[axis] > steps:
        padding = np.take(actual, np.arange(steps, actual.shape[axis]), axis=axis)
        np.testing.assert_array_equal(padding, 0)
        actual = np.take(actual, np.arange(steps), axis=axis)
    assert actual.shape == expected.shape
    return actual


def check_outputs(outputs, state, lengths, expected, compiled, time_axis=1):
    rnn_output = check_time_axis(
        numpy(outputs.rnn_output), expected["rnn_output"], time_axis, compiled
    )
    scale = max(1.0, float(np.abs(expected["rnn_output"]).max()))
    np.testing.assert_allclose(
        rnn_output, expected["rnn_output"], rtol=1e-5, atol=2e-6 * scale
    )
    sample_id = check_time_axis(
        numpy(outputs.sample_id), expected["sample_id"], time_axis, compiled
    )
    np.testing.assert_array_equal(sample_id, expected["sample_id"])
    np.testing.assert_array_equal(numpy(lengths), expected["final_sequence_lengths"])
    if "final_state" in expected:
        np.testing.assert_allclose(numpy(state), expected["final_state"], atol=1e-5)
    else:
        np.testing.assert_allclose(
            numpy(state[0]), expected["final_state_h"], atol=1e-5
        )
        np.testing.assert_allclose(
            numpy(state[1]), expected["final_state_c"], atol=1e-5
        )


# --------------------------------------------------------------------------
# Parity with tfa 0.23
# --------------------------------------------------------------------------

TRAINING_CASES = {
    "decoder_training_lstm": (lambda: TrainingSampler(), 7),
    "sampler_scheduled_embedding_p0": (
        lambda: ScheduledEmbeddingTrainingSampler(0.0, seed=1, scheduling_seed=2),
        6,
    ),
    "sampler_scheduled_embedding_p1": (
        lambda: ScheduledEmbeddingTrainingSampler(1.0, seed=1, scheduling_seed=2),
        6,
    ),
    "sampler_scheduled_output_p0": (
        lambda: ScheduledOutputTrainingSampler(0.0, seed=1),
        4,
    ),
    "sampler_scheduled_output_p1": (
        lambda: ScheduledOutputTrainingSampler(1.0, seed=1),
        4,
    ),
}


# Every case eagerly; compiled, one case per code path (the scheduled samplers
# share theirs), to keep the suite short.
TRAINING_RUNS = [(name, False) for name in sorted(TRAINING_CASES)] + [
    ("decoder_training_lstm", True),
    ("sampler_scheduled_embedding_p1", True),
    ("sampler_scheduled_output_p1", True),
]


@pytest.mark.parametrize(
    "name, compiled",
    TRAINING_RUNS,
    ids=[f"{name}-{'compiled' if c else 'eager'}" for name, c in TRAINING_RUNS],
)
def test_parity_training_samplers(name, compiled):
    make_sampler, vocab = TRAINING_CASES[name]
    weights, inputs, expected = load_case(name)
    decoder = BasicDecoder(
        keras.layers.LSTMCell(6), make_sampler(), keras.layers.Dense(vocab)
    )
    kwargs = {
        "sequence_length": inputs["sequence_length"],
        "initial_state": [inputs["initial_state_h"], inputs["initial_state_c"]],
    }
    if "embedding" in inputs:
        kwargs["embedding"] = inputs["embedding"]
    build_sublayers(decoder, input_depth=4)
    assign_weights(decoder, weights)
    outputs, state, lengths = run(lambda: decoder(inputs["inputs"], **kwargs), compiled)
    check_outputs(outputs, state, lengths, expected, compiled)


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_parity_training_impute_finished(compiled):
    weights, inputs, expected = load_case("decoder_training_lstm_impute_finished")
    decoder = BasicDecoder(
        keras.layers.LSTMCell(6), TrainingSampler(), keras.layers.Dense(7)
    )
    init_kwargs = {
        "sequence_length": inputs["sequence_length"],
        "initial_state": [inputs["initial_state_h"], inputs["initial_state_c"]],
    }
    build_sublayers(decoder, input_depth=4)
    assign_weights(decoder, weights)

    def decode():
        return dynamic_decode(
            decoder,
            impute_finished=True,
            decoder_init_input=inputs["inputs"],
            decoder_init_kwargs=dict(init_kwargs),
        )

    outputs, state, lengths = run(decode, compiled)
    check_outputs(outputs, state, lengths, expected, compiled)


def greedy_gru_decoder(weights, inputs, **kwargs):
    decoder = BasicDecoder(
        keras.layers.GRUCell(6),
        GreedyEmbeddingSampler(),
        keras.layers.Dense(8),
        **kwargs,
    )
    build_sublayers(decoder, input_depth=inputs["embedding"].shape[1])
    assign_weights(decoder, weights)
    return decoder


def greedy_kwargs(inputs):
    return {
        "start_tokens": inputs["start_tokens"],
        "end_token": int(inputs["end_token"]),
        "initial_state": inputs["initial_state"],
    }


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_parity_greedy_gru(compiled):
    weights, inputs, expected = load_case("decoder_greedy_gru")
    decoder = greedy_gru_decoder(weights, inputs, maximum_iterations=6)
    outputs, state, lengths = run(
        lambda: decoder(inputs["embedding"], **greedy_kwargs(inputs)), compiled
    )
    check_outputs(outputs, state, lengths, expected, compiled)


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_parity_greedy_gru_time_major(compiled):
    weights, inputs, expected = load_case("decoder_greedy_gru_time_major")
    decoder = greedy_gru_decoder(weights, inputs, maximum_iterations=6)

    def decode():
        return dynamic_decode(
            decoder,
            output_time_major=True,
            maximum_iterations=6,
            decoder_init_input=inputs["embedding"],
            decoder_init_kwargs=greedy_kwargs(inputs),
        )

    outputs, state, lengths = run(decode, compiled)
    check_outputs(outputs, state, lengths, expected, compiled, time_axis=0)


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_parity_greedy_attention_lstm_needs_attention_wrapper(compiled):
    """BasicDecoder over the AttentionWrapper (written separately)."""
    aw = pytest.importorskip("keras_seq2seq.seq2seq.attention_wrapper")
    weights, inputs, expected = load_case("decoder_greedy_attention_lstm")
    mechanism = aw.BahdanauAttention(
        4,
        memory=inputs["memory"],
        memory_sequence_length=inputs["memory_sequence_length"],
    )
    cell = aw.AttentionWrapper(
        keras.layers.LSTMCell(6),
        mechanism,
        attention_layer_size=5,
        alignment_history=True,
    )
    decoder = BasicDecoder(
        cell, GreedyEmbeddingSampler(), keras.layers.Dense(8), maximum_iterations=6
    )

    def call():
        state = cell.get_initial_state(batch_size=3, dtype="float32")
        state = state.clone(
            cell_state=[inputs["encoder_state_h"], inputs["encoder_state_c"]]
        )
        return decoder(
            inputs["embedding"],
            start_tokens=inputs["start_tokens"],
            end_token=int(inputs["end_token"]),
            initial_state=state,
        )

    call()
    assign_weights(decoder, weights)
    # As tfa, the mechanism caches its keys: project the memory again.
    mechanism.setup_memory(inputs["memory"], inputs["memory_sequence_length"])
    outputs, state, lengths = run(call, compiled)
    check_outputs(
        outputs,
        state.cell_state,
        lengths,
        {
            **expected,
            "final_state_h": expected["final_cell_state_h"],
            "final_state_c": expected["final_cell_state_c"],
        },
        compiled,
    )
    np.testing.assert_allclose(
        numpy(state.attention), expected["final_attention"], atol=1e-5
    )
    np.testing.assert_allclose(
        numpy(state.alignments), expected["final_alignments"], atol=1e-5
    )
    np.testing.assert_allclose(
        numpy(state.attention_state), expected["final_attention_state"], atol=1e-5
    )
    np.testing.assert_allclose(
        numpy(state.alignment_history.stack()),
        expected["final_alignment_history"],
        atol=1e-5,
    )


# --------------------------------------------------------------------------
# The seed snippet (tfa_seq2seq_question.txt) and a subclassed model
# --------------------------------------------------------------------------


def seed_snippet_model(vocab_size, embed_size, units):
    """The question's code, with only `import keras_seq2seq as tfa` (and
    `keras.ops.softmax` for `tf.nn.softmax`, units as a parameter) changed."""
    import keras_seq2seq as tfa

    encoder_inputs = keras.layers.Input(shape=[None], dtype=np.int32)
    decoder_inputs = keras.layers.Input(shape=[None], dtype=np.int32)
    sequence_lengths = keras.layers.Input(shape=[], dtype=np.int32)
    embeddings = keras.layers.Embedding(vocab_size, embed_size)
    encoder_embeddings = embeddings(encoder_inputs)
    decoder_embeddings = embeddings(decoder_inputs)
    encoder = keras.layers.LSTM(units, return_state=True)
    encoder_outputs, state_h, state_c = encoder(encoder_embeddings)
    encoder_state = [state_h, state_c]
    sampler = tfa.seq2seq.sampler.TrainingSampler()
    decoder_cell = keras.layers.LSTMCell(units)
    output_layer = keras.layers.Dense(vocab_size)
    decoder = tfa.seq2seq.basic_decoder.BasicDecoder(
        decoder_cell, sampler, output_layer=output_layer
    )
    final_outputs, final_state, final_sequence_lengths = decoder(
        decoder_embeddings,
        initial_state=encoder_state,
        sequence_length=sequence_lengths,
    )
    Y_proba = keras.ops.softmax(final_outputs.rnn_output)
    model = keras.models.Model(
        inputs=[encoder_inputs, decoder_inputs, sequence_lengths], outputs=[Y_proba]
    )
    return model


def test_seed_snippet_functional_model_fits(tmp_path):
    model = seed_snippet_model(vocab_size=100, embed_size=10, units=16)
    assert tuple(model.outputs[0].shape) == (None, None, 100)
    # Compiled where the backend compiles: XLA on TensorFlow and JAX.
    jit = BACKEND in ("jax", "tensorflow")
    model.compile(
        loss="sparse_categorical_crossentropy",
        optimizer="adam",
        jit_compile=jit or "auto",
    )
    n = 64
    X = np.random.randint(100, size=10 * n).reshape(n, 10)
    Y = np.random.randint(100, size=15 * n).reshape(n, 15)
    X_decoder = np.c_[np.zeros((n, 1)), Y[:, :-1]]
    seq_lengths = np.full([n], 15)
    before = [numpy(w).copy() for w in model.trainable_weights]
    history = model.fit([X, X_decoder, seq_lengths], Y, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert len(model.trainable_weights) == 9  # embedding, encoder, cell, dense
    for old, new in zip(before, model.trainable_weights):
        assert not np.array_equal(old, numpy(new))  # every weight trained
    probs = model.predict([X[:5], X_decoder[:5], seq_lengths[:5]], verbose=0)
    assert probs.shape == (5, 15, 100)
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)
    model.save(tmp_path / "snippet.keras")
    loaded = keras.saving.load_model(tmp_path / "snippet.keras")
    again = loaded.predict([X[:5], X_decoder[:5], seq_lengths[:5]], verbose=0)
    np.testing.assert_allclose(again, probs, atol=1e-6)


class Translator(keras.Model):
    """A subclassed model: teacher-forced training, greedy inference; the
    decoder cell has dropout (masks drawn outside the compiled loop)."""

    def __init__(self, vocab, units, max_length, **kwargs):
        super().__init__(**kwargs)
        import keras_seq2seq as tfa

        self.embedding = keras.layers.Embedding(vocab, 8)
        self.encoder = keras.layers.LSTM(units, return_state=True)
        self.cell = keras.layers.LSTMCell(units, dropout=0.1, recurrent_dropout=0.1)
        self.projection = keras.layers.Dense(vocab)
        self.teacher = tfa.seq2seq.basic_decoder.BasicDecoder(
            self.cell, tfa.seq2seq.sampler.TrainingSampler(), self.projection
        )
        self.greedy = tfa.seq2seq.basic_decoder.BasicDecoder(
            self.cell,
            tfa.seq2seq.sampler.GreedyEmbeddingSampler(self.embedding),
            self.projection,
            maximum_iterations=max_length,
        )

    def encode(self, source):
        _, h, c = self.encoder(self.embedding(source))
        return [h, c]

    def call(self, inputs, training=None):
        source, target_in = inputs
        outputs, _, _ = self.teacher(
            self.embedding(target_in),
            initial_state=self.encode(source),
            training=training,
        )
        return outputs.rnn_output

    def translate(self, source, start_token=1, end_token=2):
        start = ops.ones_like(source[:, 0]) * start_token
        outputs, state, lengths = self.greedy(
            None,
            start_tokens=start,
            end_token=end_token,
            initial_state=self.encode(source),
        )
        return outputs.sample_id, outputs.rnn_output, lengths


def test_subclassed_model_trains_and_translates():
    model = Translator(vocab=12, units=16, max_length=7)
    model.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        optimizer="adam",
    )
    source = np.random.randint(3, 12, size=(32, 6))
    target_in = np.c_[np.ones((32, 1), "int32"), source[:, :-1]]
    history = model.fit([source, target_in], source, epochs=1, batch_size=16, verbose=0)
    assert np.isfinite(history.history["loss"][0])

    ids, _, lengths = model.translate(source[:4])
    ids, lengths = numpy(ids), numpy(lengths)
    assert ids.shape[0] == 4 and ids.shape[1] == lengths.max() <= 7
    compiled_ids = numpy(run(lambda: model.translate(source[:4])[0], compiled=True))
    width = 7 if BACKEND == "jax" else ids.shape[1]
    assert compiled_ids.shape == (4, width)
    np.testing.assert_array_equal(compiled_ids[:, : ids.shape[1]], ids)


def test_greedy_decoder_in_a_functional_model():
    """Inference as a functional model: JAX keeps maximum_iterations steps."""
    vocab, units = 10, 8
    source = keras.Input((None,), dtype="int32")
    embedding = keras.layers.Embedding(vocab, 4)
    _, h, c = keras.layers.LSTM(units, return_state=True)(embedding(source))
    start = keras.Input((), dtype="int32")
    decoder = BasicDecoder(
        keras.layers.LSTMCell(units),
        GreedyEmbeddingSampler(embedding),
        keras.layers.Dense(vocab),
        maximum_iterations=5,
    )
    outputs, _, lengths = decoder(
        None, start_tokens=start, end_token=2, initial_state=[h, c]
    )
    model = keras.Model([source, start], [outputs.sample_id, lengths])
    ids, lengths = model.predict(
        [np.random.randint(vocab, size=(3, 4)), np.ones(3, "int32")], verbose=0
    )
    assert ids.shape[0] == 3 and ids.shape[1] <= 5 and lengths.shape == (3,)
    assert lengths.max() <= 5 and lengths.min() >= 1
    if BACKEND == "jax":
        assert ids.shape[1] == 5
    else:
        assert ids.shape[1] == lengths.max()


# --------------------------------------------------------------------------
# Samplers
# --------------------------------------------------------------------------


def lstm_decoder(sampler, vocab=5, **kwargs):
    return BasicDecoder(
        keras.layers.LSTMCell(6), sampler, keras.layers.Dense(vocab), **kwargs
    )


def test_training_sampler_mask_equals_sequence_length():
    inputs = np.random.rand(3, 5, 4).astype("float32")
    lengths = np.array([5, 2, 3])
    mask = np.arange(5)[None, :] < lengths[:, None]
    decoder = lstm_decoder(TrainingSampler())
    by_length = decoder(inputs, sequence_length=lengths)
    by_mask = decoder(inputs, mask=mask)
    np.testing.assert_array_equal(numpy(by_length[2]), numpy(by_mask[2]))
    np.testing.assert_allclose(
        numpy(by_length[0].rnn_output), numpy(by_mask[0].rnn_output), atol=1e-6
    )


def test_keras_mask_of_the_inputs_gives_the_lengths():
    """As Keras 2 passed tfa's decoder the `mask` of `Embedding(mask_zero=True)`."""
    ids = np.array([[3, 4, 5, 0, 0], [1, 2, 0, 0, 0]])
    embedding = keras.layers.Embedding(6, 4, mask_zero=True)
    decoder = lstm_decoder(TrainingSampler())
    state = [np.zeros((2, 6), "float32")] * 2
    _, _, lengths = decoder(embedding(ids), initial_state=state)
    np.testing.assert_array_equal(numpy(lengths), [3, 2])
    # An explicit sequence_length wins over the Keras mask.
    _, _, lengths = decoder(embedding(ids), initial_state=state, sequence_length=[4, 4])
    np.testing.assert_array_equal(numpy(lengths), [4, 4])


def test_training_sampler_time_major_equals_batch_major():
    inputs = np.random.rand(3, 5, 4).astype("float32")
    lengths = np.array([4, 2, 5])
    cell, dense = keras.layers.LSTMCell(6), keras.layers.Dense(5)
    batch_major = BasicDecoder(cell, TrainingSampler(), dense)
    time_major = BasicDecoder(cell, TrainingSampler(time_major=True), dense)
    a = batch_major(inputs, sequence_length=lengths)
    b = time_major(np.swapaxes(inputs, 0, 1), sequence_length=lengths)
    np.testing.assert_allclose(
        numpy(a[0].rnn_output), numpy(b[0].rnn_output), atol=1e-6
    )
    np.testing.assert_allclose(numpy(a[1][1]), numpy(b[1][1]), atol=1e-6)


def test_scheduled_embedding_sampler_mixes_reads_and_samples():
    inputs = np.random.rand(4, 6, 3).astype("float32")
    embedding = np.random.rand(5, 3).astype("float32")
    sampler = ScheduledEmbeddingTrainingSampler(0.5, seed=3, scheduling_seed=9)
    ids = numpy(lstm_decoder(sampler)(inputs, embedding=embedding)[0].sample_id)
    assert (ids == -1).any() and (ids >= 0).any() and ids.max() < 5

    def draws(seed):
        sampler = ScheduledEmbeddingTrainingSampler(0.5, seed=seed, scheduling_seed=9)
        sampler.initialize(inputs, embedding=embedding)
        logits = np.random.default_rng(0).normal(size=(4, 5)).astype("float32")
        return [numpy(sampler.sample(t, logits, None)) for t in range(3)]

    first, again = draws(seed=3), draws(seed=3)
    np.testing.assert_array_equal(first, again)  # seeded: reproducible
    assert not all(np.array_equal(first[0], step) for step in first[1:])


def test_scheduled_output_sampler_auxiliary_inputs_and_next_inputs_fn():
    inputs = np.random.rand(2, 4, 3).astype("float32")
    auxiliary = np.random.rand(2, 4, 2).astype("float32")
    seen = []

    def next_inputs_fn(outputs):
        seen.append(outputs)
        return outputs[:, :3]

    sampler = ScheduledOutputTrainingSampler(1.0, seed=1, next_inputs_fn=next_inputs_fn)
    outputs, _, lengths = lstm_decoder(sampler, vocab=7)(
        inputs, auxiliary_inputs=auxiliary
    )
    np.testing.assert_array_equal(numpy(outputs.sample_id), 1)
    np.testing.assert_array_equal(numpy(lengths), [4, 4])
    assert seen  # used for the fed-back outputs


def test_sample_embedding_sampler_draws_from_the_softmax():
    logits = np.log(np.array([[0.2, 0.5, 0.3]] * 4000, "float32"))
    sampler = SampleEmbeddingSampler(seed=5)
    sampler.initialize(np.eye(3, dtype="float32"), np.zeros(4000, "int32"), 1)
    first = numpy(sampler.sample(0, logits, None))
    counts = np.bincount(first, minlength=3) / 4000
    np.testing.assert_allclose(counts, [0.2, 0.5, 0.3], atol=0.03)
    assert not np.array_equal(first, numpy(sampler.sample(1, logits, None)))
    sharp = SampleEmbeddingSampler(softmax_temperature=1e-3, seed=5)
    sharp.initialize(np.eye(3, dtype="float32"), np.zeros(4000, "int32"), 1)
    np.testing.assert_array_equal(numpy(sharp.sample(0, logits, None)), 1)


def test_inference_and_custom_samplers_match_greedy():
    weights, inputs, expected = load_case("decoder_greedy_gru")
    embedding = inputs["embedding"]
    end = int(inputs["end_token"])
    inference = InferenceSampler(
        sample_fn=lambda outputs: ops.cast(ops.argmax(outputs, -1), "int32"),
        sample_shape=(),
        sample_dtype="int32",
        end_fn=lambda ids: ops.equal(ids, end),
        next_inputs_fn=lambda ids: ops.take(embedding, ids, axis=0),
    )
    decoder = BasicDecoder(
        keras.layers.GRUCell(6), inference, keras.layers.Dense(8), maximum_iterations=6
    )
    start_inputs = embedding[inputs["start_tokens"]]
    decoder(start_inputs, initial_state=inputs["initial_state"])
    assign_weights(decoder, weights)
    outputs, _, lengths = decoder(start_inputs, initial_state=inputs["initial_state"])
    np.testing.assert_array_equal(numpy(outputs.sample_id), expected["sample_id"])
    np.testing.assert_array_equal(numpy(lengths), expected["final_sequence_lengths"])

    greedy = GreedyEmbeddingSampler()
    custom = CustomSampler(greedy.initialize, greedy.sample, greedy.next_inputs)
    decoder = greedy_gru_decoder(weights, inputs, maximum_iterations=6)
    decoder.sampler = custom
    outputs, _, lengths = decoder(embedding, **greedy_kwargs(inputs))
    np.testing.assert_array_equal(numpy(outputs.sample_id), expected["sample_id"])
    assert custom.sample_ids_shape == () and custom.sample_ids_dtype == "int32"


def test_basic_decoder_properties_and_default_initial_state():
    decoder = lstm_decoder(TrainingSampler(), vocab=5)
    inputs = np.random.rand(2, 3, 4).astype("float32")
    outputs, state, lengths = decoder(inputs)  # zero initial state
    assert isinstance(outputs, BasicDecoderOutput)
    assert tuple(outputs.rnn_output.shape) == (2, 3, 5)
    assert int(decoder.batch_size) == 2
    assert decoder.output_size == BasicDecoderOutput((5,), ())
    assert decoder.output_dtype == BasicDecoderOutput("float32", "int32")
    zero_state = [np.zeros((2, 6), "float32")] * 2
    explicit = decoder(inputs, initial_state=zero_state)
    np.testing.assert_allclose(numpy(explicit[1][0]), numpy(state[0]), atol=1e-7)


@pytest.mark.parametrize(
    "sampler",
    [
        TrainingSampler(time_major=True),
        ScheduledEmbeddingTrainingSampler(keras.Variable(0.25), seed=1),
        ScheduledOutputTrainingSampler([0.1, 0.2], seed=2),
        GreedyEmbeddingSampler(),
        SampleEmbeddingSampler(softmax_temperature=0.5, seed=3),
    ],
    ids=lambda sampler: type(sampler).__name__,
)
def test_basic_decoder_config_round_trip(sampler):
    decoder = BasicDecoder(
        keras.layers.GRUCell(4),
        sampler,
        keras.layers.Dense(3),
        maximum_iterations=5,
        impute_finished=True,
    )
    config = keras.saving.serialize_keras_object(decoder)
    restored = keras.saving.deserialize_keras_object(config)
    assert type(restored.sampler) is type(sampler)
    assert restored.sampler.get_config() == sampler.get_config()
    assert restored.maximum_iterations == 5 and restored.impute_finished
    assert restored.cell.units == 4 and restored.output_layer.units == 3


def test_config_refuses_python_functions():
    decoder = BasicDecoder(
        keras.layers.GRUCell(4), GreedyEmbeddingSampler(lambda ids: ids)
    )
    with pytest.raises(ValueError, match="`embedding_fn` is a Python callable"):
        decoder.get_config()
    inference = InferenceSampler(lambda x: x, (), "int32", lambda x: x)
    with pytest.raises(NotImplementedError, match="save_weights"):
        BasicDecoder(keras.layers.GRUCell(4), inference).get_config()


class CountdownDecoder(Decoder):
    """A non-layer decoder that tracks its own finished flags and lengths."""

    State = collections.namedtuple("State", ["remaining", "lengths"])

    def __init__(self, budget):
        self.budget = np.asarray(budget, "int32")
        self.finalized = False

    @property
    def batch_size(self):
        return len(self.budget)

    def initialize(self, name=None):
        state = self.State(ops.convert_to_tensor(self.budget), ops.zeros((3,), "int32"))
        return ops.equal(state.remaining, 0), ops.zeros((3,)), state

    def step(self, time, inputs, state, training=None, name=None):
        remaining = ops.maximum(state.remaining - 1, 0)
        lengths = state.lengths + ops.cast(ops.greater(state.remaining, 0), "int32")
        outputs = ops.cast(remaining, "float32")
        return (
            outputs,
            self.State(remaining, lengths),
            inputs + 1.0,
            ops.equal(remaining, 0),
        )

    def finalize(self, outputs, final_state, sequence_lengths):
        self.finalized = True
        return outputs * 10.0, final_state

    @property
    def tracks_own_finished(self):
        return True


def test_dynamic_decode_with_a_custom_decoder():
    decoder = CountdownDecoder([2, 0, 3])
    outputs, state, lengths = dynamic_decode(decoder, maximum_iterations=5)
    assert decoder.finalized
    np.testing.assert_array_equal(numpy(lengths), [2, 0, 3])  # from state.lengths
    np.testing.assert_array_equal(numpy(outputs), [[10, 0, 0], [0, 0, 0], [20, 10, 0]])


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------


def test_bad_cell_sampler_and_output_layer():
    with pytest.raises(
        ValueError, match=r"`cell` must be a Keras RNN cell.*Received: cell="
    ):
        BasicDecoder(keras.layers.Dense(3), TrainingSampler())
    with pytest.raises(ValueError, match="`sampler` must be"):
        BasicDecoder(keras.layers.LSTMCell(3), "greedy")
    with pytest.raises(ValueError, match="`output_layer` must be"):
        BasicDecoder(keras.layers.LSTMCell(3), TrainingSampler(), output_layer=3)


@pytest.mark.parametrize("bad", [0, -2])
def test_non_positive_maximum_iterations(bad):
    with pytest.raises(ValueError, match="maximum_iterations"):
        lstm_decoder(GreedyEmbeddingSampler(), maximum_iterations=bad)
    decoder = lstm_decoder(TrainingSampler())
    with pytest.raises(ValueError, match="maximum_iterations"):
        dynamic_decode(
            decoder,
            maximum_iterations=bad,
            decoder_init_input=np.zeros((2, 3, 4), "float32"),
        )


def test_inference_without_maximum_iterations_asks_for_it():
    decoder = lstm_decoder(GreedyEmbeddingSampler())
    with pytest.raises(ValueError, match="pass `maximum_iterations=`"):
        decoder(np.eye(5, 4, dtype="float32"), start_tokens=[0, 1], end_token=2)


def test_training_sampler_bad_arguments():
    inputs = np.zeros((2, 3, 4), "float32")
    with pytest.raises(ValueError, match="can't be provided at the same time"):
        TrainingSampler().initialize(
            inputs, sequence_length=[3, 3], mask=np.ones((2, 3), bool)
        )
    with pytest.raises(ValueError, match="sequence_length"):
        TrainingSampler().initialize(inputs, sequence_length=[[3, 3]])
    with pytest.raises(ValueError, match="boolean"):
        TrainingSampler().initialize(inputs, mask=np.ones((2, 3), "int32"))
    with pytest.raises(ValueError, match="batch and a time axis"):
        TrainingSampler().initialize(np.zeros(4, "float32"))


def test_samplers_used_before_initialize():
    for sampler in (TrainingSampler(), GreedyEmbeddingSampler()):
        with pytest.raises(ValueError, match=r"before `initialize\(\)`"):
            sampler.batch_size  # noqa: B018
        with pytest.raises(ValueError, match=r"next_inputs was used before"):
            sampler.next_inputs(0, np.zeros((2, 5)), None, np.zeros(2, "int32"))
    with pytest.raises(ValueError, match=r"sample was used before"):
        ScheduledOutputTrainingSampler(0.5).sample(0, np.zeros((2, 5)), None)


def test_greedy_and_scheduled_sampler_bad_arguments():
    embedding = np.eye(5, 4, dtype="float32")
    with pytest.raises(ValueError, match="start_tokens"):
        GreedyEmbeddingSampler().initialize(embedding, [[0, 1]], 2)
    with pytest.raises(ValueError, match="end_token"):
        GreedyEmbeddingSampler().initialize(embedding, [0, 1], [2, 3])
    with pytest.raises(ValueError, match="needs an embedding"):
        GreedyEmbeddingSampler().initialize(None, [0, 1], 2)
    with pytest.raises(ValueError, match="needs an embedding"):
        ScheduledEmbeddingTrainingSampler(0.5).initialize(
            np.zeros((2, 3, 4), "float32")
        )
    with pytest.raises(ValueError, match="sampling_probability"):
        ScheduledOutputTrainingSampler(np.zeros((2, 2)))
    with pytest.raises(TypeError, match="single tensor"):
        GreedyEmbeddingSampler().sample(0, (np.zeros((2, 5)),), None)


def test_dynamic_decode_bad_arguments():
    with pytest.raises(ValueError, match="`decoder` must be"):
        dynamic_decode(object(), maximum_iterations=3)
    with pytest.raises(TypeError, match="unexpected keyword"):
        dynamic_decode(lstm_decoder(TrainingSampler()), decoder_init_inputs=None)
    with pytest.raises(ValueError, match="scalar"):
        dynamic_decode(CountdownDecoder([1, 1, 1]), maximum_iterations=np.array([3, 4]))


TFA_MODULES = {
    "sampler": [
        "Sampler",
        "CustomSampler",
        "TrainingSampler",
        "ScheduledEmbeddingTrainingSampler",
        "ScheduledOutputTrainingSampler",
        "GreedyEmbeddingSampler",
        "SampleEmbeddingSampler",
        "InferenceSampler",
    ],
    "decoder": ["Decoder", "BaseDecoder", "dynamic_decode"],
    "basic_decoder": ["BasicDecoder", "BasicDecoderOutput"],
    "attention_wrapper": [
        "AttentionMechanism",
        "BahdanauAttention",
        "LuongAttention",
        "BahdanauMonotonicAttention",
        "LuongMonotonicAttention",
        "AttentionWrapper",
        "AttentionWrapperState",
        "hardmax",
        "monotonic_attention",
        "safe_cumprod",
    ],
    "loss": ["sequence_loss", "SequenceLoss"],
}


@pytest.mark.parametrize("module", sorted(TFA_MODULES))
def test_import_paths_of_tfa(module):
    for name in TFA_MODULES[module]:
        assert getattr(getattr(tfa.seq2seq, module), name) is getattr(tfa.seq2seq, name)
    assert tfa.seq2seq.basic_decoder.BasicDecoder is BasicDecoder


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_attention_decoding_under_mixed_precision(policy):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        compute_dtype = keras.config.dtype_policy().compute_dtype
        memory = np.random.default_rng(0).random((2, 6, 8)).astype("float32")
        attention = tfa.seq2seq.LuongAttention(
            16, memory=memory, memory_sequence_length=[6, 4]
        )
        cell = tfa.seq2seq.AttentionWrapper(
            keras.layers.LSTMCell(16), attention, attention_layer_size=16
        )
        embedding = keras.layers.Embedding(10, 4)
        output_layer = keras.layers.Dense(10)
        training = tfa.seq2seq.BasicDecoder(
            cell, tfa.seq2seq.TrainingSampler(), output_layer=output_layer
        )
        outputs, _, lengths = training(
            embedding(np.array([[1, 2, 3, 4, 5], [1, 2, 3, 0, 0]])),
            initial_state=cell.get_initial_state(batch_size=2, dtype=compute_dtype),
            sequence_length=[5, 3],
        )
        logits = ops.convert_to_numpy(ops.cast(outputs.rnn_output, "float32"))
        assert (
            keras.backend.standardize_dtype(outputs.rnn_output.dtype) == compute_dtype
        )
        assert np.all(np.isfinite(logits))
        np.testing.assert_array_equal(ops.convert_to_numpy(lengths), [5, 3])
        greedy = tfa.seq2seq.BasicDecoder(
            cell,
            tfa.seq2seq.GreedyEmbeddingSampler(),
            output_layer=output_layer,
            maximum_iterations=4,
        )
        outputs, _, lengths = greedy(
            embedding.embeddings,
            start_tokens=np.array([1, 1], "int32"),
            end_token=2,
            initial_state=cell.get_initial_state(batch_size=2, dtype=compute_dtype),
        )
        ids = ops.convert_to_numpy(outputs.sample_id)
        assert ids.shape[0] == 2 and np.all((ids >= 0) & (ids < 10))
    finally:
        keras.config.set_dtype_policy(previous)
