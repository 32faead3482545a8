"""`keras_seq2seq.seq2seq.attention_wrapper` against tfa 0.23, and as a Keras 3 layer.

Parity: every `fn_*`, `mech_*` and `aw_*` fixture recorded by
tensorflow_addons 0.23 (tests/fixtures/tfa), weights mapped by their tfa
attribute `path`. Then Keras 3 use: keras.layers.RNN, symbolic memory in a
functional model, config and `.keras` round trips, mixed precision, errors.
"""

import json
import os
import re

import keras
import numpy as np
import pytest
from keras import ops

from keras_seq2seq.seq2seq import attention_wrapper as aw

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "tfa")
with open(os.path.join(FIXTURES, "manifest.json")) as _file:
    MANIFEST = json.load(_file)["cases"]
ATOL = 1e-5

FN_CASES = sorted(name for name in MANIFEST if name.startswith("fn_"))
MECH_CASES = sorted(
    name
    for name in MANIFEST
    if name.startswith("mech_") and "raises" not in MANIFEST[name]
)
AW_CASES = sorted(name for name in MANIFEST if name.startswith("aw_"))
MECHANISMS = {
    "BahdanauAttention": aw.BahdanauAttention,
    "LuongAttention": aw.LuongAttention,
    "BahdanauMonotonicAttention": aw.BahdanauMonotonicAttention,
    "LuongMonotonicAttention": aw.LuongMonotonicAttention,
}


def load_case(name):
    case = MANIFEST[name]
    return case, dict(np.load(os.path.join(FIXTURES, case["file"])))


def resolve(obj, path):
    """Follows a tfa attribute path such as `_attention_mechanisms[0].query_layer.kernel`."""
    for part in re.findall(r"\[\d+\]|[A-Za-z_]\w*", path):
        obj = obj[int(part[1:-1])] if part.startswith("[") else getattr(obj, part)
    return obj


def assign_weights(obj, case, data):
    for weight in case["weights"]:
        resolve(obj, weight["path"]).assign(data[weight["key"]])


def to_numpy(x):
    return ops.convert_to_numpy(x).astype(np.float64)


def assert_close(actual, expected, atol=ATOL, what=""):
    np.testing.assert_allclose(
        to_numpy(actual), expected, rtol=0, atol=atol, err_msg=what
    )


def constructor_kwargs(spec):
    return {
        k: v
        for k, v in spec.items()
        if k not in ("class", "memory", "memory_sequence_length")
    }


# --------------------------------------------------------------------------
# Functions
# --------------------------------------------------------------------------


@pytest.mark.parametrize("name", FN_CASES)
def test_function_parity(name):
    case, data = load_case(name)
    if name == "fn_hardmax":
        assert_close(aw.hardmax(data["inputs.logits"]), data["outputs.hardmax"])
    elif name == "fn_safe_cumprod":
        for exclusive in (False, True):
            for reverse in (False, True):
                key = f"outputs.exclusive{int(exclusive)}_reverse{int(reverse)}"
                result = aw.safe_cumprod(
                    data["inputs.x"], axis=1, exclusive=exclusive, reverse=reverse
                )
                assert_close(result, data[key], what=key)
    else:
        result = aw.monotonic_attention(
            data["inputs.p_choose_i"],
            data["inputs.previous_attention"],
            case["call"]["mode"],
        )
        assert_close(result, data["outputs.attention"])


def test_monotonic_attention_bad_mode():
    with pytest.raises(ValueError, match="mode"):
        aw.monotonic_attention([[0.5, 0.5]], [[1.0, 0.0]], "soft")


# --------------------------------------------------------------------------
# Attention mechanisms
# --------------------------------------------------------------------------


def make_mechanism(case, data):
    cls = MECHANISMS[case["api"].split(".")[-1]]
    return cls(
        memory=data["inputs.memory"],
        memory_sequence_length=data["inputs.memory_sequence_length"],
        **constructor_kwargs(case["constructor"]),
    )


@pytest.mark.parametrize("name", MECH_CASES)
def test_mechanism_parity(name):
    case, data = load_case(name)
    mechanism = make_mechanism(case, data)
    queries = data["inputs.queries"]
    batch = queries.shape[1]
    mechanism([queries[0], mechanism.initial_state(batch, "float32")])
    # Same variables, in tfa's `.weights` order.
    assert [tuple(w.shape) for w in mechanism.weights] == [
        tuple(w["shape"]) for w in case["weights"]
    ]
    assign_weights(mechanism, case, data)
    # Keys are computed once per memory: set it up again after new weights.
    values = mechanism.setup_memory(
        data["inputs.memory"], data["inputs.memory_sequence_length"]
    )
    assert mechanism.memory_initialized
    assert mechanism.batch_size == batch
    assert mechanism.alignments_size == mechanism.state_size == 5
    assert_close(values, data["outputs.values"])
    assert_close(mechanism.values, data["outputs.values"])
    assert_close(mechanism.keys, data["outputs.keys"])
    state = mechanism.initial_alignments(batch, "float32")
    assert_close(state, data["outputs.initial_alignments"])
    for step in range(queries.shape[0]):
        assert_close(state, data["outputs.states"][step], what=f"state {step}")
        alignments, state = mechanism([queries[step], state])
        assert_close(alignments, data["outputs.alignments"][step], what=f"step {step}")
        assert_close(state, data["outputs.next_states"][step], what=f"step {step}")


@pytest.mark.parametrize("name", ["mech_bahdanau_normalized", "mech_luong_scaled"])
def test_mechanism_set_weights_in_tfa_order(name):
    case, data = load_case(name)
    mechanism = make_mechanism(case, data)
    queries = data["inputs.queries"]
    mechanism([queries[0], mechanism.initial_state(3, "float32")])
    mechanism.set_weights([data[w["key"]] for w in case["weights"]])
    mechanism.setup_memory(data["inputs.memory"], data["inputs.memory_sequence_length"])
    alignments, _ = mechanism([queries[0], data["outputs.states"][0]])
    assert_close(alignments, data["outputs.alignments"][0])


def test_mechanism_zero_length_raises():
    case, data = load_case("mech_bahdanau_zero_length_raises")
    assert "greater than zero" in case["raises"]["message"]
    with pytest.raises(ValueError, match="greater than zero"):
        aw.BahdanauAttention(
            3,
            memory=data["inputs.memory"],
            memory_sequence_length=data["inputs.memory_sequence_length"],
        )


def test_mechanism_tfa_call_forms():
    memory = np.random.default_rng(0).normal(size=(2, 4, 3)).astype("float32")
    mechanism = aw.LuongAttention(5)
    assert not mechanism.memory_initialized
    with pytest.raises(ValueError, match="no memory yet"):
        mechanism([np.zeros((2, 5), "float32"), np.zeros((2, 4), "float32")])
    values = mechanism([memory, np.array([4, 2])], setup_memory=True)
    assert mechanism.memory_initialized
    np.testing.assert_array_equal(to_numpy(values)[1, 2:], 0.0)
    np.testing.assert_allclose(to_numpy(values)[0], memory[0])
    alignments, state = mechanism.call(
        [ops.ones((2, 5)), mechanism.initial_state(2, "float32")]
    )
    np.testing.assert_array_equal(to_numpy(alignments)[1, 2:], 0.0)
    np.testing.assert_allclose(to_numpy(alignments).sum(-1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(to_numpy(alignments), to_numpy(state))


def test_mechanism_memory_mask_and_keras_mask():
    ids = np.array([[3, 4, 5, 0], [6, 7, 0, 0]])
    memory = keras.layers.Embedding(10, 3, mask_zero=True)(ids)
    by_keras_mask = aw.BahdanauAttention(4, memory)
    by_mask = aw.BahdanauAttention(4, memory, dtype="float32")
    by_mask.setup_memory(memory, memory_mask=ids > 0)
    query = np.ones((2, 6), "float32")
    for mechanism in (by_keras_mask, by_mask):
        alignments, _ = mechanism([query, mechanism.initial_state(2, "float32")])
        np.testing.assert_array_equal(to_numpy(alignments) * (ids == 0), 0.0)
        np.testing.assert_array_equal(to_numpy(mechanism.values)[1, 2:], 0.0)


# --------------------------------------------------------------------------
# AttentionWrapper, stepped by hand
# --------------------------------------------------------------------------


def make_wrapper(case, data, alignment_history=None):
    spec = case["constructor"]
    memory = data["inputs.memory"]
    lengths = data["inputs.memory_sequence_length"]
    mechanisms = [
        MECHANISMS[m["class"]](
            memory=memory, memory_sequence_length=lengths, **constructor_kwargs(m)
        )
        for m in spec["attention_mechanism"]
    ]
    if alignment_history is None:
        alignment_history = spec["alignment_history"]
    wrapper = aw.AttentionWrapper(
        keras.layers.LSTMCell(spec["cell"]["units"]),
        mechanisms if spec["attention_mechanism_is_list"] else mechanisms[0],
        attention_layer_size=spec["attention_layer_size"],
        alignment_history=alignment_history,
        output_attention=spec["output_attention"],
    )
    wrapper.build(data["inputs.inputs"].shape[1:])
    assert [tuple(w.shape) for w in wrapper.weights] == [
        tuple(w["shape"]) for w in case["weights"]
    ]
    assign_weights(wrapper, case, data)
    for mechanism in mechanisms:
        mechanism.setup_memory(memory, lengths)
    return wrapper, mechanisms


def fixture_initial_state(wrapper, case, data):
    batch = data["inputs.inputs"].shape[1]
    state = wrapper.get_initial_state(batch_size=batch, dtype="float32")
    if "clone" in case["call"]["initial_state"]:
        state = state.clone(
            cell_state=[data["inputs.encoder_state_h"], data["inputs.encoder_state_c"]]
        )
    return state


def per_mechanism(case, field, value):
    """`{fixture key: value}` for each mechanism's entry of a state field."""
    if not case["constructor"]["attention_mechanism_is_list"]:
        return {field: value}
    return {f"{field}_{i}": item for i, item in enumerate(value)}


def state_arrays(case, state):
    arrays = {
        "cell_state_h": state.cell_state[0],
        "cell_state_c": state.cell_state[1],
        "attention": state.attention,
    }
    arrays.update(per_mechanism(case, "alignments", state.alignments))
    arrays.update(per_mechanism(case, "attention_state", state.attention_state))
    return arrays


@pytest.mark.parametrize("name", AW_CASES)
def test_wrapper_parity(name):
    case, data = load_case(name)
    wrapper, _ = make_wrapper(case, data)
    state = fixture_initial_state(wrapper, case, data)
    for key, value in state_arrays(case, state).items():
        assert_close(value, data[f"outputs.initial_{key}"], what=f"initial {key}")
    steps = {"outputs": []}
    for inputs in data["inputs.inputs"]:
        output, state = wrapper(inputs, state)
        assert isinstance(state, aw.AttentionWrapperState)
        steps["outputs"].append(output)
        for key, value in state_arrays(case, state).items():
            steps.setdefault(key, []).append(value)
    for key, values in steps.items():
        stacked = np.stack([to_numpy(v) for v in values])
        np.testing.assert_allclose(
            stacked, data[f"outputs.{key}"], atol=ATOL, err_msg=key
        )
    if case["constructor"]["alignment_history"]:
        for key, history in per_mechanism(
            case, "alignment_history", state.alignment_history
        ).items():
            assert int(history.size()) == 4
            assert_close(history.stack(), data[f"outputs.{key}"], what=key)
    else:
        assert state.alignment_history == ((), ())


@pytest.mark.parametrize("name", ["aw_two_mechanisms", "aw_luong_layer5_cell_output"])
def test_wrapper_parity_inside_keras_rnn(name):
    case, data = load_case(name)
    wrapper, _ = make_wrapper(case, data, alignment_history=4)
    state = fixture_initial_state(wrapper, case, data)
    rnn = keras.layers.RNN(wrapper, return_sequences=True, return_state=True)
    outputs, *final = rnn(
        np.transpose(data["inputs.inputs"], (1, 0, 2)), initial_state=state
    )
    np.testing.assert_allclose(
        np.transpose(to_numpy(outputs), (1, 0, 2)), data["outputs.outputs"], atol=ATOL
    )
    final = aw.AttentionWrapperState(*final)
    for key, value in state_arrays(case, final).items():
        assert_close(value, data[f"outputs.{key}"][-1], what=key)
    for key, history in per_mechanism(
        case, "alignment_history", final.alignment_history
    ).items():
        assert_close(
            aw.AlignmentHistory(*history).stack(), data[f"outputs.{key}"], what=key
        )


def test_growing_history_refused_by_keras_rnn():
    case, data = load_case("aw_bahdanau_layer5_output_attention")
    wrapper, _ = make_wrapper(case, data)
    rnn = keras.layers.RNN(wrapper)
    with pytest.raises(ValueError, match="alignment_history=<maximum number of steps>"):
        rnn(np.transpose(data["inputs.inputs"], (1, 0, 2)))


def test_wrapper_custom_functions_and_attention_layer():
    case, data = load_case("aw_bahdanau_no_layer_output_attention")
    memory, lengths = data["inputs.memory"], data["inputs.memory_sequence_length"]
    mechanism = aw.BahdanauAttention(5, memory, memory_sequence_length=lengths)
    calls = []

    def attention_fn(attention_mechanism, cell_output, attention_state, layer):
        calls.append(layer)
        alignments, next_state = attention_mechanism([cell_output, attention_state])
        context = ops.matmul(alignments[:, None], attention_mechanism.values)[:, 0]
        return layer(context), alignments, next_state

    wrapper = aw.AttentionWrapper(
        keras.layers.SimpleRNNCell(7),
        mechanism,
        cell_input_fn=lambda inputs, attention: inputs * 2.0,
        attention_layer=keras.layers.Dense(4, activation="tanh"),
        attention_fn=attention_fn,
    )
    state = wrapper.get_initial_state(batch_size=2, dtype="float32")
    assert wrapper.output_size == 4 and tuple(state.attention.shape) == (2, 4)
    output, state = wrapper(data["inputs.inputs"][0], state)
    assert tuple(output.shape) == (2, 4)
    assert calls == [wrapper._attention_layers[0]]
    assert tuple(wrapper._cell.kernel.shape) == (3, 7)  # inputs only


# --------------------------------------------------------------------------
# Alignment history and state helpers
# --------------------------------------------------------------------------


def test_alignment_history_forms_agree():
    rng = np.random.default_rng(1)
    steps = [rng.random((2, 3)).astype("float32") for _ in range(4)]
    growing = aw.AlignmentHistory.empty(2, 3, "float32")
    fixed = aw.AlignmentHistory.empty(2, 3, "float32", capacity=3)
    assert growing.is_growing and growing.capacity is None
    assert fixed.capacity == 3
    for step in steps:
        growing, fixed = growing.append(step), fixed.append(step)
    assert tuple(growing.stack().shape) == (4, 2, 3)
    np.testing.assert_allclose(
        to_numpy(fixed.stack()), np.stack(steps[:3])
    )  # 4th dropped
    np.testing.assert_allclose(to_numpy(growing.read(3)), steps[3])
    reserved = growing.reserve(2)
    assert reserved.capacity == 6 and int(reserved.size()) == 4
    reserved = reserved.append(steps[0])
    np.testing.assert_allclose(to_numpy(reserved.stack()), np.stack(steps + steps[:1]))


def test_reserve_alignment_history_in_a_state():
    case, data = load_case("aw_two_mechanisms")
    wrapper, _ = make_wrapper(case, data)
    state = wrapper.get_initial_state(batch_size=2, dtype="float32")
    state = aw.reserve_alignment_history({"beam": [state]}, 7)["beam"][0]
    assert isinstance(state, aw.AttentionWrapperState)
    assert [h.capacity for h in state.alignment_history] == [7, 7]
    _, state = wrapper(data["inputs.inputs"][0], state)
    assert tuple(state.alignment_history[1].stack().shape) == (1, 2, 5)


def test_state_clone_checks_shapes():
    state = aw.AttentionWrapperState(ops.zeros((2, 3)), ops.zeros((2, 4)), (), (), ())
    assert tuple(state.clone(attention=ops.ones((2, 4))).attention.shape) == (2, 4)
    with pytest.raises(ValueError, match="shape"):
        state.clone(attention=ops.ones((2, 5)))


# --------------------------------------------------------------------------
# Keras 3: compiled RNN, functional models, dynamic batch, saving
# --------------------------------------------------------------------------

T_ENC, T_DEC, DEPTH, UNITS = 5, 4, 6, 8


def functional_model():
    """Encoder outputs -> two mechanisms (symbolic memory) -> RNN(wrapper) -> Dense."""
    encoder_inputs = keras.Input((None, DEPTH))
    lengths = keras.Input((), dtype="int32")
    decoder_inputs = keras.Input((T_DEC, 3))
    h, c = keras.Input((UNITS,)), keras.Input((UNITS,))
    memory = keras.layers.Dense(UNITS, activation="tanh")(encoder_inputs)
    mechanisms = [
        aw.BahdanauAttention(UNITS, memory=memory, memory_sequence_length=lengths),
        aw.LuongMonotonicAttention(
            UNITS, memory_sequence_length=lengths, memory=memory
        ),
    ]
    wrapper = aw.AttentionWrapper(
        keras.layers.LSTMCell(UNITS), mechanisms, attention_layer_size=[7, 2]
    )
    state = wrapper.get_initial_state(batch_size=2, dtype="float32")
    state = state.clone(cell_state=[h, c])
    outputs = keras.layers.RNN(wrapper, return_sequences=True)(
        decoder_inputs, initial_state=state
    )
    outputs = keras.layers.Dense(2)(outputs)
    return keras.Model([encoder_inputs, lengths, decoder_inputs, h, c], outputs)


def functional_inputs(padding_value=-7.0):
    rng = np.random.default_rng(0)
    memory = rng.normal(size=(2, T_ENC, DEPTH)).astype("float32")
    memory[1, 3:] = padding_value  # row 1 has length 3
    decoder = rng.normal(size=(2, T_DEC, 3)).astype("float32")
    h, c = rng.normal(size=(2, 2, UNITS)).astype("float32")
    return [memory, np.array([5, 3], "int32"), decoder, h, c]


def eager_reference(model, inputs):
    """The model's computation with the memory set up eagerly, outside the model."""
    dense_memory, dense_out = (
        x for x in model.layers if isinstance(x, keras.layers.Dense)
    )
    wrapper = next(x for x in model.layers if type(x) is keras.layers.RNN).cell
    memory = dense_memory(inputs[0])
    for mechanism in wrapper._attention_mechanisms:
        mechanism.setup_memory(memory, inputs[1])
    state = wrapper.get_initial_state(batch_size=2, dtype="float32")
    state = state.clone(cell_state=[inputs[3], inputs[4]])
    rnn = keras.layers.RNN(wrapper, return_sequences=True)
    return to_numpy(dense_out(rnn(inputs[2], initial_state=state)))


def test_functional_model_with_symbolic_memory(tmp_path):
    model = functional_model()
    inputs = functional_inputs()
    predicted = model.predict(inputs, verbose=0)  # compiled on every backend
    np.testing.assert_allclose(eager_reference(model, inputs), predicted, atol=ATOL)
    # Whatever the padded memory steps hold changes nothing.
    padded = model.predict(functional_inputs(padding_value=50.0), verbose=0)
    np.testing.assert_allclose(padded, predicted, atol=ATOL)

    path = str(tmp_path / "attention_wrapper.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded.predict(inputs, verbose=0), predicted, atol=ATOL)
    # The memory nodes and the RNN share the mechanisms (and the wrapper).
    wrapper = next(x for x in loaded.layers if type(x) is keras.layers.RNN).cell
    setups = [op.mechanism for op in loaded.operations if hasattr(op, "mechanism")]
    initial = next(op for op in loaded.operations if hasattr(op, "wrapper"))
    assert setups == wrapper._attention_mechanisms
    assert initial.wrapper is wrapper

    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(inputs, np.zeros((2, T_DEC, 2)), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_functional_model_stepped_by_hand():
    memory_inputs = keras.Input((T_ENC, DEPTH))
    step_inputs = keras.Input((T_DEC, 3))
    mechanism = aw.LuongAttention(UNITS)
    mechanism.setup_memory(memory_inputs)
    wrapper = aw.AttentionWrapper(
        keras.layers.GRUCell(UNITS), mechanism, alignment_history=True
    )
    state = wrapper.get_initial_state(batch_size=2)
    outputs = []
    for t in range(2):
        output, state = wrapper(step_inputs[:, t], state)
        outputs.append(output)
    history = state.alignment_history.history
    model = keras.Model([memory_inputs, step_inputs], [outputs[1], history])
    memory, _, steps, _, _ = functional_inputs()
    output, history = model.predict([memory, steps], verbose=0)
    assert history.shape == (2, 2, T_ENC)

    mechanism.setup_memory(memory)
    state = wrapper.get_initial_state(batch_size=2)
    for t in range(2):
        expected, state = wrapper(steps[:, t], state)
    np.testing.assert_allclose(output, to_numpy(expected), atol=ATOL)
    np.testing.assert_allclose(
        np.transpose(history, (1, 0, 2)),
        to_numpy(state.alignment_history.stack()),
        atol=ATOL,
    )


def test_keras_rnn_with_dynamic_batch_in_a_model():
    memory = np.random.default_rng(2).normal(size=(2, T_ENC, DEPTH)).astype("float32")
    mechanism = aw.BahdanauMonotonicAttention(
        UNITS, memory, memory_sequence_length=[5, 2], mode="recursive"
    )
    wrapper = aw.AttentionWrapper(
        keras.layers.LSTMCell(UNITS),
        mechanism,
        attention_layer_size=3,
        alignment_history=T_DEC,
    )
    inputs = keras.Input((T_DEC, 3))  # batch unknown: a dynamic batch size
    rnn = keras.layers.RNN(wrapper, return_sequences=True, return_state=True)
    outputs, *_ = rnn(inputs)
    model = keras.Model(inputs, outputs)
    steps = functional_inputs()[2]
    predicted = model.predict(steps, verbose=0)
    from_inputs = wrapper.get_initial_state(steps)  # batch and dtype from inputs
    assert tuple(from_inputs.attention.shape) == (2, 3)
    state = wrapper.get_initial_state(
        batch_size=ops.convert_to_tensor(2), dtype="float32"
    )
    eager, *_ = rnn(steps, initial_state=state)
    np.testing.assert_allclose(predicted, to_numpy(eager), atol=ATOL)


def test_wrapper_and_mechanism_config_round_trip():
    memory = np.random.default_rng(3).normal(size=(2, T_ENC, DEPTH)).astype("float32")
    mechanisms = [
        aw.BahdanauAttention(4, memory, normalize=True, probability_fn="hardmax"),
        aw.LuongMonotonicAttention(
            UNITS,
            memory,
            scale=True,
            sigmoid_noise=0.5,
            score_bias_init=-1.0,
            mode="hard",
        ),
    ]
    wrapper = aw.AttentionWrapper(
        keras.layers.LSTMCell(UNITS),
        mechanisms,
        attention_layer_size=[3, 2],
        alignment_history=10,
        output_attention=False,
        name="decoder_cell",
    )
    config = wrapper.get_config()
    assert config["attention_mechanism"][0]["config"]["memory"] is None
    clone = aw.AttentionWrapper.from_config(config)
    assert clone.get_config() == config
    assert clone.name == "decoder_cell"
    first, second = clone._attention_mechanisms
    assert isinstance(first, aw.BahdanauAttention) and first.normalize
    assert first.probability_fn == "hardmax"
    assert isinstance(second, aw.LuongMonotonicAttention)
    assert (second.scale, second.mode, second.score_bias_init) == (True, "hard", -1.0)
    assert not first.memory_initialized  # the memory is an input, not config
    for mechanism in mechanisms:
        copy = type(mechanism).from_config(mechanism.get_config())
        assert copy.get_config() == mechanism.get_config()
    revived = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(wrapper)
    )
    assert isinstance(revived, aw.AttentionWrapper)
    assert revived.get_config() == config


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision(policy):
    case, data = load_case("aw_two_mechanisms")
    reference, _ = make_wrapper(case, data, alignment_history=4)
    original = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        wrapper, _ = make_wrapper(case, data, alignment_history=4)
    finally:
        keras.config.set_dtype_policy(original)
    wrapper.set_weights(reference.get_weights())
    for mechanism in wrapper._attention_mechanisms:
        mechanism.setup_memory(
            data["inputs.memory"], data["inputs.memory_sequence_length"]
        )
    half = policy.split("_")[1]
    # float16: oneDNN on CPUs with AVX512-FP16 (TensorFlow) computes in
    # float16 itself and was 0.034 off on one value (within 0.02 with
    # TF_ENABLE_ONEDNN_OPTS=0 or on CPUs without it).
    tolerance = 5e-2 if half == "float16" else 1e-1
    rnn = keras.layers.RNN(
        wrapper, return_sequences=True, return_state=True, dtype=policy
    )
    sequence, *final = rnn(
        np.transpose(data["inputs.inputs"], (1, 0, 2)),
        initial_state=fixture_initial_state(wrapper, case, data),
    )
    final = aw.AttentionWrapperState(*final)
    for tensor in (sequence, final.attention, final.alignments[0]):
        assert keras.backend.standardize_dtype(tensor.dtype) == half
    expected = np.transpose(data["outputs.outputs"], (1, 0, 2))
    assert_close(sequence, expected, atol=tolerance)
    history = aw.AlignmentHistory(*final.alignment_history[1]).stack()
    assert_close(history, data["outputs.alignment_history_1"], atol=tolerance)


def test_registered_apart_from_the_core_mechanisms():
    from keras_seq2seq import attention as core

    for tfa_class, core_class in [
        (aw.BahdanauAttention, core.BahdanauAttention),
        (aw.LuongAttention, core.LuongAttention),
        (aw.BahdanauMonotonicAttention, core.BahdanauMonotonicAttention),
        (aw.LuongMonotonicAttention, core.LuongMonotonicAttention),
    ]:
        for cls in (tfa_class, core_class):
            revived = keras.saving.deserialize_keras_object(
                keras.saving.serialize_keras_object(cls(units=4))
            )
            assert type(revived) is cls


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------


@pytest.fixture
def memory_mechanism():
    memory = np.random.default_rng(4).normal(size=(2, T_ENC, DEPTH)).astype("float32")
    return aw.LuongAttention(UNITS, memory, memory_sequence_length=[5, 3])


def test_error_cell_is_not_a_cell(memory_mechanism):
    with pytest.raises(
        ValueError, match=r"`cell` must be a Keras RNN cell.*Received: cell="
    ):
        aw.AttentionWrapper(keras.layers.Dense(3), memory_mechanism)
    with pytest.raises(ValueError, match="not the keras.layers.RNN/LSTM/GRU layer"):
        aw.AttentionWrapper(keras.layers.LSTM(3), memory_mechanism)
    with pytest.raises(ValueError, match="`cell` must be a Keras RNN cell"):
        aw.AttentionWrapper(lambda x, s: (x, s), memory_mechanism)


def test_error_bad_mechanism_and_layer_arguments(memory_mechanism):
    cell = keras.layers.LSTMCell(UNITS)
    with pytest.raises(ValueError, match="`attention_mechanism` must be"):
        aw.AttentionWrapper(cell, keras.layers.Dense(3))
    with pytest.raises(ValueError, match="one size per attention mechanism"):
        aw.AttentionWrapper(cell, [memory_mechanism], attention_layer_size=[3, 4])
    with pytest.raises(ValueError, match="Only one of `attention_layer_size`"):
        aw.AttentionWrapper(
            cell,
            memory_mechanism,
            attention_layer_size=3,
            attention_layer=keras.layers.Dense(3),
        )
    with pytest.raises(ValueError, match="attention_layer_size"):
        aw.AttentionWrapper(cell, memory_mechanism, attention_layer_size=0)
    with pytest.raises(ValueError, match="alignment_history"):
        aw.AttentionWrapper(cell, memory_mechanism, alignment_history=-1)


def test_error_batch_mismatch_mentions_tile_batch(memory_mechanism):
    wrapper = aw.AttentionWrapper(keras.layers.LSTMCell(UNITS), memory_mechanism)
    with pytest.raises(ValueError, match=r"tile_batch\(\.\.\., multiplier=3\)"):
        wrapper.get_initial_state(batch_size=6, dtype="float32")
    state = wrapper.get_initial_state(batch_size=2, dtype="float32")
    tiled = keras.tree.map_structure(lambda t: ops.repeat(t, 2, axis=0), state)
    with pytest.raises(ValueError, match=r"tile_batch\(\.\.\., multiplier=2\)"):
        wrapper(np.zeros((4, 3), "float32"), tiled)
    with pytest.raises(ValueError, match="same batch size"):
        aw.AttentionWrapper(
            keras.layers.LSTMCell(UNITS),
            memory_mechanism,
            initial_cell_state=[ops.zeros((3, UNITS)), ops.zeros((3, UNITS))],
        )


def test_error_memory_problems():
    wrapper = aw.AttentionWrapper(keras.layers.LSTMCell(UNITS), aw.BahdanauAttention(4))
    with pytest.raises(ValueError, match="no memory yet"):
        wrapper.get_initial_state(batch_size=2, dtype="float32")
    with pytest.raises(ValueError, match="rank 3"):
        aw.BahdanauAttention(4, np.zeros((2, 5), "float32"))
    with pytest.raises(ValueError, match="not both"):
        aw.BahdanauAttention(4).setup_memory(
            np.zeros((2, 5, 3), "float32"), [5, 5], memory_mask=np.ones((2, 5), bool)
        )
    with pytest.raises(ValueError, match="memory_sequence_length"):
        aw.BahdanauAttention(4, np.zeros((2, 5, 3), "float32"), [[5, 5]])
    with pytest.raises(ValueError, match=r"query depth must equal `units`"):
        mechanism = aw.LuongAttention(4, np.zeros((2, 5, 3), "float32"))
        mechanism([np.zeros((2, 6), "float32"), mechanism.initial_state(2, "float32")])
    with pytest.raises(ValueError, match="not supported"):
        aw.BahdanauAttention(4, memory_layer=keras.layers.Dense(4))


def test_error_bad_state(memory_mechanism):
    wrapper = aw.AttentionWrapper(keras.layers.LSTMCell(UNITS), memory_mechanism)
    with pytest.raises(ValueError, match="AttentionWrapperState"):
        wrapper(np.zeros((2, 3), "float32"), [ops.zeros((2, UNITS))])
