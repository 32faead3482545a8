"""The decoding core: decode_loop and greedy_search, on every backend."""

import collections

import keras
import numpy as np
import pytest
from conftest import compiled, gradient
from keras import ops

from keras_seq2seq.decoding import decode_loop, greedy_search
from keras_seq2seq.seq2seq.basic_decoder import BasicDecoder
from keras_seq2seq.seq2seq.sampler import GreedyEmbeddingSampler

BACKEND = keras.backend.backend()

# A fake language model: the next token depends only on the current one.
# 0 -> 2 -> 4 -> 1 (end), 3 -> 1, 5 -> 5 -> ... (never ends).
NEXT = np.array([2, 1, 4, 1, 1, 5])
TABLE = (np.eye(6, dtype="float32")[NEXT] * 4.0) - 1.0
END = 1


def numpy(x):
    return ops.convert_to_numpy(x)


def table_step(tokens, state):
    """Logits from the table; the state counts the steps each row ran."""
    return ops.take(TABLE, tokens, axis=0), state + 1


def test_greedy_search_follows_the_table():
    out = greedy_search(table_step, np.array([0, 3, 5]), np.zeros(3, "int32"), 4, END)
    # Row 0 ends on its 3rd step, row 1 on its 1st, row 2 never (max_length 4).
    np.testing.assert_array_equal(numpy(out.lengths), [3, 1, 4])
    np.testing.assert_array_equal(
        numpy(out.tokens), [[2, 4, 1, 0], [1, 0, 0, 0], [5, 5, 5, 5]]
    )
    # Each chosen token's log-softmax; imputed steps score 0.
    chosen = 3.0 - np.log(np.exp(3.0) + 5 * np.exp(-1.0))
    np.testing.assert_allclose(numpy(out.log_probs)[0], [chosen] * 3 + [0.0], rtol=1e-5)
    np.testing.assert_array_equal(numpy(out.log_probs)[1, 1:], 0.0)
    assert out.attention is None
    # impute_finished (the default): finished rows keep their state.
    np.testing.assert_array_equal(numpy(out.state), [3, 1, 4])


def test_greedy_search_without_impute_keeps_decoding_finished_rows():
    out = greedy_search(
        table_step,
        np.array([0, 3, 5]),
        np.zeros(3, "int32"),
        4,
        END,
        impute_finished=False,
    )
    np.testing.assert_array_equal(numpy(out.lengths), [3, 1, 4])
    np.testing.assert_array_equal(
        numpy(out.tokens), [[2, 4, 1, 1], [1, 1, 1, 1], [5, 5, 5, 5]]
    )
    np.testing.assert_array_equal(numpy(out.state), [4, 4, 4])


def test_greedy_search_returns_what_attention_fn_reads_after_each_step():
    def step(tokens, state):
        logits, count = table_step(tokens, state[0])
        return logits, (count, ops.one_hot(tokens, 6))

    out = greedy_search(
        step,
        np.array([0, 3]),
        (np.zeros(2, "int32"), np.zeros((2, 6), "float32")),
        4,
        END,
        attention_fn=lambda state: state[1],
    )
    # Step t's new state holds the one-hot of the token fed at step t; rows
    # read 0, 2, 4 and 3; zeros after their end token.
    expected = np.zeros((2, 3, 6), "float32")
    expected[0, [0, 1, 2], [0, 2, 4]] = 1.0
    expected[1, 0, 3] = 1.0
    np.testing.assert_array_equal(numpy(out.attention), expected)


def test_greedy_search_stops_when_every_row_is_finished():
    out = greedy_search(table_step, np.array([0, 3]), np.zeros(2, "int32"), 10, END)
    # Eagerly the time axis is trimmed to the steps taken.
    assert tuple(out.tokens.shape) == (2, 3)
    np.testing.assert_array_equal(numpy(out.tokens), [[2, 4, 1], [1, 0, 0]])
    np.testing.assert_array_equal(numpy(out.state), [3, 1])


def test_greedy_search_compiled():
    def run(start):
        out = greedy_search(table_step, start, ops.zeros((2,), "int32"), 10, END)
        return out.tokens, out.lengths

    tokens, lengths = compiled(run)(ops.convert_to_tensor(np.array([0, 3], "int32")))
    np.testing.assert_array_equal(numpy(lengths), [3, 1])
    tokens = numpy(tokens)
    # JAX keeps the static bound (steps after the last end are zeros);
    # TensorFlow (XLA included) trims; torch runs eagerly.
    expected_steps = 10 if BACKEND == "jax" else 3
    assert tokens.shape == (2, expected_steps)
    np.testing.assert_array_equal(tokens[:, :3], [[2, 4, 1], [1, 0, 0]])
    np.testing.assert_array_equal(tokens[:, 3:], 0)


def test_greedy_search_repacks_a_list_state_and_keeps_nested_structure():
    State = collections.namedtuple("State", ["count", "history"])

    def step(tokens, state):
        logits, count = table_step(tokens, state.count)
        # A list where a tuple came in is repacked like `initial_state`.
        return logits, [count, state.history + ops.cast(tokens, "float32")[:, None]]

    initial = State(np.zeros(2, "int32"), np.zeros((2, 3), "float32"))
    out = greedy_search(step, np.array([0, 3]), initial, 5, END)
    assert isinstance(out.state, State)
    np.testing.assert_array_equal(numpy(out.state.count), [3, 1])
    # history sums the fed tokens: row 0 read 0, 2, 4; row 1 read 3.
    np.testing.assert_array_equal(numpy(out.state.history), [[6] * 3, [3] * 3])


def counting_step(time, inputs, state):
    """Row r finishes at step `stop[r]`; outputs are (time+1, inputs) pairs."""
    stop = ops.convert_to_tensor(np.array([2, 0, 5, 9], "int32"))
    outputs = {
        "time": ops.ones_like(stop) * (time + 1),
        "echo": ops.cast(inputs, "float32")[:, None] * ops.ones((1, 2)),
    }
    return outputs, state + 1.0, inputs + 1, ops.greater_equal(time, stop)


def test_decode_loop_lengths_and_trimming():
    result = decode_loop(
        counting_step,
        np.zeros(4, "int32"),
        np.zeros(4, "float32"),
        np.array([False, False, False, True]),
        max_steps=8,
    )
    # An initially finished row counts 0 steps; the others count their end step.
    np.testing.assert_array_equal(numpy(result.lengths), [3, 1, 6, 0])
    assert int(numpy(result.num_steps)) == 6
    assert tuple(result.outputs["time"].shape) == (6, 4)  # time-major, trimmed
    np.testing.assert_array_equal(
        numpy(result.outputs["time"])[:, 0], [1, 2, 3, 4, 5, 6]
    )
    # Without impute_finished every row is computed at every step taken.
    np.testing.assert_array_equal(numpy(result.final_state), [6, 6, 6, 6])
    np.testing.assert_array_equal(numpy(result.outputs["echo"])[:, 3, 0], np.arange(6))


def test_decode_loop_impute_finished():
    result = decode_loop(
        counting_step,
        np.zeros(4, "int32"),
        np.zeros(4, "float32"),
        np.array([False, False, False, True]),
        max_steps=8,
        impute_finished=True,
    )
    np.testing.assert_array_equal(numpy(result.lengths), [3, 1, 6, 0])
    # Finished rows keep their state and emit zeros from the step after.
    np.testing.assert_array_equal(numpy(result.final_state), [3, 1, 6, 0])
    times = numpy(result.outputs["time"])
    np.testing.assert_array_equal(times[:, 0], [1, 2, 3, 0, 0, 0])
    np.testing.assert_array_equal(times[:, 1], [1, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(times[:, 3], 0)


def test_decode_loop_bound_reached_and_untrimmed():
    result = decode_loop(
        counting_step,
        np.zeros(4, "int32"),
        np.zeros(4, "float32"),
        np.zeros(4, bool),
        max_steps=4,
        trim=False,
    )
    np.testing.assert_array_equal(numpy(result.lengths), [3, 1, 4, 4])
    assert int(numpy(result.num_steps)) == 4
    assert tuple(result.outputs["echo"].shape) == (4, 4, 2)


@pytest.mark.parametrize("early_exit", [False, True])
def test_decode_loop_all_finished_early_stands_still(early_exit):
    result = decode_loop(
        counting_step,
        np.zeros(4, "int32"),
        np.zeros(4, "float32"),
        np.array([False, False, True, True]),
        max_steps=6,
        trim=False,
        early_exit=early_exit,
    )
    np.testing.assert_array_equal(numpy(result.lengths), [3, 1, 0, 0])
    assert int(numpy(result.num_steps)) == 3
    # Steps after every row finished change nothing and emit zeros (the
    # early-exit loop stops there and leaves its buffers' zeros).
    np.testing.assert_array_equal(numpy(result.final_state), [3, 3, 3, 3])
    times = numpy(result.outputs["time"])
    assert times.shape == (6, 4)
    np.testing.assert_array_equal(times[:3], [[1] * 4, [2] * 4, [3] * 4])
    np.testing.assert_array_equal(times[3:], 0)
    np.testing.assert_array_equal(numpy(result.outputs["echo"])[:3, 0, 0], [0, 1, 2])


def test_decode_loop_rejects_a_changed_state_structure():
    def step(time, inputs, state):
        return inputs, (state, state), inputs, ops.zeros_like(inputs, "bool")

    with pytest.raises(ValueError, match="next_state"):
        decode_loop(step, np.zeros(2), np.zeros(2), np.zeros(2, bool), 3)


@pytest.mark.parametrize("bad", [0, -3])
def test_greedy_search_rejects_a_non_positive_max_length(bad):
    with pytest.raises(ValueError, match="max_length"):
        greedy_search(table_step, np.array([0]), np.zeros(1, "int32"), bad, END)


def test_greedy_search_rejects_bad_tokens():
    with pytest.raises(ValueError, match="start_tokens"):
        greedy_search(table_step, np.array([[0]]), np.zeros(1, "int32"), 3, END)
    with pytest.raises(ValueError, match="end_token"):
        greedy_search(table_step, np.array([0]), np.zeros(1, "int32"), 3, [1, 2])


def test_decode_loop_is_differentiable():
    """Reverse-mode gradient through the loop equals the unrolled one."""
    weight0 = np.array([[0.5, -0.3], [0.2, 0.8]], "float32")
    lengths = np.array([3, 1])

    def run(weight):
        def step(time, inputs, state):
            new = ops.tanh(ops.matmul(state, weight) + inputs)
            return new, new, inputs, ops.greater_equal(time + 1, lengths)

        state0 = ops.convert_to_tensor(np.array([[1.0, 0.5], [-0.4, 0.3]], "float32"))
        result = decode_loop(
            step, ops.ones((2, 2)), state0, np.zeros(2, bool), 5, impute_finished=True
        )
        return ops.sum(result.outputs) + ops.sum(result.final_state)

    grad = numpy(gradient(run, weight0))

    def reference(w):
        state = np.array([[1.0, 0.5], [-0.4, 0.3]])
        total = 0.0
        for t in range(3):
            new = np.tanh(state @ w + 1.0)
            alive = (t < lengths)[:, None]
            total += (new * alive).sum()
            state = np.where(alive, new, state)
        return total + state.sum()

    eps, numeric = 1e-4, np.zeros_like(weight0, dtype="float64")
    for i in np.ndindex(weight0.shape):
        up, down = weight0.astype("float64"), weight0.astype("float64")
        up[i] += eps
        down[i] -= eps
        numeric[i] = (reference(up) - reference(down)) / (2 * eps)
    np.testing.assert_allclose(grad, numeric, atol=1e-3)
    assert float(numpy(run(weight0))) == pytest.approx(reference(weight0), abs=1e-4)


@pytest.mark.parametrize("impute_finished", [False, True])
def test_greedy_search_equals_basic_decoder_with_greedy_sampler(impute_finished):
    """The core greedy search and the tfa adapter agree on the same cell."""
    rng = np.random.default_rng(8)  # a seed where rows stop at steps 4, 1, 1
    vocab, depth, units, batch = 8, 4, 6, 3
    embedding = rng.normal(size=(vocab, depth)).astype("float32")
    cell = keras.layers.GRUCell(units)
    output_layer = keras.layers.Dense(vocab)
    decoder = BasicDecoder(
        cell,
        GreedyEmbeddingSampler(),
        output_layer,
        maximum_iterations=7,
        impute_finished=impute_finished,
    )
    start = np.array([1, 3, 4], "int32")
    state0 = rng.normal(size=(batch, units)).astype("float32")
    decoder(embedding, start_tokens=start, end_token=2, initial_state=state0)
    for weight in decoder.weights:
        weight.assign(2.0 * rng.normal(size=weight.shape).astype("float32"))
    outputs, final_state, lengths = decoder(
        embedding, start_tokens=start, end_token=2, initial_state=state0
    )

    def step(tokens, state):
        output, state = cell(ops.take(embedding, tokens, axis=0), state)
        return output_layer(output), state

    out = greedy_search(step, start, state0, 7, 2, impute_finished=impute_finished)
    np.testing.assert_array_equal(numpy(out.tokens), numpy(outputs.sample_id))
    log_softmax = numpy(ops.log_softmax(outputs.rnn_output, axis=-1))
    chosen = np.take_along_axis(log_softmax, numpy(out.tokens)[..., None], axis=-1)
    valid = np.arange(log_softmax.shape[1])[None, :] < numpy(lengths)[:, None]
    expected = np.where(valid | (not impute_finished), chosen[..., 0], 0.0)
    np.testing.assert_allclose(numpy(out.log_probs), expected, atol=1e-5)
    np.testing.assert_array_equal(numpy(out.lengths), numpy(lengths))
    np.testing.assert_allclose(numpy(out.state), numpy(final_state), atol=1e-6)
    np.testing.assert_array_equal(numpy(lengths), [4, 1, 1])
