"""The decode loop every decoder here runs on: a step function over a static
number of steps, with per-row `finished` flags and sequence lengths.

Semantics (the same as `tfa.seq2seq.dynamic_decode`):

* at step `t`, `step_fn(t, inputs, state)` returns
  `(outputs, next_state, next_inputs, finished)`;
* a row's `finished` flag is OR-ed over steps (unless the step function tracks
  its own flags) and its length is the number of steps it ran, counting the step
  that finished it;
* with `impute_finished`, a row that was already finished emits zeros and keeps
  its state;
* once every row is finished, the loop stands still: later steps change nothing
  and emit zeros. `tfa` stops its `while` loop there instead.

By default the loop runs `max_steps` iterations (a scan over a static bound, so
it compiles on every backend and JAX can differentiate it in reverse mode).
With `early_exit=True` (inference: greedy and beam search) it is a `while`
loop that stops once every row is finished, writing each step into buffers of
`max_steps` rows; it compiles too but cannot be differentiated on JAX. Then it
trims the time axis to the number of steps actually taken where the backend
allows a shape that depends on a value: eagerly on every backend and in
TensorFlow graphs (also under XLA). Under JAX tracing (`jit`, and so
`fit`/`predict` on JAX) and torch shape inference the outputs keep `max_steps`
steps; the steps after the last row finished are zeros, and `num_steps` says how
many were real.
"""

import collections

import keras
from keras import ops, tree

from keras_seq2seq.backend.decoding import concrete_steps
from keras_seq2seq.backend.scan import scan

DecodeLoopResult = collections.namedtuple(
    "DecodeLoopResult", ("outputs", "final_state", "lengths", "num_steps")
)
DecodeLoopResult.__doc__ = """What `decode_loop` returns.

Attributes:
    outputs: the per-step outputs stacked **time-major** (`[time, batch, ...]`).
    final_state: the state after the last step taken.
    lengths: int32 `[batch]`, the number of steps each row ran.
    num_steps: int32 scalar, the number of steps taken before every row was
        finished (at most `max_steps`).
"""


def where_rows(rows, if_true, if_false):
    """Picks per batch row: `if_true[i]` where `rows[i]`, else `if_false[i]`.

    `rows` is a `[batch]` boolean vector, broadcast over the trailing axes.
    Scalars, and tensors whose static leading axis is not the batch (a
    time-major history buffer, say), hold no per-row values: `if_false` is
    returned for them as is (in the loop, the freshly computed value).
    """
    rank = len(if_true.shape)
    batch, leading = rows.shape[0], if_true.shape[0] if rank else None
    if rank == 0 or (batch is not None and leading is not None and batch != leading):
        return if_false
    rows = ops.reshape(rows, (-1,) + (1,) * (rank - 1))
    return ops.where(rows, if_true, if_false)


def _check_same_structure(name, before, after):
    try:
        tree.assert_same_structure(before, after)
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"The step function must return `{name}` with the same nested "
            f"structure it was given. Received: {name} structure "
            f"{tree.map_structure(lambda _: '*', before)} became "
            f"{tree.map_structure(lambda _: '*', after)} ({error})"
        ) from None


def decode_loop(
    step_fn,
    initial_inputs,
    initial_state,
    initial_finished,
    max_steps,
    impute_finished=False,
    tracks_own_finished=False,
    lengths_fn=None,
    trim=True,
    early_exit=False,
):
    """Runs `step_fn` for at most `max_steps` steps over a batch of rows.

    Args:
        step_fn: `step_fn(time, inputs, state) -> (outputs, next_state,
            next_inputs, finished)`, where `time` is an int32 scalar tensor,
            `outputs`, `state` and `inputs` are (nested) tensors with the batch
            on axis 0, and `finished` is a `[batch]` boolean tensor.
            `next_state` and `next_inputs` must keep the structure, shapes and
            dtypes of `state` and `inputs`.
        initial_inputs: the inputs of step 0.
        initial_state: the state before step 0.
        initial_finished: `[batch]` booleans; finished rows count 0 steps.
        max_steps: the static bound: a positive Python int (any backend) or,
            on TensorFlow only, an int32 scalar tensor.
        impute_finished: if True, rows that are already finished emit zeros and
            keep their state (instead of being computed like the others).
        tracks_own_finished: if True, the `finished` returned by `step_fn` is
            taken as is instead of being OR-ed with the previous flags (for
            decoders that reorder rows, such as beam search).
        lengths_fn: optional `lengths_fn(next_state) -> [batch] ints`, used
            instead of counting steps (a beam search's own lengths).
        trim: if True, cut the time axis to `num_steps` where the backend
            allows it (see the module docstring).
        early_exit: if True, stop as soon as every row is finished instead of
            running out the bound (not differentiable on JAX).

    Returns:
        A `DecodeLoopResult(outputs, final_state, lengths, num_steps)`, outputs
        time-major.
    """
    finished = ops.cast(ops.convert_to_tensor(initial_finished), "bool")
    carry = (
        tree.map_structure(ops.convert_to_tensor, initial_inputs),
        tree.map_structure(ops.convert_to_tensor, initial_state),
        finished,
        ops.zeros_like(finished, dtype="int32"),
        ops.zeros((), dtype="int32"),
    )

    def body(carry, time, may_be_done=True):
        inputs, state, finished, lengths, steps = carry
        outputs, next_state, next_inputs, step_finished = step_fn(time, inputs, state)
        _check_same_structure("next_state", state, next_state)
        _check_same_structure("next_inputs", inputs, next_inputs)
        step_finished = ops.cast(step_finished, "bool")
        if tracks_own_finished:
            next_finished = step_finished
        else:
            next_finished = ops.logical_or(finished, step_finished)
        if lengths_fn is None:
            next_lengths = ops.where(finished, lengths, time + 1)
        else:
            next_lengths = ops.cast(lengths_fn(next_state), "int32")
        if impute_finished:
            outputs = tree.map_structure(
                lambda out: where_rows(finished, ops.zeros_like(out), out), outputs
            )
            next_state = tree.map_structure(
                lambda old, new: where_rows(finished, old, new), state, next_state
            )
        moved = (next_inputs, next_state, next_finished, next_lengths, steps + 1)
        if not may_be_done:
            return moved, outputs
        # Once every row is finished, nothing moves and the outputs are zeros.
        running = ops.logical_not(ops.all(finished))
        outputs = tree.map_structure(
            lambda out: ops.where(running, out, ops.zeros_like(out)), outputs
        )
        carry = tree.map_structure(
            lambda new, old: ops.where(running, new, old), moved, carry
        )
        return carry, outputs

    if early_exit:
        carry, outputs = _run_until_finished(body, carry, max_steps)
    else:
        carry, outputs = scan(body, carry, ops.arange(max_steps, dtype="int32"))
    _, state, _, lengths, num_steps = carry
    if trim:
        bound = concrete_steps(num_steps)
        if bound is not None:
            outputs = tree.map_structure(lambda out: out[:bound], outputs)
    return DecodeLoopResult(outputs, state, lengths, num_steps)


def _run_until_finished(body, carry, max_steps):
    """`body` over steps 0, 1, ... until every row is finished or `max_steps`.

    The per-step outputs go into zero buffers of `max_steps` rows; the first
    step runs before the loop to give their shapes. Only that step can start
    with every row finished: the loop's condition keeps the others from it,
    so they skip the stand-still guard (`body(..., may_be_done=False)`).
    """
    carry, first = body(carry, ops.zeros((), dtype="int32"))
    buffers = tree.map_structure(
        lambda y: ops.concatenate(
            [y[None], ops.zeros((max_steps - 1,) + tuple(ops.shape(y)), y.dtype)]
        ),
        first,
    )

    def unfinished(carry, buffers):
        finished, steps = carry[2], carry[4]
        return ops.logical_and(steps < max_steps, ops.logical_not(ops.all(finished)))

    def one_step(carry, buffers):
        time = carry[4]
        carry, outputs = body(carry, time, may_be_done=False)
        buffers = tree.map_structure(
            lambda buffer, y: ops.slice_update(
                buffer, (time,) + (0,) * len(y.shape), y[None]
            ),
            buffers,
            outputs,
        )
        return carry, buffers

    return ops.while_loop(
        unfinished, one_step, (carry, buffers), maximum_iterations=max_steps - 1
    )


def check_max_steps(name, value):
    """Validates a step bound: a positive int, or a scalar tensor (TensorFlow).

    Returns a Python int when the value is known, else the tensor unchanged.
    Raises a ValueError naming `name` for a non-positive or non-scalar value.
    """
    if isinstance(value, bool):
        raise ValueError(f"`{name}` must be a positive integer. Received: {value!r}")
    if not isinstance(value, int):
        if len(getattr(value, "shape", ())) != 0:
            raise ValueError(
                f"`{name}` must be a scalar. Received: {name} with shape "
                f"{tuple(value.shape)}"
            )
        try:
            value = int(ops.convert_to_numpy(value))
        except Exception:
            # A symbolic tensor: TensorFlow can loop over it unchecked; the
            # other backends need the bound while tracing.
            if keras.backend.backend() == "tensorflow":
                return value
            raise ValueError(
                f"`{name}` must be a Python int on the "
                f"{keras.backend.backend()} backend: a traced tensor cannot "
                f"bound a compiled loop. Received: {name}={value!r}"
            ) from None
    if value < 1:
        raise ValueError(
            f"`{name}` must be a positive integer. Received: {name}={value}"
        )
    return value


def check_tokens(start_tokens, end_token):
    """A search's `start_tokens` (int `[batch]`) and `end_token` (int scalar),
    as int32 tensors; raises a ValueError naming the one of the wrong rank."""
    start_tokens = ops.cast(ops.convert_to_tensor(start_tokens), "int32")
    if len(start_tokens.shape) != 1:
        raise ValueError(
            "`start_tokens` must be a vector `[batch]`. Received: "
            f"start_tokens.shape={tuple(start_tokens.shape)}"
        )
    end_token = ops.cast(ops.convert_to_tensor(end_token), "int32")
    if len(end_token.shape) != 0:
        raise ValueError(
            "`end_token` must be a scalar. Received: "
            f"end_token.shape={tuple(end_token.shape)}"
        )
    return start_tokens, end_token
