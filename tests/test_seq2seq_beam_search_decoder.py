"""tfa-compatible `BeamSearchDecoder` on every backend: parity with tfa 0.23
(fixtures in tests/fixtures/tfa), the tfa tutorial's beam flow with an
`AttentionWrapper`, reordered alignment histories, saving, and bad input."""

import keras
import numpy as np
import pytest
from test_seq2seq_decoders import CASES, assign_weights, load_case, numpy, run

import keras_seq2seq as tfa
from keras_seq2seq.seq2seq import BeamSearchDecoder, tile_batch

BEAM_CASES = sorted(name for name in CASES if name.startswith("beam_search_"))


def tfa_paths(weights):
    """tfa's private attribute paths (`_cell`, `_output_layer`) to ours."""
    renamed = {}
    for path, value in weights.items():
        path = path.replace("_cell.", "cell.", 1).replace(
            "_output_layer.", "output_layer."
        )
        renamed[path] = value
    return renamed


def build_case(name):
    """The recorded decoder, with tfa's weights, and a function decoding once."""
    weights, inputs, expected = load_case(name)
    constructor = CASES[name]["constructor"]
    if "attention" in name:
        mechanism = tfa.seq2seq.BahdanauAttention(
            5,
            memory=inputs["tiled_memory"],
            memory_sequence_length=inputs["tiled_memory_sequence_length"],
        )
        cell = tfa.seq2seq.AttentionWrapper(
            keras.layers.LSTMCell(6), mechanism, attention_layer_size=5
        )

        def initial_state():
            state = cell.get_initial_state(batch_size=6, dtype="float32")
            return state.clone(
                cell_state=[
                    inputs["tiled_encoder_state_h"],
                    inputs["tiled_encoder_state_c"],
                ]
            )
    else:
        mechanism, cell = None, keras.layers.LSTMCell(6)

        def initial_state():
            return [inputs["tiled_encoder_state_h"], inputs["tiled_encoder_state_c"]]

    decoder = BeamSearchDecoder(
        cell,
        beam_width=constructor["beam_width"],
        output_layer=keras.layers.Dense(8),
        length_penalty_weight=constructor["length_penalty_weight"],
        coverage_penalty_weight=constructor["coverage_penalty_weight"],
        maximum_iterations=constructor["maximum_iterations"],
    )

    def decode():
        return decoder(
            inputs["embedding"],
            start_tokens=inputs["start_tokens"],
            end_token=int(inputs["end_token"]),
            initial_state=initial_state(),
        )

    decode()  # builds the layers
    assign_weights(decoder, tfa_paths(weights))
    if mechanism is not None:  # the mechanism caches its keys: project again
        mechanism.setup_memory(
            inputs["tiled_memory"], inputs["tiled_memory_sequence_length"]
        )
    return decode, expected


RUNS = [(name, False) for name in BEAM_CASES] + [
    ("beam_search_attention_lstm_lp06_cp04", True),
    ("beam_search_lstm_lp06_cp0", True),
]


@pytest.mark.parametrize(
    "name, compiled", RUNS, ids=[f"{n}-{'compiled' if c else 'eager'}" for n, c in RUNS]
)
def test_parity_with_tfa(name, compiled):
    decode, expected = build_case(name)
    outputs, state, lengths = run(decode, compiled)
    steps = expected["predicted_ids"].shape[1]
    raw = outputs.beam_search_decoder_output
    got = {
        "predicted_ids": outputs.predicted_ids,
        "step_predicted_ids": raw.predicted_ids,
        "step_parent_ids": raw.parent_ids,
        "step_scores": raw.scores,
    }
    for key, value in got.items():
        value = numpy(value)
        if compiled and value.shape[1] > steps:  # compiled JAX keeps the bound
            value = value[:, :steps]
        if value.dtype.kind == "f":
            np.testing.assert_allclose(value, expected[key], rtol=1e-5, atol=1e-5)
        else:
            np.testing.assert_array_equal(value, expected[key], err_msg=key)
    np.testing.assert_allclose(
        numpy(state.log_probs), expected["final_log_probs"], rtol=1e-5
    )
    np.testing.assert_array_equal(numpy(state.lengths), expected["final_lengths"])
    np.testing.assert_array_equal(numpy(state.finished), expected["final_finished"])
    np.testing.assert_array_equal(numpy(lengths), expected["final_sequence_lengths"])
    cell_state = state.cell_state
    if "attention" in name:
        np.testing.assert_allclose(
            numpy(cell_state.attention), expected["final_attention"], atol=1e-5
        )
        np.testing.assert_allclose(
            numpy(cell_state.alignments), expected["final_alignments"], atol=1e-5
        )
        cell_state = cell_state.cell_state
    if "final_accumulated_attention_probs" in expected:
        np.testing.assert_allclose(
            numpy(state.accumulated_attention_probs),
            expected["final_accumulated_attention_probs"],
            atol=1e-5,
        )
    np.testing.assert_allclose(
        numpy(cell_state[0]), expected["final_cell_state_h"], atol=1e-5
    )
    np.testing.assert_allclose(
        numpy(cell_state[1]), expected["final_cell_state_c"], atol=1e-5
    )


def tutorial_decoder(beam_width, batch=2, source=5, vocab=9, units=8, **kwargs):
    """The tfa NMT tutorial's beam flow: tile memory, lengths and encoder
    state, `setup_memory`, `get_initial_state(batch * beam).clone(...)`."""
    rng = np.random.default_rng(0)
    memory = rng.normal(size=(batch, source, units)).astype("float32")
    lengths = np.array([source, source - 2])[:batch]
    encoder_state = [
        rng.normal(size=(batch, units)).astype("float32") for _ in range(2)
    ]
    mechanism = tfa.seq2seq.LuongAttention(units)
    cell = tfa.seq2seq.AttentionWrapper(
        keras.layers.LSTMCell(units),
        mechanism,
        attention_layer_size=units,
        alignment_history=True,
    )
    decoder = BeamSearchDecoder(
        cell,
        beam_width,
        output_layer=keras.layers.Dense(vocab),
        maximum_iterations=7,
        **kwargs,
    )
    embedding = rng.normal(size=(vocab, 4)).astype("float32")
    mechanism.setup_memory(
        tile_batch(memory, beam_width),
        memory_sequence_length=tile_batch(lengths, beam_width),
    )
    state = cell.get_initial_state(batch_size=batch * beam_width, dtype="float32")
    state = state.clone(cell_state=tile_batch(encoder_state, beam_width))
    outputs, final_state, final_lengths = decoder(
        embedding, start_tokens=np.full([batch], 1), end_token=2, initial_state=state
    )
    return decoder, cell, embedding, state, outputs, final_state, final_lengths


def test_tutorial_flow_returns_alignments_reordered_along_each_beam():
    beam = 3
    _, cell, embedding, state, outputs, final_state, lengths = tutorial_decoder(beam)
    history = numpy(final_state.cell_state.alignment_history)  # [time, batch*beam, src]
    ids = numpy(outputs.predicted_ids)  # [batch, time, beam]
    lengths = numpy(lengths)
    assert history.shape == (ids.shape[1], 2 * beam, 5)
    # Teacher-force every final beam's tokens through the same cell: its
    # alignments must be the returned history of that beam.
    tokens = np.concatenate([np.ones((2, 1, beam), int), ids[:, :-1]], axis=1)
    tokens = tokens.transpose(0, 2, 1).reshape(2 * beam, -1)  # [batch*beam, time]
    rows_lengths = lengths.reshape(-1)
    for t in range(ids.shape[1]):
        _, state = cell(embedding[tokens[:, t]], state)
        alive = t < rows_lengths
        np.testing.assert_allclose(
            numpy(state.alignments)[alive], history[t][alive], atol=1e-5
        )


def test_output_all_scores_and_time_major():
    _, _, _, _, outputs, _, _ = tutorial_decoder(
        2, output_all_scores=True, output_time_major=True
    )
    scores = outputs.beam_search_decoder_output.scores
    assert tuple(scores.shape)[1:] == (2, 2, 9)  # [time, batch, beam, vocab]
    assert tuple(outputs.predicted_ids.shape)[1:] == (2, 2)


def test_config_round_trip():
    decoder = tutorial_decoder(2, length_penalty_weight=0.6)[0]
    clone = BeamSearchDecoder.from_config(decoder.get_config())
    assert clone.beam_width == 2 and clone.length_penalty_weight == 0.6
    assert isinstance(clone.cell, tfa.seq2seq.AttentionWrapper)


def test_bad_input():
    cell = keras.layers.GRUCell(4)
    with pytest.raises(ValueError, match="beam_width"):
        BeamSearchDecoder(cell, 0)
    decoder = BeamSearchDecoder(
        cell, 3, output_layer=keras.layers.Dense(6), maximum_iterations=4
    )
    embedding = np.eye(6, dtype="float32")
    with pytest.raises(ValueError, match="tile_batch"):
        decoder(
            embedding,
            start_tokens=np.ones(2),
            end_token=2,
            initial_state=np.zeros((2, 4)),
        )
    coverage = BeamSearchDecoder(
        cell,
        3,
        output_layer=keras.layers.Dense(6),
        coverage_penalty_weight=0.3,
        maximum_iterations=4,
    )
    with pytest.raises(ValueError, match="AttentionWrapper"):
        coverage(
            embedding,
            start_tokens=np.ones(2),
            end_token=2,
            initial_state=np.zeros((6, 4)),
        )
    with pytest.raises(ValueError, match="embedding"):
        decoder(
            None, start_tokens=np.ones(2), end_token=2, initial_state=np.zeros((6, 4))
        )


def test_tfa_names():
    from keras_seq2seq.seq2seq import beam_search_decoder

    for name in beam_search_decoder.__all__:
        assert getattr(tfa.seq2seq, name) is getattr(beam_search_decoder, name)
