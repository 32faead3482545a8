"""Following a beam search's parent pointers back to whole hypotheses.

A beam search emits, at each step `t`, the token of every beam slot
(`step_ids[t, b, k]`) and the slot of the previous step it grew from
(`parent_ids[t, b, k]`). These pure functions (`keras.ops` only, no custom op)
rebuild the token sequences, and reorder any other per-step array the same way.
"""

from keras import ops

from keras_seq2seq.backend.scan import scan


def backtrack(parent_ids, end_time, slot):
    """The beam slot each hypothesis occupied at every step.

    Args:
        parent_ids: int `[time, batch, beam]`.
        end_time: int `[batch, n]`, the step at which each of `n` hypotheses
            per batch row ends (-1 for none).
        slot: int `[batch, n]`, the slot it occupies at `end_time`.

    Returns:
        int32 `[time, batch, n]`: the slot at steps `0..end_time`; `slot`
        itself after `end_time`.

    Example:
    >>> import numpy as np
    >>> parents = np.array([[[0, 0]], [[1, 0]], [[0, 1]]])  # [time=3, batch=1, beam=2]
    >>> path = backtrack(parents, np.array([[2]]), np.array([[1]]))
    >>> ops.convert_to_numpy(path)[:, 0, 0].tolist()  # slot 1 <- 1 <- 0
    [0, 1, 1]
    """
    parent_ids = ops.cast(parent_ids, "int32")
    end_time = ops.cast(end_time, "int32")
    slot = ops.cast(slot, "int32")
    steps = ops.shape(parent_ids)[0]
    times = ops.flip(ops.arange(steps, dtype="int32"), axis=0)

    def walk_back(index, inputs):
        parents, time = inputs
        active = ops.less_equal(time, end_time)
        parent = ops.take_along_axis(parents, index, axis=1)
        return ops.where(active, parent, index), index

    _, path = scan(walk_back, slot, (ops.flip(parent_ids, axis=0), times))
    return ops.flip(path, axis=0)


def gather_along(values, path):
    """`values[t, b, path[t, b, n], ...]`: a per-step, per-slot array reordered
    along `path` (from `backtrack`). `values` is `[time, batch, beam, ...]`."""
    index = ops.cast(path, "int32")
    extra = len(values.shape) - 3
    if extra:
        index = ops.reshape(index, tuple(ops.shape(index)) + (1,) * extra)
        index = ops.broadcast_to(
            index, tuple(ops.shape(index)[:3]) + tuple(ops.shape(values)[3:])
        )
    return ops.take_along_axis(values, index, axis=2)


def gather_tree(step_ids, parent_ids, max_sequence_lengths, end_token):
    """Whole beams from per-step ids and parent pointers (tfa's `gather_tree`).

    Each final slot of row `b` is followed back from step
    `max_sequence_lengths[b] - 1`. Steps from `max_sequence_lengths[b]` on, and
    steps after a beam's first `end_token`, hold `end_token`.

    Args:
        step_ids: int `[time, batch, beam]`, the token chosen by each slot.
        parent_ids: int `[time, batch, beam]`, the slot each grew from.
        max_sequence_lengths: int `[batch]`.
        end_token: int scalar.

    Returns:
        int32 `[time, batch, beam]`, the tokens of each final beam.

    Example:
    >>> import numpy as np
    >>> ids = np.array([[[3, 4]], [[5, 2]], [[6, 7]]])
    >>> parents = np.array([[[0, 0]], [[1, 0]], [[1, 0]]])
    >>> beams = gather_tree(ids, parents, np.array([3]), end_token=2)
    >>> ops.convert_to_numpy(beams)[:, 0].tolist()  # beams 3 2 (end) and 4 5 7
    [[3, 4], [2, 5], [2, 7]]
    """
    step_ids = ops.cast(step_ids, "int32")
    end_token = ops.cast(end_token, "int32")
    steps, beam = ops.shape(step_ids)[0], step_ids.shape[2]
    lengths = ops.cast(max_sequence_lengths, "int32")[:, None]
    slots = ops.zeros_like(lengths) + ops.arange(beam, dtype="int32")[None, :]
    path = backtrack(parent_ids, lengths - 1, slots)
    tokens = ops.take_along_axis(step_ids, path, axis=2)
    in_length = ops.arange(steps, dtype="int32")[:, None, None] < lengths[None]
    tokens = ops.where(in_length, tokens, end_token)
    is_end = ops.cast(ops.equal(tokens, end_token), "int32")
    after_end = (ops.cumsum(is_end, axis=0) - is_end) > 0
    return ops.where(after_end, end_token, tokens)


def gather_tree_from_array(t, parent_ids, sequence_length):
    """Reorders a stacked per-step array along the final beams (tfa's name).

    Args:
        t: `[time, batch * beam, ...]` or `[time, batch, beam, ...]`.
        parent_ids: int `[time, batch, beam]`.
        sequence_length: int `[batch, beam]`; a beam's steps from its length
            on keep their own slot.

    Returns:
        `t` reordered, with its shape.
    """
    steps, batch, beam = ops.shape(parent_ids)
    lengths = ops.cast(sequence_length, "int32")
    slots = ops.zeros_like(lengths) + ops.arange(beam, dtype="int32")[None, :]
    last = ops.max(lengths, axis=1, keepdims=True) - 1
    path = backtrack(parent_ids, ops.zeros_like(lengths) + last, slots)
    in_length = ops.arange(steps, dtype="int32")[:, None, None] < lengths[None]
    path = ops.where(in_length, path, slots[None])
    shape = tuple(ops.shape(t))
    merged = shape[1] == batch * beam  # [time, batch * beam, ...]
    split = ops.reshape(t, (steps, batch, beam) + shape[2:]) if merged else t
    return ops.reshape(gather_along(split, path), shape)
