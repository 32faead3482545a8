"""AttentionCell: numbers against NumPy, masking, unrolling, symbolic use, config."""

import keras
import numpy as np
import pytest
from conftest import np_softmax
from keras import ops

from keras_seq2seq import AttentionCell, BahdanauAttention, LuongMonotonicAttention

pytestmark = pytest.mark.usefixtures("one_torch_thread")

UNITS, INPUT, MEMORY, TIME, BATCH = 6, 4, 5, 7, 3
VARIANTS = [
    ("gru", "bahdanau"),
    ("gru", "luong"),
    ("lstm", "bahdanau"),
    ("lstm", "luong"),
]


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def np_cell_step(w, cell_type, mechanism, x, states, memory, mask):
    """One step of the cell, written from Luong et al. 2015 and Keras' cells."""
    cell_states, attention, _ = states
    inputs = np.concatenate([x, attention], -1)
    kernel, recurrent, bias = w["rnn_cell/kernel"], w["rnn_cell/recurrent_kernel"], None
    bias = w["rnn_cell/bias"]
    u = UNITS
    if cell_type == "gru":  # reset_after=True; gates z, r, h; bias rows input/recurrent
        (h_prev,) = cell_states
        xs = inputs @ kernel + bias[0]
        hs = h_prev @ recurrent + bias[1]
        z = sigmoid(xs[:, :u] + hs[:, :u])
        r = sigmoid(xs[:, u : 2 * u] + hs[:, u : 2 * u])
        candidate = np.tanh(xs[:, 2 * u :] + r * hs[:, 2 * u :])
        h = z * h_prev + (1 - z) * candidate
        new_cell_states = (h,)
    else:  # gates i, f, c, o
        h_prev, c_prev = cell_states
        gates = inputs @ kernel + h_prev @ recurrent + bias
        i, f = sigmoid(gates[:, :u]), sigmoid(gates[:, u : 2 * u])
        c = f * c_prev + i * np.tanh(gates[:, 2 * u : 3 * u])
        h = sigmoid(gates[:, 3 * u :]) * np.tanh(c)
        new_cell_states = (h, c)
    if mechanism == "bahdanau":
        hidden = (h @ w["mechanism/query_kernel"])[:, None] + memory @ w[
            "mechanism/memory_kernel"
        ]
        scores = np.tanh(hidden) @ w["mechanism/attention_v"]
    else:
        scores = np.einsum("bu,btu->bt", h, memory @ w["mechanism/memory_kernel"])
    alignments = np_softmax(scores[:, None], mask)[:, 0]
    context = np.einsum("bt,btd->bd", alignments, memory)
    attention = np.tanh(
        np.concatenate([h, context], -1) @ w["attention_projection/kernel"]
    )
    return attention, (new_cell_states, attention, alignments)


def randomize(layer, seed=0):
    """Gives every weight distinct random values; returns them by relative path."""
    rng = np.random.default_rng(seed)
    weights = {}
    for variable in layer.weights:
        value = rng.normal(0.0, 0.5, variable.shape).astype("float32")
        variable.assign(value)
        weights[variable.path.split("/", 1)[1]] = value.astype("float64")
    return weights


def inputs_for(cell_type, seed=1):
    rng = np.random.default_rng(seed)
    memory = rng.normal(size=(BATCH, TIME, MEMORY)).astype("float32")
    mask = np.ones((BATCH, TIME), bool)
    mask[1, 4:] = False
    mask[2, 2:] = False
    count = 1 if cell_type == "gru" else 2
    cell_states = tuple(
        rng.normal(size=(BATCH, UNITS)).astype("float32") for _ in range(count)
    )
    xs = rng.normal(size=(BATCH, 3, INPUT)).astype("float32")
    return memory, mask, cell_states, xs


def numpy(structure):
    return keras.tree.map_structure(ops.convert_to_numpy, structure)


@pytest.mark.parametrize("cell_type,mechanism", VARIANTS)
def test_steps_match_numpy_reference(cell_type, mechanism):
    cell = AttentionCell(UNITS, attention=mechanism, cell_type=cell_type)
    cell.build((None, INPUT), (None, TIME, MEMORY))
    weights = randomize(cell)
    memory, mask, cell_states, xs = inputs_for(cell_type)
    state = cell.get_initial_state(memory, cell_states)
    expected_state = numpy(state)
    for step in range(2):  # the second step feeds the first's attention vector
        output, state = cell(xs[:, step], state, memory, memory_mask=mask)
        expected, expected_state = np_cell_step(
            weights, cell_type, mechanism, xs[:, step], expected_state, memory, mask
        )
        np.testing.assert_allclose(ops.convert_to_numpy(output), expected, atol=1e-5)
        for got, want in zip(
            keras.tree.flatten(numpy(state)), keras.tree.flatten(expected_state)
        ):
            np.testing.assert_allclose(got, want, atol=1e-5)
    alignments = ops.convert_to_numpy(state[2])
    assert np.all(alignments[~mask] == 0.0)
    np.testing.assert_allclose(alignments.sum(-1), 1.0, atol=1e-6)


def test_initial_state():
    cell = AttentionCell(UNITS, cell_type="lstm", attention_layer_size=3)
    memory = ops.ones((2, TIME, MEMORY))
    (h, c), attention, alignments = cell.get_initial_state(memory)
    assert tuple(h.shape) == tuple(c.shape) == (2, UNITS)
    assert tuple(attention.shape) == (2, 3) and tuple(alignments.shape) == (2, TIME)
    monotonic = AttentionCell(UNITS, attention=LuongMonotonicAttention(UNITS))
    _, _, alignments = monotonic.get_initial_state(memory)
    assert ops.convert_to_numpy(alignments)[:, 0].tolist() == [1.0, 1.0]


@pytest.mark.parametrize("cell_type", ["gru", "lstm"])
def test_extra_memory_padding_changes_nothing(cell_type):
    cell = AttentionCell(UNITS, cell_type=cell_type)
    memory, mask, cell_states, xs = inputs_for(cell_type)
    padded_memory = np.concatenate(
        [memory, np.full((BATCH, 3, MEMORY), 9.0, "float32")], 1
    )
    padded_mask = np.concatenate([mask, np.zeros((BATCH, 3), bool)], 1)
    outputs, alignments, _ = numpy(
        cell.unroll(xs, cell.get_initial_state(memory, cell_states), memory, mask)
    )
    padded_outputs, padded_alignments, _ = numpy(
        cell.unroll(
            xs,
            cell.get_initial_state(padded_memory, cell_states),
            padded_memory,
            padded_mask,
        )
    )
    np.testing.assert_allclose(padded_outputs, outputs, atol=1e-6)
    np.testing.assert_allclose(padded_alignments[..., :TIME], alignments, atol=1e-6)
    assert np.all(padded_alignments[..., TIME:] == 0.0)


def test_unroll_equals_step_loop():
    cell = AttentionCell(UNITS, attention="luong", cell_type="lstm")
    memory, mask, cell_states, xs = inputs_for("lstm")
    initial = cell.get_initial_state(memory, cell_states)
    outputs, alignments, final = numpy(cell.unroll(xs, initial, memory, mask))
    state = initial
    for step in range(xs.shape[1]):
        output, state = cell(xs[:, step], state, memory, memory_mask=mask)
        np.testing.assert_allclose(
            outputs[:, step], ops.convert_to_numpy(output), atol=1e-6
        )
        np.testing.assert_allclose(
            alignments[:, step], ops.convert_to_numpy(state[2]), atol=1e-6
        )
    for got, want in zip(keras.tree.flatten(final), keras.tree.flatten(numpy(state))):
        np.testing.assert_allclose(got, want, atol=1e-6)


@pytest.mark.parametrize("cell_type", ["gru", "lstm"])
def test_symbolic_functional_use(cell_type):
    cell = AttentionCell(UNITS, cell_type=cell_type)
    count = 1 if cell_type == "gru" else 2
    x = keras.Input((INPUT,))
    memory = keras.Input((TIME, MEMORY))
    mask = keras.Input((TIME,), dtype="bool")
    cell_states = tuple(keras.Input((UNITS,)) for _ in range(count))
    attention, alignments = keras.Input((UNITS,)), keras.Input((TIME,))
    output, (new_cells, new_attention, new_alignments) = cell(
        x, (cell_states, attention, alignments), memory, memory_mask=mask
    )
    assert tuple(output.shape) == (None, UNITS)
    assert tuple(new_alignments.shape) == (None, TIME)
    model = keras.Model(
        [x, memory, mask, *cell_states, attention, alignments],
        [output, new_alignments, *new_cells],
    )
    memory_value, mask_value, cell_values, xs = inputs_for(cell_type)
    zeros = np.zeros((BATCH, UNITS), "float32"), np.zeros((BATCH, TIME), "float32")
    predicted = model.predict(
        [xs[:, 0], memory_value, mask_value, *cell_values, *zeros], verbose=0
    )
    eager_output, eager_state = cell(
        xs[:, 0], (cell_values, *zeros), memory_value, memory_mask=mask_value
    )
    np.testing.assert_allclose(
        predicted[0], ops.convert_to_numpy(eager_output), atol=1e-6
    )
    np.testing.assert_allclose(
        predicted[1], ops.convert_to_numpy(eager_state[2]), atol=1e-6
    )


def test_config_round_trip():
    cell = AttentionCell(
        8,
        attention="bahdanau",
        cell_type="lstm",
        attention_units=5,
        attention_layer_size=7,
        name="decoder",
    )
    clone = AttentionCell.from_config(cell.get_config())
    assert clone.get_config() == cell.get_config()
    assert clone.mechanism.units == 5 and clone.attention_layer_size == 7

    custom = AttentionCell(8, attention=BahdanauAttention(4, normalize=True))
    config = keras.saving.serialize_keras_object(custom)
    restored = keras.saving.deserialize_keras_object(config)
    assert isinstance(restored.mechanism, BahdanauAttention)
    assert restored.mechanism.normalize and restored.mechanism.units == 4
    memory = ops.ones((2, TIME, MEMORY))
    output, _ = restored(
        ops.ones((2, INPUT)), restored.get_initial_state(memory), memory
    )
    assert tuple(output.shape) == (2, 8)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"units": 0}, "units"),
        ({"units": 4, "cell_type": "rnn"}, "cell_type"),
        ({"units": 4, "attention": "dot"}, "attention"),
        ({"units": 4, "attention_layer_size": -2}, "attention_layer_size"),
        ({"units": 4, "attention_units": 1.5}, "attention_units"),
    ],
)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        AttentionCell(**kwargs)


def test_invalid_memory_rank():
    cell = AttentionCell(UNITS)
    with pytest.raises(ValueError, match="memory"):
        cell.build((None, INPUT), (None, MEMORY))
    with pytest.raises(ValueError, match="cell_states"):
        cell.get_initial_state(ops.ones((2, TIME, MEMORY)), (ops.ones((2, UNITS)),) * 2)
