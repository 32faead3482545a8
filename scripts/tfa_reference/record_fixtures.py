"""Record reference outputs of tensorflow_addons 0.23 ``tfa.seq2seq``.

The fixtures let the Keras 3 reimplementation be checked for numerical parity
on every backend without tensorflow_addons installed. Run this with the
separate environment built by ``scripts/tfa_reference/make_venv.sh``::

    .venv-tfa/bin/python scripts/tfa_reference/record_fixtures.py

Each case is written as one compressed ``.npz`` in ``tests/fixtures/tfa`` and
described in ``tests/fixtures/tfa/manifest.json`` (constructor arguments,
weights in tfa's own order, inputs and outputs). Every weight is overwritten
with values drawn from a seeded numpy generator after the tfa object has been
built, so nothing depends on TensorFlow's random number generator.

Array keys inside each ``.npz`` are ``weights.NN`` (position in the tfa
``.weights`` list), ``inputs.<name>`` and ``outputs.<name>``.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import logging
import os
import platform
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Plain Eigen kernels rather than oneDNN: the reference should not depend on
# which CPU recorded it more than necessary.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_addons as tfa  # noqa: E402
from tensorflow_addons.seq2seq import beam_search_decoder as tfa_beam  # noqa: E402

# In eager mode every AttentionWrapper step leaves an unread TensorArray
# behind, which tf_should_use reports at ERROR level; real failures raise.
tf.get_logger().setLevel(logging.CRITICAL)

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT_DIR = REPO_ROOT / "tests" / "fixtures" / "tfa"
F32 = tf.float32


# --------------------------------------------------------------------------
# Generic helpers
# --------------------------------------------------------------------------


def to_fixture_array(value: Any) -> np.ndarray:
    """Converts a tensor / TensorArray / array to float32, int32 or bool numpy."""
    if isinstance(value, tf.TensorArray):
        value = value.stack()
    if hasattr(value, "numpy"):
        value = value.numpy()
    array = np.asarray(value)
    if array.dtype.kind == "f":
        return array.astype(np.float32)
    if array.dtype.kind in "iu":
        return array.astype(np.int32)
    if array.dtype.kind == "b":
        return array
    raise TypeError(f"unsupported dtype for a fixture: {array.dtype}")


def normal(rng: np.random.Generator, *shape: int, scale: float = 1.0) -> np.ndarray:
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def fresh_session(seed: int = 0) -> None:
    """Resets Keras' name counters so variable names do not depend on order."""
    tf.keras.backend.clear_session()
    tf.random.set_seed(seed)


def _is_layer(value: Any) -> bool:
    return isinstance(value, tf.keras.layers.Layer)


def variable_paths(root: tf.keras.layers.Layer) -> dict[int, str]:
    """Maps id(variable) to the shortest Python attribute path from ``root``.

    tfa's variable names are ambiguous in eager mode (both the query and the
    memory layer kernel of a BahdanauAttention are called
    ``BahdanauAttention/kernel:0``), so the attribute path, e.g.
    ``_attention_mechanisms[0].memory_layer.kernel``, is recorded as well.
    """
    paths: dict[int, str] = {}
    visited: set[int] = set()
    queue: list[tuple[Any, str]] = [(root, "")]
    while queue:
        layer, prefix = queue.pop(0)
        if id(layer) in visited:
            continue
        visited.add(id(layer))
        for attr, value in sorted(vars(layer).items()):
            if attr.startswith(("_self_", "_trainable", "_non_trainable")):
                continue
            path = f"{prefix}{attr}"
            if isinstance(value, tf.Variable):
                paths.setdefault(id(value), path)
            elif _is_layer(value):
                queue.append((value, path + "."))
            elif isinstance(value, (list, tuple)):
                for index, item in enumerate(value):
                    if _is_layer(item):
                        queue.append((item, f"{path}[{index}]."))
    return paths


def seeded_value(
    path: str,
    shape: tuple[int, ...],
    rng: np.random.Generator,
    gains: dict[str, float],
) -> np.ndarray:
    """Draws a deterministic value for one variable from its role and shape."""
    leaf = path.rsplit(".", 1)[-1]
    gain = 1.0
    for fragment, fragment_gain in gains.items():
        if fragment in path:
            gain = fragment_gain
    if not shape:
        # attention_g style scalars: positive and away from the default init.
        return np.asarray(rng.uniform(0.5, 1.5), dtype=np.float32)
    if leaf in ("bias", "attention_b"):
        return normal(rng, *shape, scale=0.2)
    if len(shape) == 1:
        return normal(rng, *shape, scale=gain)
    return normal(rng, *shape, scale=gain / np.sqrt(shape[0]))


def assign_seeded_weights(
    root: tf.keras.layers.Layer,
    rng: np.random.Generator,
    gains: dict[str, float] | None = None,
) -> list[dict[str, Any]]:
    """Overwrites every variable of ``root`` (in ``root.weights`` order).

    ``attention_score_bias`` keeps its constant ``score_bias_init`` value so the
    constructor argument stays meaningful. Returns one record per variable.
    """
    gains = gains or {}
    paths = variable_paths(root)
    records = []
    for variable in root.weights:
        path = paths.get(id(variable), "?")
        if path.endswith("attention_score_bias"):
            value = variable.numpy().astype(np.float32)
        else:
            value = seeded_value(path, tuple(variable.shape), rng, gains)
            variable.assign(value)
        records.append({"name": variable.name, "path": path, "value": value})
    if not records:
        raise RuntimeError(f"{root.name} has no weights; was it built?")
    return records


def reset_memory(mechanisms: list, memory: Any, lengths: Any) -> None:
    """Recomputes keys after weight assignment (setup_memory caches them)."""
    for mechanism in mechanisms:
        mechanism.setup_memory(memory, memory_sequence_length=lengths)


def lstm_state(rng: np.random.Generator, batch: int, units: int) -> list[np.ndarray]:
    return [normal(rng, batch, units, scale=0.5), normal(rng, batch, units, scale=0.5)]


def compact_json(value: Any, indent: str = "") -> str:
    """JSON with small containers kept on one line (keeps the manifest short)."""
    flat = json.dumps(value)
    if (
        len(indent) + len(flat) <= 200
        or not isinstance(value, (dict, list))
        or not value
    ):
        return flat
    inner = indent + "  "
    if isinstance(value, dict):
        items = [
            f"{inner}{json.dumps(k)}: {compact_json(v, inner)}"
            for k, v in value.items()
        ]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    items = [inner + compact_json(v, inner) for v in value]
    return "[\n" + ",\n".join(items) + "\n" + indent + "]"


class FixtureWriter:
    """Writes one ``.npz`` per case and collects the manifest entries."""

    def __init__(self, out_dir: Path):
        self.out_dir = out_dir
        self.cases: dict[str, dict[str, Any]] = {}
        self.versions = {
            "tensorflow_addons": tfa.__version__,
            "tensorflow": tf.__version__,
            "keras": importlib.metadata.version("keras"),
            "numpy": np.__version__,
            "python": platform.python_version(),
        }

    def write(
        self,
        name: str,
        *,
        family: str,
        api: str,
        description: str,
        constructor: dict[str, Any] | None = None,
        call: dict[str, Any] | None = None,
        weights: list[dict[str, Any]] | None = None,
        inputs: dict[str, Any],
        outputs: dict[str, Any],
        extra: dict[str, Any] | None = None,
    ) -> None:
        if name in self.cases:
            raise ValueError(f"duplicate case {name}")
        arrays: dict[str, np.ndarray] = {}

        def describe(key: str, array: np.ndarray) -> dict[str, Any]:
            arrays[key] = array
            return {"key": key, "shape": list(array.shape), "dtype": str(array.dtype)}

        weight_entries = []
        for index, record in enumerate(weights or []):
            entry = describe(f"weights.{index:02d}", to_fixture_array(record["value"]))
            weight_entries.append(
                {"name": record["name"], "path": record["path"], **entry}
            )
        entry = {
            "file": f"{name}.npz",
            "family": family,
            "api": api,
            "description": description,
            "constructor": constructor or {},
            "call": call or {},
            "weights": weight_entries,
            "inputs": {
                k: describe(f"inputs.{k}", to_fixture_array(v))
                for k, v in inputs.items()
            },
            "outputs": {
                k: describe(f"outputs.{k}", to_fixture_array(v))
                for k, v in outputs.items()
            },
            "tfa_version": tfa.__version__,
            "tf_version": tf.__version__,
        }
        if extra:
            entry.update(extra)
        np.savez_compressed(self.out_dir / entry["file"], **arrays)
        self.cases[name] = entry
        print(f"  {name}: {len(arrays)} arrays")

    def write_manifest(self) -> None:
        manifest = {
            "generator": "scripts/tfa_reference/record_fixtures.py",
            "regenerate": (
                "bash scripts/tfa_reference/make_venv.sh && "
                ".venv-tfa/bin/python scripts/tfa_reference/record_fixtures.py"
            ),
            "versions": self.versions,
            "conventions": {
                "npz_keys": "weights.NN (tfa .weights order), inputs.<name>, outputs.<name>",
                "dtypes": "floats float32, integers int32, booleans bool",
                "weight_path": "Python attribute path from the recorded tfa object",
                "time_major_outputs": "only where a case says output_time_major",
            },
            "cases": dict(sorted(self.cases.items())),
        }
        (self.out_dir / "manifest.json").write_text(compact_json(manifest) + "\n")


# --------------------------------------------------------------------------
# Free functions: hardmax, safe_cumprod, monotonic_attention
# --------------------------------------------------------------------------


def record_functions(writer: FixtureWriter) -> None:
    rng = np.random.default_rng(100)

    logits = normal(rng, 3, 5)
    logits[1, 3] = logits[1, 1] = 4.0  # a tie: tf.argmax keeps the first index
    logits[2] = [-1.0, -1.0, -1.0, -1.0, -1.0]  # all equal
    writer.write(
        "fn_hardmax",
        family="functions",
        api="tfa.seq2seq.hardmax",
        description="hardmax(logits) with a tie in row 1 and a constant row 2",
        inputs={"logits": logits},
        outputs={"hardmax": tfa.seq2seq.hardmax(logits)},
    )

    x = rng.uniform(0.05, 1.0, size=(3, 6)).astype(np.float32)
    x[1, 2] = 0.0  # clipped to float32 tiny before the log
    x[2, 4] = 1e-30
    outputs = {}
    for exclusive in (False, True):
        for reverse in (False, True):
            key = f"exclusive{int(exclusive)}_reverse{int(reverse)}"
            outputs[key] = tfa.seq2seq.safe_cumprod(
                x, axis=1, exclusive=exclusive, reverse=reverse
            )
    writer.write(
        "fn_safe_cumprod",
        family="functions",
        api="tfa.seq2seq.safe_cumprod",
        description=(
            "safe_cumprod(x, axis=1, exclusive=..., reverse=...) for all four "
            "flag pairs; x contains an exact 0 and 1e-30"
        ),
        call={"axis": 1, "exclusive": [False, True], "reverse": [False, True]},
        inputs={"x": x},
        outputs=outputs,
    )

    batch, length = 3, 6
    p_soft = rng.uniform(0.05, 0.95, size=(batch, length)).astype(np.float32)
    previous_soft = rng.uniform(0.0, 1.0, size=(batch, length)).astype(np.float32)
    previous_soft[0] = np.eye(length, dtype=np.float32)[0]  # the usual start
    previous_soft /= previous_soft.sum(axis=1, keepdims=True)
    p_hard = (rng.uniform(size=(batch, length)) > 0.5).astype(np.float32)
    p_hard[2] = 0.0  # nothing chosen: all-zero attention
    previous_hard = np.eye(length, dtype=np.float32)[[0, 2, 1]]
    for mode in ("parallel", "recursive", "hard"):
        p_choose, previous = (
            (p_hard, previous_hard) if mode == "hard" else (p_soft, previous_soft)
        )
        writer.write(
            f"fn_monotonic_attention_{mode}",
            family="functions",
            api="tfa.seq2seq.monotonic_attention",
            description=f"monotonic_attention(p_choose_i, previous_attention, '{mode}')",
            call={"mode": mode},
            inputs={"p_choose_i": p_choose, "previous_attention": previous},
            outputs={
                "attention": tfa.seq2seq.monotonic_attention(p_choose, previous, mode)
            },
        )


# --------------------------------------------------------------------------
# Attention mechanisms called directly
# --------------------------------------------------------------------------

MECHANISM_BATCH, MECHANISM_TIME, MECHANISM_DEPTH = 3, 5, 6
MECHANISM_LENGTHS = np.array([5, 3, 2], dtype=np.int32)


def run_mechanism_case(
    writer: FixtureWriter,
    name: str,
    cls: type,
    kwargs: dict[str, Any],
    query_depth: int,
    seed: int,
) -> None:
    """Builds ``cls(memory=..., memory_sequence_length=..., **kwargs)`` and calls it
    three times, chaining ``next_state`` as the following ``state``."""
    fresh_session()
    rng = np.random.default_rng(seed)
    memory = normal(rng, MECHANISM_BATCH, MECHANISM_TIME, MECHANISM_DEPTH)
    queries = normal(rng, 3, MECHANISM_BATCH, query_depth)
    lengths = MECHANISM_LENGTHS

    mechanism = cls(memory=memory, memory_sequence_length=lengths, **kwargs)
    initial_state = mechanism.initial_alignments(MECHANISM_BATCH, F32)
    mechanism([tf.constant(queries[0]), initial_state])  # builds every weight
    weights = assign_seeded_weights(mechanism, rng)
    reset_memory([mechanism], memory, lengths)

    kernel = mechanism.memory_layer.kernel.numpy()
    np.testing.assert_allclose(
        mechanism.keys.numpy(), mechanism.values.numpy() @ kernel, rtol=1e-5, atol=1e-5
    )

    state = initial_state
    states, alignments, next_states = [], [], []
    for query in queries:
        states.append(state)
        step_alignments, state = mechanism([tf.constant(query), state])
        alignments.append(step_alignments)
        next_states.append(state)
    alignment_array = np.stack([to_fixture_array(a) for a in alignments])
    if not np.any(alignment_array):
        raise RuntimeError(f"{name}: all alignments are zero, pick other settings")

    constructor = {
        "units": kwargs["units"],
        "memory": "inputs.memory",
        "memory_sequence_length": "inputs.memory_sequence_length",
        **{k: v for k, v in kwargs.items() if k != "units"},
    }
    writer.write(
        name,
        family="attention_mechanism",
        api=f"tfa.seq2seq.{cls.__name__}",
        description=(
            f"{cls.__name__} called as mechanism([query, state]) for 3 chained "
            "steps; step 0 uses mechanism.initial_alignments(batch)"
        ),
        constructor=constructor,
        call={
            "steps": 3,
            "state_chain": "states[s + 1] = next_states[s]",
            "seed_used": seed,
        },
        weights=weights,
        inputs={
            "memory": memory,
            "memory_sequence_length": lengths,
            "queries": queries,
        },
        outputs={
            "initial_alignments": initial_state,
            "values": mechanism.values,
            "keys": mechanism.keys,
            "states": np.stack([to_fixture_array(s) for s in states]),
            "alignments": alignment_array,
            "next_states": np.stack([to_fixture_array(s) for s in next_states]),
        },
    )


def record_attention_mechanisms(writer: FixtureWriter) -> None:
    bahdanau = tfa.seq2seq.BahdanauAttention
    luong = tfa.seq2seq.LuongAttention
    bahdanau_mono = tfa.seq2seq.BahdanauMonotonicAttention
    luong_mono = tfa.seq2seq.LuongMonotonicAttention
    # (case name, class, constructor kwargs, query depth, seed). Luong needs a
    # query as deep as `units`; the hard-mode seeds/biases were picked so the
    # chosen memory position moves forward in some rows and ends at "nothing
    # chosen" (all zeros) in another.
    cases: list[tuple[str, type, dict[str, Any], int, int]] = [
        ("mech_bahdanau", bahdanau, {"units": 4}, 7, 200),
        ("mech_bahdanau_normalized", bahdanau, {"units": 4, "normalize": True}, 7, 201),
        (
            "mech_bahdanau_hardmax",
            bahdanau,
            {"units": 4, "probability_fn": "hardmax"},
            7,
            202,
        ),
        ("mech_luong", luong, {"units": 4}, 4, 203),
        ("mech_luong_scaled", luong, {"units": 4, "scale": True}, 4, 204),
        (
            "mech_luong_hardmax",
            luong,
            {"units": 4, "probability_fn": "hardmax"},
            4,
            205,
        ),
    ]
    for index, mode in enumerate(("parallel", "recursive", "hard")):
        monotonic = {"units": 4, "mode": mode, "sigmoid_noise": 0.0}
        cases += [
            (
                f"mech_bahdanau_monotonic_{mode}",
                bahdanau_mono,
                {**monotonic, "score_bias_init": 0.5},
                7,
                221 if mode == "hard" else 206 + index,
            ),
            (
                f"mech_luong_monotonic_{mode}",
                luong_mono,
                {**monotonic, "score_bias_init": 1.0 if mode == "hard" else -1.0},
                4,
                211 if mode == "hard" else 209 + index,
            ),
        ]
    cases += [
        (
            "mech_bahdanau_monotonic_parallel_normalized",
            bahdanau_mono,
            {
                "units": 4,
                "mode": "parallel",
                "normalize": True,
                "score_bias_init": -1.0,
            },
            7,
            212,
        ),
        (
            "mech_luong_monotonic_recursive_scaled",
            luong_mono,
            {"units": 4, "mode": "recursive", "scale": True, "score_bias_init": 0.5},
            4,
            213,
        ),
    ]
    for name, cls, kwargs, query_depth, seed in cases:
        run_mechanism_case(writer, name, cls, kwargs, query_depth, seed=seed)
    record_zero_length_memory(writer)


def record_zero_length_memory(writer: FixtureWriter) -> None:
    """tfa rejects memory_sequence_length == 0 when scoring (assert_positive)."""
    fresh_session()
    rng = np.random.default_rng(250)
    memory = normal(rng, 2, 4, 3)
    lengths = np.array([4, 0], dtype=np.int32)
    query = normal(rng, 2, 5)
    mechanism = tfa.seq2seq.BahdanauAttention(
        3, memory=memory, memory_sequence_length=lengths
    )
    try:
        mechanism([tf.constant(query), mechanism.initial_alignments(2, F32)])
    except tf.errors.InvalidArgumentError as error:
        lines = [
            line for line in error.message.splitlines() if "greater than zero" in line
        ]
        message = (lines or error.message.splitlines())[0].strip()
        error_type = type(error).__name__
    else:
        raise RuntimeError("expected tfa to reject a zero memory length")
    writer.write(
        "mech_bahdanau_zero_length_raises",
        family="attention_mechanism",
        api="tfa.seq2seq.BahdanauAttention",
        description="a zero memory_sequence_length raises when the mechanism is called",
        constructor={
            "units": 3,
            "memory": "inputs.memory",
            "memory_sequence_length": "inputs.memory_sequence_length",
        },
        inputs={"memory": memory, "memory_sequence_length": lengths, "query": query},
        outputs={"values": mechanism.values},
        extra={"raises": {"type": error_type, "message": message}},
    )


# --------------------------------------------------------------------------
# AttentionWrapper stepped by hand
# --------------------------------------------------------------------------

WRAPPER_BATCH, WRAPPER_TIME, WRAPPER_DEPTH = 2, 5, 6
WRAPPER_LENGTHS = np.array([5, 3], dtype=np.int32)
WRAPPER_UNITS, WRAPPER_INPUT_DEPTH, WRAPPER_STEPS = 7, 3, 4


def make_mechanism(spec: dict[str, Any], memory: Any, lengths: Any):
    kwargs = {k: v for k, v in spec.items() if k != "class"}
    cls = getattr(tfa.seq2seq, spec["class"])
    return cls(memory=memory, memory_sequence_length=lengths, **kwargs)


def structure_outputs(prefix: str, value: Any, multi: bool) -> dict[str, Any]:
    """Names single-mechanism fields ``prefix`` and multi ones ``prefix_<i>``."""
    if multi:
        return {f"{prefix}_{i}": item for i, item in enumerate(value)}
    return {prefix: value}


def run_wrapper_case(
    writer: FixtureWriter,
    name: str,
    mechanism_specs: list[dict[str, Any]],
    wrapper_kwargs: dict[str, Any],
    clone_cell_state: bool,
    seed: int,
) -> None:
    fresh_session()
    rng = np.random.default_rng(seed)
    memory = normal(rng, WRAPPER_BATCH, WRAPPER_TIME, WRAPPER_DEPTH)
    lengths = WRAPPER_LENGTHS
    inputs = normal(rng, WRAPPER_STEPS, WRAPPER_BATCH, WRAPPER_INPUT_DEPTH)
    encoder_state = lstm_state(rng, WRAPPER_BATCH, WRAPPER_UNITS)

    multi = len(mechanism_specs) > 1
    mechanisms = [make_mechanism(spec, memory, lengths) for spec in mechanism_specs]
    cell = tf.keras.layers.LSTMCell(WRAPPER_UNITS, name="decoder_cell")
    wrapper = tfa.seq2seq.AttentionWrapper(
        cell,
        mechanisms if multi else mechanisms[0],
        name="attention_wrapper",
        **wrapper_kwargs,
    )
    warmup_state = wrapper.get_initial_state(batch_size=WRAPPER_BATCH, dtype=F32)
    wrapper(tf.constant(inputs[0]), warmup_state)  # builds every weight
    weights = assign_seeded_weights(wrapper, rng)
    reset_memory(mechanisms, memory, lengths)

    state = wrapper.get_initial_state(batch_size=WRAPPER_BATCH, dtype=F32)
    if clone_cell_state:
        state = state.clone(cell_state=[tf.constant(s) for s in encoder_state])
    initial = state
    steps: dict[str, list[Any]] = {}

    def collect(key: str, value: Any) -> None:
        steps.setdefault(key, []).append(to_fixture_array(value))

    for t in range(WRAPPER_STEPS):
        output, state = wrapper(tf.constant(inputs[t]), state)
        collect("outputs", output)
        collect("cell_state_h", state.cell_state[0])
        collect("cell_state_c", state.cell_state[1])
        collect("attention", state.attention)
        for key, value in structure_outputs(
            "alignments", state.alignments, multi
        ).items():
            collect(key, value)
        for key, value in structure_outputs(
            "attention_state", state.attention_state, multi
        ).items():
            collect(key, value)

    outputs: dict[str, Any] = {
        "initial_cell_state_h": initial.cell_state[0],
        "initial_cell_state_c": initial.cell_state[1],
        "initial_attention": initial.attention,
        **structure_outputs("initial_alignments", initial.alignments, multi),
        **structure_outputs("initial_attention_state", initial.attention_state, multi),
        **{key: np.stack(values) for key, values in steps.items()},
    }
    if wrapper_kwargs.get("alignment_history"):
        outputs.update(
            structure_outputs("alignment_history", state.alignment_history, multi)
        )
    writer.write(
        name,
        family="attention_wrapper",
        api="tfa.seq2seq.AttentionWrapper",
        description=(
            f"AttentionWrapper(LSTMCell({WRAPPER_UNITS}), {len(mechanisms)} mechanism(s)) "
            f"stepped {WRAPPER_STEPS} times by hand: output, state = "
            "wrapper(inputs[t], state); per-step outputs are stacked on axis 0"
        ),
        constructor={
            "cell": {"class": "tf.keras.layers.LSTMCell", "units": WRAPPER_UNITS},
            "attention_mechanism": [
                {
                    **spec,
                    "memory": "inputs.memory",
                    "memory_sequence_length": "inputs.memory_sequence_length",
                }
                for spec in mechanism_specs
            ],
            "attention_mechanism_is_list": multi,
            **wrapper_kwargs,
        },
        call={
            "initial_state": (
                "get_initial_state(batch_size, float32).clone(cell_state="
                "[inputs.encoder_state_h, inputs.encoder_state_c])"
                if clone_cell_state
                else "get_initial_state(batch_size, float32)"
            ),
            "steps": WRAPPER_STEPS,
            "cell_state_order": "LSTMCell state is [h, c]",
        },
        weights=weights,
        inputs={
            "memory": memory,
            "memory_sequence_length": lengths,
            "inputs": inputs,
            "encoder_state_h": encoder_state[0],
            "encoder_state_c": encoder_state[1],
        },
        outputs=outputs,
    )


def record_attention_wrappers(writer: FixtureWriter) -> None:
    bahdanau = {"class": "BahdanauAttention", "units": 5}
    luong = {"class": "LuongAttention", "units": WRAPPER_UNITS}
    monotonic = {
        "class": "BahdanauMonotonicAttention",
        "units": 5,
        "mode": "parallel",
        "score_bias_init": -0.5,
    }
    cases = [
        (
            "aw_bahdanau_layer5_output_attention",
            [bahdanau],
            {
                "attention_layer_size": 5,
                "alignment_history": True,
                "output_attention": True,
            },
            True,
        ),
        (
            "aw_bahdanau_no_layer_output_attention",
            [bahdanau],
            {
                "attention_layer_size": None,
                "alignment_history": True,
                "output_attention": True,
            },
            False,
        ),
        (
            "aw_luong_layer5_cell_output",
            [luong],
            {
                "attention_layer_size": 5,
                "alignment_history": True,
                "output_attention": False,
            },
            True,
        ),
        (
            "aw_luong_no_layer_cell_output",
            [luong],
            {
                "attention_layer_size": None,
                "alignment_history": True,
                "output_attention": False,
            },
            True,
        ),
        (
            "aw_two_mechanisms",
            [bahdanau, luong],
            {
                "attention_layer_size": [4, 3],
                "alignment_history": True,
                "output_attention": True,
            },
            True,
        ),
        (
            "aw_two_mechanisms_no_layer",
            [bahdanau, luong],
            {
                "attention_layer_size": None,
                "alignment_history": False,
                "output_attention": True,
            },
            True,
        ),
        (
            "aw_bahdanau_monotonic_parallel",
            [monotonic],
            {
                "attention_layer_size": None,
                "alignment_history": True,
                "output_attention": True,
            },
            True,
        ),
    ]
    for index, (name, specs, kwargs, clone) in enumerate(cases):
        run_wrapper_case(writer, name, specs, kwargs, clone, seed=300 + index)


# --------------------------------------------------------------------------
# BasicDecoder with TrainingSampler / GreedyEmbeddingSampler
# --------------------------------------------------------------------------

DECODER_BATCH, DECODER_TIME, DECODER_INPUT_DEPTH = 3, 5, 4
DECODER_LENGTHS = np.array([4, 2, 3], dtype=np.int32)
DECODER_UNITS, DECODER_VOCAB = 6, 7


def decoder_outputs(outputs: Any, state: Any, lengths: Any) -> dict[str, Any]:
    result = {
        "rnn_output": outputs.rnn_output,
        "sample_id": outputs.sample_id,
        "final_sequence_lengths": lengths,
    }
    if isinstance(state, tfa.seq2seq.AttentionWrapperState):
        result.update(
            final_cell_state_h=state.cell_state[0],
            final_cell_state_c=state.cell_state[1],
            final_attention=state.attention,
            final_alignments=state.alignments,
            final_attention_state=state.attention_state,
        )
        if isinstance(state.alignment_history, tf.TensorArray):
            result["final_alignment_history"] = state.alignment_history
    elif isinstance(state, (list, tuple)):
        result.update(final_state_h=state[0], final_state_c=state[1])
    else:
        result["final_state"] = state
    return result


def record_training_decoders(writer: FixtureWriter) -> None:
    rng = np.random.default_rng(400)
    fresh_session()
    inputs = normal(rng, DECODER_BATCH, DECODER_TIME, DECODER_INPUT_DEPTH)
    initial_state = lstm_state(rng, DECODER_BATCH, DECODER_UNITS)
    cell = tf.keras.layers.LSTMCell(DECODER_UNITS, name="decoder_cell")
    output_layer = tf.keras.layers.Dense(DECODER_VOCAB, name="output_layer")
    decoder = tfa.seq2seq.BasicDecoder(
        cell,
        tfa.seq2seq.TrainingSampler(),
        output_layer=output_layer,
        name="basic_decoder",
    )
    call_kwargs = {
        "sequence_length": DECODER_LENGTHS,
        "initial_state": [tf.constant(s) for s in initial_state],
    }
    decoder(inputs, **call_kwargs)  # builds cell and output layer
    weights = assign_seeded_weights(decoder, rng)
    constructor = {
        "cell": {"class": "tf.keras.layers.LSTMCell", "units": DECODER_UNITS},
        "sampler": {"class": "TrainingSampler", "time_major": False},
        "output_layer": {"class": "tf.keras.layers.Dense", "units": DECODER_VOCAB},
    }
    recorded_inputs = {
        "inputs": inputs,
        "sequence_length": DECODER_LENGTHS,
        "initial_state_h": initial_state[0],
        "initial_state_c": initial_state[1],
    }

    outputs, state, lengths = decoder(inputs, **call_kwargs)
    writer.write(
        "decoder_training_lstm",
        family="basic_decoder",
        api="tfa.seq2seq.BasicDecoder + TrainingSampler",
        description=(
            "decoder(inputs, sequence_length=..., initial_state=[h, c]); decoding "
            "runs max(sequence_length) steps; rows past their length keep "
            "being computed (no impute_finished)"
        ),
        constructor=constructor,
        call={"impute_finished": False, "output_time_major": False},
        weights=weights,
        inputs=recorded_inputs,
        outputs=decoder_outputs(outputs, state, lengths),
    )

    outputs, state, lengths = tfa.seq2seq.dynamic_decode(
        decoder,
        impute_finished=True,
        decoder_init_input=tf.constant(inputs),
        decoder_init_kwargs=dict(call_kwargs),
    )
    writer.write(
        "decoder_training_lstm_impute_finished",
        family="basic_decoder",
        api="tfa.seq2seq.dynamic_decode(BasicDecoder + TrainingSampler)",
        description=(
            "same weights as decoder_training_lstm, through "
            "dynamic_decode(decoder, impute_finished=True, decoder_init_input=inputs, "
            "decoder_init_kwargs={sequence_length, initial_state}): finished rows "
            "emit zeros and copy their state through"
        ),
        constructor=constructor,
        call={"impute_finished": True, "output_time_major": False},
        weights=weights,
        inputs=recorded_inputs,
        outputs=decoder_outputs(outputs, state, lengths),
    )


GREEDY_BATCH, GREEDY_VOCAB, GREEDY_EMBED, GREEDY_MAX_ITER = 3, 8, 4, 6
GREEDY_START = np.array([1, 3, 4], dtype=np.int32)
GREEDY_END = 2


def build_greedy(kind: str, seed: int):
    """Returns (decoder, call kwargs, recorded inputs, weights, constructor)."""
    fresh_session()
    rng = np.random.default_rng(seed)
    embedding = normal(rng, GREEDY_VOCAB, GREEDY_EMBED)
    recorded_inputs: dict[str, Any] = {
        "embedding": embedding,
        "start_tokens": GREEDY_START,
        "end_token": np.int32(GREEDY_END),
    }
    output_layer = tf.keras.layers.Dense(GREEDY_VOCAB, name="output_layer")
    mechanisms: list = []
    if kind == "attention_lstm":
        memory = normal(rng, GREEDY_BATCH, 5, WRAPPER_DEPTH)
        lengths = np.array([5, 2, 4], dtype=np.int32)
        encoder_state = lstm_state(rng, GREEDY_BATCH, DECODER_UNITS)
        mechanisms = [
            tfa.seq2seq.BahdanauAttention(
                4, memory=memory, memory_sequence_length=lengths
            )
        ]
        cell = tfa.seq2seq.AttentionWrapper(
            tf.keras.layers.LSTMCell(DECODER_UNITS, name="decoder_cell"),
            mechanisms[0],
            attention_layer_size=5,
            alignment_history=True,
            name="attention_wrapper",
        )
        recorded_inputs.update(
            memory=memory,
            memory_sequence_length=lengths,
            encoder_state_h=encoder_state[0],
            encoder_state_c=encoder_state[1],
        )
        cell_spec = {
            "class": "tfa.seq2seq.AttentionWrapper",
            "cell": {"class": "tf.keras.layers.LSTMCell", "units": DECODER_UNITS},
            "attention_mechanism": {
                "class": "BahdanauAttention",
                "units": 4,
                "memory": "inputs.memory",
                "memory_sequence_length": "inputs.memory_sequence_length",
            },
            "attention_layer_size": 5,
            "alignment_history": True,
            "initial_state": (
                "get_initial_state(batch_size, float32).clone(cell_state="
                "[inputs.encoder_state_h, inputs.encoder_state_c])"
            ),
        }

        def initial_state():
            state = cell.get_initial_state(batch_size=GREEDY_BATCH, dtype=F32)
            return state.clone(cell_state=[tf.constant(s) for s in encoder_state])

    else:
        encoder_state = normal(rng, GREEDY_BATCH, DECODER_UNITS, scale=0.5)
        cell = tf.keras.layers.GRUCell(DECODER_UNITS, name="decoder_cell")
        recorded_inputs["initial_state"] = encoder_state
        cell_spec = {
            "class": "tf.keras.layers.GRUCell",
            "units": DECODER_UNITS,
            "reset_after": True,
            "initial_state": "inputs.initial_state",
        }

        def initial_state():
            return tf.constant(encoder_state)

    decoder = tfa.seq2seq.BasicDecoder(
        cell,
        tfa.seq2seq.GreedyEmbeddingSampler(),
        output_layer=output_layer,
        maximum_iterations=GREEDY_MAX_ITER,
        name="basic_decoder",
    )

    def call_kwargs():
        return {
            "start_tokens": GREEDY_START,
            "end_token": GREEDY_END,
            "initial_state": initial_state(),
        }

    decoder(embedding, **call_kwargs())  # builds everything
    weights = assign_seeded_weights(decoder, rng, gains={"output_layer": 3.0})
    if mechanisms:
        reset_memory(
            mechanisms,
            recorded_inputs["memory"],
            recorded_inputs["memory_sequence_length"],
        )
    constructor = {
        "cell": cell_spec,
        "sampler": {"class": "GreedyEmbeddingSampler", "embedding_fn": None},
        "output_layer": {"class": "tf.keras.layers.Dense", "units": GREEDY_VOCAB},
        "maximum_iterations": GREEDY_MAX_ITER,
    }
    return decoder, call_kwargs, recorded_inputs, weights, constructor


def greedy_is_interesting(lengths: np.ndarray) -> bool:
    """At least one row stops on end_token early and one runs for a while."""
    return bool(lengths.min() < GREEDY_MAX_ITER and lengths.max() >= 3)


def record_greedy_decoders(writer: FixtureWriter) -> None:
    for kind in ("attention_lstm", "gru"):
        for seed in range(500, 600):
            decoder, call_kwargs, inputs, weights, constructor = build_greedy(
                kind, seed
            )
            outputs, state, lengths = decoder(inputs["embedding"], **call_kwargs())
            if greedy_is_interesting(lengths.numpy()):
                break
        else:
            raise RuntimeError(f"no seed gives an early end_token for {kind}")
        writer.write(
            f"decoder_greedy_{kind}",
            family="basic_decoder",
            api="tfa.seq2seq.BasicDecoder + GreedyEmbeddingSampler",
            description=(
                "decoder(embedding, start_tokens=..., end_token=..., initial_state=...) "
                f"with maximum_iterations={GREEDY_MAX_ITER}; final_sequence_lengths "
                "count the end_token step; rows keep decoding after they finish"
            ),
            constructor=constructor,
            call={
                "impute_finished": False,
                "output_time_major": False,
                "seed_used": seed,
            },
            weights=weights,
            inputs=inputs,
            outputs=decoder_outputs(outputs, state, lengths),
        )
        if kind == "gru":
            outputs, state, lengths = tfa.seq2seq.dynamic_decode(
                decoder,
                output_time_major=True,
                maximum_iterations=GREEDY_MAX_ITER,
                decoder_init_input=tf.constant(inputs["embedding"]),
                decoder_init_kwargs=call_kwargs(),
            )
            writer.write(
                "decoder_greedy_gru_time_major",
                family="basic_decoder",
                api="tfa.seq2seq.dynamic_decode(BasicDecoder + GreedyEmbeddingSampler)",
                description=(
                    "same weights as decoder_greedy_gru, through dynamic_decode("
                    "decoder, output_time_major=True, maximum_iterations=6, ...): "
                    "rnn_output is [time, batch, vocab], sample_id [time, batch]"
                ),
                constructor=constructor,
                call={
                    "impute_finished": False,
                    "output_time_major": True,
                    "seed_used": seed,
                },
                weights=weights,
                inputs=inputs,
                outputs=decoder_outputs(outputs, state, lengths),
            )


# --------------------------------------------------------------------------
# Scheduled sampling (only the deterministic probabilities 0 and 1)
# --------------------------------------------------------------------------


def record_scheduled_samplers(writer: FixtureWriter) -> None:
    vocab, embed = 6, DECODER_INPUT_DEPTH
    for sampler_kind in ("embedding", "output"):
        for probability in (0.0, 1.0):
            for seed in range(600, 700):
                fresh_session(seed)
                rng = np.random.default_rng(seed)
                inputs = normal(rng, DECODER_BATCH, DECODER_TIME, DECODER_INPUT_DEPTH)
                initial_state = lstm_state(rng, DECODER_BATCH, DECODER_UNITS)
                embedding = normal(rng, vocab, embed)
                if sampler_kind == "embedding":
                    sampler = tfa.seq2seq.ScheduledEmbeddingTrainingSampler(
                        probability, seed=1, scheduling_seed=2
                    )
                    out_units, gains = vocab, {"output_layer": 1000.0}
                    init_kwargs: dict[str, Any] = {"embedding": embedding}
                else:
                    sampler = tfa.seq2seq.ScheduledOutputTrainingSampler(
                        probability, seed=1
                    )
                    out_units, gains = DECODER_INPUT_DEPTH, {}
                    init_kwargs = {}
                decoder = tfa.seq2seq.BasicDecoder(
                    tf.keras.layers.LSTMCell(DECODER_UNITS, name="decoder_cell"),
                    sampler,
                    output_layer=tf.keras.layers.Dense(out_units, name="output_layer"),
                    name="basic_decoder",
                )
                call_kwargs = {
                    "sequence_length": DECODER_LENGTHS,
                    "initial_state": [tf.constant(s) for s in initial_state],
                    **init_kwargs,
                }
                decoder(inputs, **call_kwargs)
                weights = assign_seeded_weights(decoder, rng, gains=gains)
                outputs, state, lengths = decoder(inputs, **call_kwargs)
                if sampler_kind == "output" or probability == 0.0:
                    break
                # Categorical draws equal the argmax only when logits are peaked.
                logits = np.sort(outputs.rnn_output.numpy(), axis=-1)
                margin = float((logits[..., -1] - logits[..., -2]).min())
                argmax = outputs.rnn_output.numpy().argmax(-1)
                if margin > 20.0 and np.array_equal(argmax, outputs.sample_id.numpy()):
                    break
            else:
                raise RuntimeError("no seed gives peaked logits for scheduled sampling")

            name = f"sampler_scheduled_{sampler_kind}_p{int(probability)}"
            recorded_inputs = {
                "inputs": inputs,
                "sequence_length": DECODER_LENGTHS,
                "initial_state_h": initial_state[0],
                "initial_state_c": initial_state[1],
            }
            if sampler_kind == "embedding":
                recorded_inputs["embedding"] = embedding
                api = "tfa.seq2seq.ScheduledEmbeddingTrainingSampler"
                note = (
                    "sample_id is -1 where the input was read and a categorical "
                    "draw elsewhere; with p=1 the logits are made so peaked "
                    "(top-1 logit margin > 20) that the draw equals argmax"
                )
                sampler_spec = {
                    "class": "ScheduledEmbeddingTrainingSampler",
                    "sampling_probability": probability,
                    "embedding": "inputs.embedding (passed to initialize)",
                    "seed": 1,
                    "scheduling_seed": 2,
                }
            else:
                api = "tfa.seq2seq.ScheduledOutputTrainingSampler"
                note = (
                    "sample_id is an int32 0/1 'sampled' flag (the docstring says bool); sampled rows feed "
                    "rnn_output (the Dense output) back as the next input"
                )
                sampler_spec = {
                    "class": "ScheduledOutputTrainingSampler",
                    "sampling_probability": probability,
                    "seed": 1,
                }
            writer.write(
                name,
                family="scheduled_sampler",
                api=f"tfa.seq2seq.BasicDecoder + {api.rsplit('.', 1)[-1]}",
                description=f"BasicDecoder over LSTMCell with sampling_probability={probability}; {note}",
                constructor={
                    "cell": {
                        "class": "tf.keras.layers.LSTMCell",
                        "units": DECODER_UNITS,
                    },
                    "sampler": sampler_spec,
                    "output_layer": {
                        "class": "tf.keras.layers.Dense",
                        "units": out_units,
                    },
                },
                call={"impute_finished": False, "seed_used": seed},
                weights=weights,
                inputs=recorded_inputs,
                outputs=decoder_outputs(outputs, state, lengths),
            )


# --------------------------------------------------------------------------
# sequence_loss / SequenceLoss
# --------------------------------------------------------------------------


def record_sequence_loss(writer: FixtureWriter) -> None:
    rng = np.random.default_rng(700)
    batch, time, classes = 3, 4, 5
    logits = normal(rng, batch, time, classes, scale=2.0)
    targets = rng.integers(0, classes, size=(batch, time)).astype(np.int32)
    weights = np.array(
        [[1.0, 1.0, 1.0, 0.0], [1.0, 0.5, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]],
        dtype=np.float32,
    )
    flag_names = (
        "average_across_timesteps",
        "average_across_batch",
        "sum_over_timesteps",
        "sum_over_batch",
    )
    outputs, combos = {}, []
    for code in range(16):
        flags = {flag: bool(code >> (3 - i) & 1) for i, flag in enumerate(flag_names)}
        key = "loss_" + "".join(str(int(v)) for v in flags.values())
        combo: dict[str, Any] = {"flags": flags}
        try:
            outputs[key] = tfa.seq2seq.sequence_loss(logits, targets, weights, **flags)
            combo["output"] = f"outputs.{key}"
        except ValueError as error:
            combo["raises"] = {"type": "ValueError", "message": str(error)}
        combos.append(combo)
    writer.write(
        "loss_sequence_loss_flags",
        family="sequence_loss",
        api="tfa.seq2seq.sequence_loss",
        description=(
            "sequence_loss(logits, targets, weights, **flags) for all 16 flag "
            "combinations; output keys are loss_<att><atb><sot><sob> with 0/1 "
            "per flag in the order of 'flag_order'; row 2 of weights is all zero"
        ),
        call={"flag_order": list(flag_names)},
        inputs={"logits": logits, "targets": targets, "weights": weights},
        outputs=outputs,
        extra={"combinations": combos},
    )

    loss = tfa.seq2seq.SequenceLoss()
    writer.write(
        "loss_sequence_loss_class_defaults",
        family="sequence_loss",
        api="tfa.seq2seq.SequenceLoss",
        description=(
            "SequenceLoss()(y_true=targets, y_pred=logits, sample_weight=weights) "
            "with the class defaults (sum_over_timesteps=True, sum_over_batch=True, "
            "both averages False): total weighted loss / count_nonzero(weights)"
        ),
        constructor={
            "average_across_timesteps": loss.average_across_timesteps,
            "average_across_batch": loss.average_across_batch,
            "sum_over_timesteps": loss.sum_over_timesteps,
            "sum_over_batch": loss.sum_over_batch,
        },
        inputs={"y_true": targets, "y_pred": logits, "sample_weight": weights},
        outputs={"loss": loss(targets, logits, sample_weight=weights)},
    )

    one_hot = tf.one_hot(targets, classes).numpy()
    writer.write(
        "loss_sequence_loss_one_hot_targets",
        family="sequence_loss",
        api="tfa.seq2seq.sequence_loss",
        description="rank-3 one-hot targets (softmax_cross_entropy path), default flags",
        inputs={"logits": logits, "targets": one_hot, "weights": weights},
        outputs={"loss": tfa.seq2seq.sequence_loss(logits, one_hot, weights)},
    )


# --------------------------------------------------------------------------
# Beam search: tile_batch, gather_tree, BeamSearchDecoder
# --------------------------------------------------------------------------

BEAM_BATCH, BEAM_WIDTH, BEAM_VOCAB, BEAM_EMBED = 2, 3, 8, 4
BEAM_UNITS, BEAM_MAX_ITER, BEAM_START, BEAM_END = 6, 6, 1, 2
BEAM_LENGTHS = np.array([5, 3], dtype=np.int32)


def gather_tree_uses_custom_op() -> bool:
    try:
        tfa_beam._beam_search_so.ops  # noqa: B018 - loading is the check
    except tf.errors.NotFoundError:
        return False
    return True


def record_tile_and_gather(writer: FixtureWriter) -> None:
    rng = np.random.default_rng(800)
    memory = normal(rng, BEAM_BATCH, 5, WRAPPER_DEPTH)
    state = lstm_state(rng, BEAM_BATCH, BEAM_UNITS)
    tiled = tfa.seq2seq.tile_batch([memory, BEAM_LENGTHS, state], multiplier=BEAM_WIDTH)
    writer.write(
        "beam_tile_batch",
        family="beam_search",
        api="tfa.seq2seq.tile_batch",
        description=(
            "tile_batch(structure, multiplier=3) repeats each batch row 3 times "
            "consecutively (row-major [b0, b0, b0, b1, ...], not tf.tile)"
        ),
        call={"multiplier": BEAM_WIDTH},
        inputs={
            "memory": memory,
            "memory_sequence_length": BEAM_LENGTHS,
            "state_h": state[0],
            "state_c": state[1],
        },
        outputs={
            "memory": tiled[0],
            "memory_sequence_length": tiled[1],
            "state_h": tiled[2][0],
            "state_c": tiled[2][1],
        },
    )

    end = 2
    # [time=6, batch=2, beam=3]
    step_ids = np.array(
        [
            [[4, 5, 6], [3, 7, 1]],
            [[2, 6, 4], [5, 3, 6]],
            [[7, 2, 3], [4, 6, 2]],
            [[5, 4, 6], [3, 5, 7]],
            [[6, 3, 2], [7, 4, 3]],
            [[3, 7, 5], [6, 3, 4]],
        ],
        dtype=np.int32,
    )
    parent_ids = np.array(
        [
            [[0, 0, 0], [0, 0, 0]],
            [[0, 0, 1], [2, 1, 0]],
            [[2, 1, 0], [1, 1, 2]],
            [[1, 0, 2], [0, 2, 1]],
            [[0, 2, 1], [1, 0, 0]],
            [[2, 2, 0], [2, 1, 1]],
        ],
        dtype=np.int32,
    )
    max_lengths = np.array([6, 4], dtype=np.int32)
    result = tfa.seq2seq.gather_tree(step_ids, parent_ids, max_lengths, end)
    writer.write(
        "beam_gather_tree",
        family="beam_search",
        api="tfa.seq2seq.gather_tree",
        description=(
            "gather_tree(step_ids, parent_ids, max_sequence_lengths, end_token) on "
            "hand-made time-major [time, batch, beam] ids; steps past "
            "max_sequence_lengths and after the first end_token become end_token"
        ),
        call={"end_token": end},
        inputs={
            "step_ids": step_ids,
            "parent_ids": parent_ids,
            "max_sequence_lengths": max_lengths,
        },
        outputs={"beams": result},
        extra={"tfa_custom_op_used": gather_tree_uses_custom_op()},
    )


def build_beam_decoder(
    with_attention: bool,
    seed: int,
    length_penalty_weight: float,
    coverage_penalty_weight: float,
):
    """Returns (decoder, call kwargs factory, recorded inputs, weights, constructor)."""
    fresh_session()
    rng = np.random.default_rng(seed)
    embedding = normal(rng, BEAM_VOCAB, BEAM_EMBED)
    memory = normal(rng, BEAM_BATCH, 5, WRAPPER_DEPTH)
    encoder_state = lstm_state(rng, BEAM_BATCH, BEAM_UNITS)
    start_tokens = np.full([BEAM_BATCH], BEAM_START, dtype=np.int32)
    tiled_memory = tfa.seq2seq.tile_batch(memory, BEAM_WIDTH)
    tiled_lengths = tfa.seq2seq.tile_batch(BEAM_LENGTHS, BEAM_WIDTH)
    tiled_state = tfa.seq2seq.tile_batch(encoder_state, BEAM_WIDTH)
    recorded_inputs: dict[str, Any] = {
        "embedding": embedding,
        "start_tokens": start_tokens,
        "end_token": np.int32(BEAM_END),
        "encoder_state_h": encoder_state[0],
        "encoder_state_c": encoder_state[1],
        "tiled_encoder_state_h": tiled_state[0],
        "tiled_encoder_state_c": tiled_state[1],
    }
    lstm = tf.keras.layers.LSTMCell(BEAM_UNITS, name="decoder_cell")
    mechanisms: list = []
    if with_attention:
        mechanisms = [
            tfa.seq2seq.BahdanauAttention(
                5, memory=tiled_memory, memory_sequence_length=tiled_lengths
            )
        ]
        cell = tfa.seq2seq.AttentionWrapper(
            lstm, mechanisms[0], attention_layer_size=5, name="attention_wrapper"
        )
        recorded_inputs.update(
            memory=memory,
            memory_sequence_length=BEAM_LENGTHS,
            tiled_memory=tiled_memory,
            tiled_memory_sequence_length=tiled_lengths,
        )
        cell_spec: dict[str, Any] = {
            "class": "tfa.seq2seq.AttentionWrapper",
            "cell": {"class": "tf.keras.layers.LSTMCell", "units": BEAM_UNITS},
            "attention_mechanism": {
                "class": "BahdanauAttention",
                "units": 5,
                "memory": "inputs.tiled_memory",
                "memory_sequence_length": "inputs.tiled_memory_sequence_length",
            },
            "attention_layer_size": 5,
            "initial_state": (
                "get_initial_state(batch_size=batch*beam_width, float32).clone("
                "cell_state=[inputs.tiled_encoder_state_h, inputs.tiled_encoder_state_c])"
            ),
        }

        def initial_state():
            state = cell.get_initial_state(
                batch_size=BEAM_BATCH * BEAM_WIDTH, dtype=F32
            )
            return state.clone(cell_state=list(tiled_state))

    else:
        cell = lstm
        cell_spec = {
            "class": "tf.keras.layers.LSTMCell",
            "units": BEAM_UNITS,
            "initial_state": "[inputs.tiled_encoder_state_h, inputs.tiled_encoder_state_c]",
        }

        def initial_state():
            return list(tiled_state)

    decoder = tfa.seq2seq.BeamSearchDecoder(
        cell,
        beam_width=BEAM_WIDTH,
        output_layer=tf.keras.layers.Dense(BEAM_VOCAB, name="output_layer"),
        length_penalty_weight=length_penalty_weight,
        coverage_penalty_weight=coverage_penalty_weight,
        maximum_iterations=BEAM_MAX_ITER,
        name="beam_search_decoder",
    )

    def call_kwargs():
        return {
            "start_tokens": start_tokens,
            "end_token": BEAM_END,
            "initial_state": initial_state(),
        }

    decoder(embedding, **call_kwargs())  # builds everything
    weights = assign_seeded_weights(decoder, rng, gains={"output_layer": 3.0})
    reset_memory(mechanisms, tiled_memory, tiled_lengths)
    constructor = {
        "cell": cell_spec,
        "beam_width": BEAM_WIDTH,
        "output_layer": {"class": "tf.keras.layers.Dense", "units": BEAM_VOCAB},
        "length_penalty_weight": length_penalty_weight,
        "coverage_penalty_weight": coverage_penalty_weight,
        "maximum_iterations": BEAM_MAX_ITER,
        "reorder_tensor_arrays": True,
    }
    return decoder, call_kwargs, recorded_inputs, weights, constructor


def beam_outputs(outputs: Any, state: Any, lengths: Any) -> dict[str, Any]:
    step = outputs.beam_search_decoder_output
    result = {
        "predicted_ids": outputs.predicted_ids,
        "step_scores": step.scores,
        "step_predicted_ids": step.predicted_ids,
        "step_parent_ids": step.parent_ids,
        "final_log_probs": state.log_probs,
        "final_lengths": state.lengths,
        "final_finished": state.finished,
        "final_sequence_lengths": lengths,
    }
    if isinstance(state.accumulated_attention_probs, tf.Tensor):
        result["final_accumulated_attention_probs"] = state.accumulated_attention_probs
    cell_state = state.cell_state
    if isinstance(cell_state, tfa.seq2seq.AttentionWrapperState):
        result.update(
            final_cell_state_h=cell_state.cell_state[0],
            final_cell_state_c=cell_state.cell_state[1],
            final_attention=cell_state.attention,
            final_alignments=cell_state.alignments,
        )
    else:
        result.update(
            final_cell_state_h=cell_state[0], final_cell_state_c=cell_state[1]
        )
    return result


def beam_is_interesting(state: Any) -> bool:
    finished = state.finished.numpy()
    lengths = state.lengths.numpy()
    return bool(np.any(finished & (lengths < BEAM_MAX_ITER)) and lengths.max() >= 3)


def record_beam_search(writer: FixtureWriter) -> None:
    record_tile_and_gather(writer)
    variants = [
        (True, 0.0, 0.0),
        (True, 0.6, 0.0),
        (True, 0.0, 0.4),
        (True, 0.6, 0.4),
        (False, 0.0, 0.0),
        (False, 0.6, 0.0),
    ]
    chosen_seed: dict[bool, int] = {}
    for with_attention, length_penalty, coverage_penalty in variants:
        if with_attention not in chosen_seed:
            for seed in range(900, 1000):
                decoder, call_kwargs, inputs, _, _ = build_beam_decoder(
                    with_attention, seed, 0.0, 0.0
                )
                _, state, _ = decoder(inputs["embedding"], **call_kwargs())
                if beam_is_interesting(state):
                    chosen_seed[with_attention] = seed
                    break
            else:
                raise RuntimeError("no seed finishes a beam early")
        seed = chosen_seed[with_attention]
        decoder, call_kwargs, inputs, weights, constructor = build_beam_decoder(
            with_attention, seed, length_penalty, coverage_penalty
        )
        outputs, state, lengths = decoder(inputs["embedding"], **call_kwargs())
        kind = "attention_lstm" if with_attention else "lstm"
        name = f"beam_search_{kind}_lp{length_penalty:g}_cp{coverage_penalty:g}"
        writer.write(
            name.replace(".", ""),
            family="beam_search",
            api="tfa.seq2seq.BeamSearchDecoder",
            description=(
                "decoder(embedding, start_tokens=..., end_token=..., "
                "initial_state=...) with batch 2, beam_width 3; predicted_ids is the "
                "gather_tree result [batch, time, beam], step_* are the raw "
                "BeamSearchDecoderOutput fields; all variants of one cell share "
                "weights (same seed)"
            ),
            constructor=constructor,
            call={"output_time_major": False, "seed_used": seed},
            weights=weights,
            inputs=inputs,
            outputs=beam_outputs(outputs, state, lengths),
        )


# --------------------------------------------------------------------------


FAMILIES: dict[str, Callable[[FixtureWriter], None]] = {
    "functions": record_functions,
    "attention_mechanisms": record_attention_mechanisms,
    "attention_wrappers": record_attention_wrappers,
    "training_decoders": record_training_decoders,
    "greedy_decoders": record_greedy_decoders,
    "scheduled_samplers": record_scheduled_samplers,
    "sequence_loss": record_sequence_loss,
    "beam_search": record_beam_search,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR)
    args = parser.parse_args(argv)
    if not tfa.__version__.startswith("0.23"):
        print(f"warning: expected tensorflow_addons 0.23, got {tfa.__version__}")
    tf.config.experimental.enable_op_determinism()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for stale in args.out_dir.glob("*.npz"):
        stale.unlink()
    writer = FixtureWriter(args.out_dir)
    for family, record in FAMILIES.items():
        print(f"{family}:")
        record(writer)
    writer.write_manifest()
    total = sum(p.stat().st_size for p in args.out_dir.iterdir() if p.is_file())
    print(f"{len(writer.cases)} cases, {total / 1024:.1f} KiB in {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
