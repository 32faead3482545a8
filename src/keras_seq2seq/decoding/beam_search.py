"""Beam search over a step function `step(tokens, state) -> (logits, state)`.

One selection rule, `beam_search_step` (the rule of tfa 0.23 and of GNMT,
Wu et al. 2016), drives two read-outs:

* `beam_search`: hypotheses that emit `end_token` are also copied into a pool
  of finished hypotheses, so a live beam that later crowds one out of the
  beam cannot lose it; the search stops early once no live beam can beat the
  pool, and returns the best (or all `beam_width`) of pool and live beams.
* `keras_seq2seq.seq2seq.BeamSearchDecoder`: tfa's per-step outputs, for
  tfa code.

Scores (penalties rank hypotheses; the log-probabilities stay raw):
`log_prob / ((5 + length) / 6) ** length_penalty` for every hypothesis, plus
`coverage_penalty * sum_i log(min(attention mass on source i, 1))` once it
has finished (source positions never attended to count 0, as in tfa).
Beams are laid out as `tile_batch` does: row `b * beam_width + k` is beam `k`
of source `b`.
"""

import collections

import numpy as np
from keras import ops, tree

from keras_seq2seq.backend.decoding import top_k
from keras_seq2seq.decoding.gather_tree import backtrack, gather_along
from keras_seq2seq.decoding.loop import check_max_steps, check_tokens, decode_loop
from keras_seq2seq.validation import check_positive_int

# What a finished beam gives every token but `end_token` (tfa: dtype.min).
_FLOAT32_MIN = float(np.finfo("float32").min)

BeamState = collections.namedtuple(
    "BeamState", ("log_probs", "finished", "lengths", "accumulated_attention")
)
BeamState.__doc__ = """The search state per beam, each `[batch, beam, ...]`.

Attributes:
    log_probs: float32, the summed log-probability of each beam.
    finished: bool, whether the beam has emitted `end_token`.
    lengths: int32, tokens per beam (its `end_token` included).
    accumulated_attention: float32 `[batch, beam, source]`, attention mass
        summed over steps (for the coverage penalty), or `()`.
"""

BeamStep = collections.namedtuple(
    "BeamStep", ("scores", "word_ids", "parent_ids", "state", "all_scores")
)
BeamStep.__doc__ = """What `beam_search_step` returns.

Attributes:
    scores: float32 `[batch, beam]`, the ranking scores of the chosen beams.
    word_ids: int32 `[batch, beam]`, the token each chosen beam appended.
    parent_ids: int32 `[batch, beam]`, the slot each grew from.
    state: the next `BeamState`.
    all_scores: float32 `[batch, beam, vocab]`, every candidate's score.
"""

BeamSearchOutput = collections.namedtuple(
    "BeamSearchOutput", ("tokens", "scores", "lengths", "attention")
)
BeamSearchOutput.__doc__ = """What `beam_search` returns (best first).

Attributes:
    tokens: int32 `[batch, time]` (`[batch, beam, time]` with
        `return_all_beams`), the `end_token` included, zeros after it.
    scores: float32 `[batch]` (`[batch, beam]`), the penalised scores.
    lengths: int32 `[batch]` (`[batch, beam]`), tokens per hypothesis.
    attention: `[batch, time, source]` (`[batch, beam, time, source]`), the
        attention of every step along each hypothesis; None without
        `attention_fn`.
"""


def tile_batch(t, multiplier):
    """Repeats each batch row `multiplier` times in a row (tfa's `tile_batch`).

    `[b0, b1]` becomes `[b0, b0, b0, b1, b1, b1]` for `multiplier=3`: the
    layout beam search expects for its states and the memory it attends to.

    Args:
        t: a tensor `[batch, ...]`, or a nested structure of them.
        multiplier: positive int.

    Returns:
        The same structure, each tensor `[batch * multiplier, ...]`.

    Example:
    >>> ops.convert_to_numpy(tile_batch(np.array([[1, 2], [3, 4]]), 2)).tolist()
    [[1, 2], [1, 2], [3, 4], [3, 4]]
    """
    multiplier = check_positive_int("multiplier", multiplier)

    def tile(x):
        x = ops.convert_to_tensor(x)
        if len(x.shape) == 0:
            raise ValueError(
                "`tile_batch` needs tensors with a batch axis (rank >= 1). "
                f"Received: a scalar {x!r}"
            )
        return ops.repeat(x, multiplier, axis=0)

    return tree.map_structure(tile, t)


def gather_beams(x, parent_ids):
    """Reorders a `[batch * beam, ...]` tensor so each slot takes its parent's row.

    Args:
        x: a tensor `[batch * beam, ...]` laid out as by `tile_batch`.
        parent_ids: int `[batch, beam]`.
    """
    beam = parent_ids.shape[1]
    rows = ops.arange(ops.shape(parent_ids)[0], dtype="int32")[:, None] * beam
    return ops.take(x, ops.reshape(ops.cast(parent_ids, "int32") + rows, (-1,)), axis=0)


def _is_zero(weight):
    return isinstance(weight, (int, float)) and weight == 0


def length_penalty(lengths, weight):
    """GNMT's length normaliser `((5 + lengths) / 6) ** weight`; 1 when weight is 0."""
    if _is_zero(weight):
        return 1.0
    weight = ops.convert_to_tensor(weight, dtype="float32")
    lengths = ops.cast(lengths, "float32")
    return ops.power(5.0 + lengths, weight) / ops.power(6.0, weight)


def coverage_penalty(accumulated_attention):
    """GNMT's coverage term `sum_i log(min(mass_i, 1))` over the last axis.

    Positions with no attention mass at all (padding) count 0, as in tfa.
    """
    mass = ops.cast(accumulated_attention, "float32")
    mass = ops.where(ops.equal(mass, 0.0), ops.ones_like(mass), mass)
    return ops.sum(ops.log(ops.minimum(mass, 1.0)), axis=-1)


def hypothesis_scores(state, length_penalty_weight, coverage_penalty_weight):
    """The ranking scores `[batch, beam]` of the hypotheses in a `BeamState`."""
    scores = state.log_probs
    if not _is_zero(length_penalty_weight):
        scores = scores / length_penalty(state.lengths, length_penalty_weight)
    if coverage_penalty_weight == 0:
        return scores
    coverage = coverage_penalty(state.accumulated_attention)
    return scores + coverage_penalty_weight * coverage * ops.cast(
        state.finished, "float32"
    )


def initial_beam_state(batch_size, beam_width, attention=None):
    """The state before the first step: only beam 0 is alive.

    The other slots start finished with log-probability -inf, so the first
    step extends beam 0 alone (tfa's convention).

    Args:
        batch_size: int (or int scalar tensor).
        beam_width: positive int.
        attention: optional `[batch, beam, source]` attention already paid
            (the coverage penalty's starting mass), else no coverage state.
    """
    first = ops.arange(beam_width) == 0
    log_probs = ops.where(first, 0.0, float("-inf"))
    log_probs = ops.broadcast_to(
        ops.cast(log_probs, "float32"), (batch_size, beam_width)
    )
    return BeamState(
        log_probs=log_probs,
        finished=ops.broadcast_to(ops.logical_not(first), (batch_size, beam_width)),
        lengths=ops.zeros((batch_size, beam_width), dtype="int32"),
        accumulated_attention=()
        if attention is None
        else ops.cast(attention, "float32"),
    )


def beam_search_step(
    logits,
    state,
    end_token,
    length_penalty_weight=0.0,
    coverage_penalty_weight=0.0,
    attention=None,
):
    """Picks the `beam` best continuations of every source's beams.

    Finished beams can only be continued by `end_token`, at no cost, so they
    compete with live ones on their final score.

    Args:
        logits: `[batch, beam, vocab]`, this step's logits for every beam.
        state: the `BeamState` before this step.
        end_token: int scalar.
        length_penalty_weight, coverage_penalty_weight: Python floats.
        attention: `[batch, beam, source]` attention of this step (needed when
            `coverage_penalty_weight` is not 0).

    Returns:
        A `BeamStep(scores, word_ids, parent_ids, state, all_scores)`.
    """
    beam, vocab = logits.shape[1], logits.shape[2]
    end_token = ops.cast(end_token, "int32")
    step_log_probs = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)
    is_end = ops.equal(ops.arange(vocab, dtype="int32"), end_token)
    only_end = ops.where(is_end, 0.0, _FLOAT32_MIN)
    step_log_probs = ops.where(state.finished[..., None], only_end, step_log_probs)
    total = state.log_probs[..., None] + step_log_probs

    live = ops.logical_not(state.finished)
    lengths = state.lengths[..., None]
    if not _is_zero(length_penalty_weight):  # else the scores do not read them
        grows = ops.logical_and(live[..., None], ops.logical_not(is_end))
        lengths = lengths + ops.cast(grows, "int32")
    candidates = BeamState(
        log_probs=total,
        finished=state.finished[..., None],
        lengths=lengths,
        accumulated_attention=(),
    )
    accumulated = state.accumulated_attention
    if coverage_penalty_weight != 0:
        paid = ops.cast(attention, "float32") * ops.cast(live, "float32")[..., None]
        accumulated = accumulated + paid
        candidates = candidates._replace(accumulated_attention=accumulated[:, :, None])
    all_scores = hypothesis_scores(
        candidates, length_penalty_weight, coverage_penalty_weight
    )

    scores, chosen = top_k(ops.reshape(all_scores, (-1, beam * vocab)), beam)
    word_ids, parent_ids = chosen % vocab, chosen // vocab

    def parents_of(values):
        return ops.take_along_axis(values, parent_ids, axis=1)

    parent_finished = parents_of(state.finished)
    next_state = BeamState(
        log_probs=ops.take_along_axis(
            ops.reshape(total, (-1, beam * vocab)), chosen, axis=1
        ),
        finished=ops.logical_or(parent_finished, ops.equal(word_ids, end_token)),
        lengths=parents_of(state.lengths)
        + ops.cast(ops.logical_not(parent_finished), "int32"),
        accumulated_attention=accumulated,
    )
    if coverage_penalty_weight != 0:
        split = ops.reshape(accumulated, (-1,) + tuple(ops.shape(accumulated)[2:]))
        next_state = next_state._replace(
            accumulated_attention=ops.reshape(
                gather_beams(split, parent_ids), ops.shape(accumulated)
            )
        )
    return BeamStep(scores, word_ids, parent_ids, next_state, all_scores)


def check_beam_batch(name, structure, batch_size, beam_width):
    """Raises a ValueError unless every tensor in `structure` has
    `batch_size * beam_width` rows (checked where shapes are static)."""
    expected = None if batch_size is None else batch_size * beam_width
    for leaf in tree.flatten(structure):
        shape = getattr(leaf, "shape", ())
        rows = shape[0] if len(shape) else None
        if expected is None or rows is None or rows == expected:
            continue
        raise ValueError(
            f"`{name}` must hold batch_size * beam_width = {batch_size} * "
            f"{beam_width} = {expected} rows, one per beam: tile the encoder "
            "outputs and states with `tile_batch(x, multiplier=beam_width)`. "
            f"Received: a tensor with shape {tuple(shape)}"
        )


def _check_end_token(end_token, vocab):
    try:
        value = int(ops.convert_to_numpy(end_token))
    except Exception:  # a traced tensor: checked by the caller's own data
        return
    if vocab is not None and not 0 <= value < vocab:
        raise ValueError(
            f"`end_token` must be a token id in [0, {vocab}) (the logits' "
            f"vocabulary). Received: end_token={value}"
        )


def _split(x, beam_width):
    return ops.reshape(x, (-1, beam_width) + tuple(ops.shape(x)[1:]))


class BeamPool(
    collections.namedtuple("BeamPool", ("scores", "lengths", "end_time", "slot"))
):
    """The best finished hypotheses so far, `[batch, beam]` each, best first.

    A hypothesis is found again by following the beam back from slot `slot`
    of step `end_time`.
    """

    __slots__ = ()

    def add(self, scores, new, lengths, time):
        """This pool merged with the hypotheses flagged in `new` `[batch, beam]`."""
        beam = scores.shape[1]
        scores = ops.where(new, scores, float("-inf"))
        slots = ops.zeros_like(lengths) + ops.arange(beam, dtype="int32")[None, :]
        merged = (
            ops.concatenate([self.scores, scores], axis=1),
            ops.concatenate([self.lengths, lengths], axis=1),
            ops.concatenate([self.end_time, ops.zeros_like(lengths) + time], axis=1),
            ops.concatenate([self.slot, slots], axis=1),
        )
        best, index = top_k(merged[0], beam)
        rest = [ops.take_along_axis(values, index, axis=1) for values in merged[1:]]
        return BeamPool(best, *rest)


def beam_search(
    step,
    start_tokens,
    initial_state,
    beam_width,
    max_length,
    end_token,
    length_penalty=0.0,
    coverage_penalty=0.0,
    attention_fn=None,
    return_all_beams=False,
):
    """Decodes the `beam_width` most likely continuations of every source.

    Args:
        step: `step(tokens, state) -> (logits, state)`; `tokens` int32
            `[batch * beam_width]`, `logits` `[batch * beam_width, vocab]`.
            The state is any nested structure of tensors with
            `batch * beam_width` rows; it is reordered along the beams at each
            step. Encoder outputs the step reads (tiled with `tile_batch`) can
            be closed over instead of carried.
        start_tokens: int `[batch]`, the first input token of each source.
        initial_state: the state before the first step, `batch * beam_width`
            rows laid out as by `tile_batch`.
        beam_width: positive int.
        max_length: positive int, the most steps.
        end_token: int scalar in `[0, vocab)`.
        length_penalty: GNMT's alpha (0 disables it).
        coverage_penalty: GNMT's beta (0 disables it); needs `attention_fn`.
        attention_fn: `attention_fn(state) -> [batch * beam_width, source]`,
            the attention weights of the step that produced `state`. Needed
            for the coverage penalty; when given, the attention of every step
            is returned along each hypothesis.
        return_all_beams: return every hypothesis ranked, not just the best.

    Returns:
        A `BeamSearchOutput(tokens, scores, lengths, attention)`. The time axis
        has as many steps as the search took when run eagerly or in a
        TensorFlow graph, and `max_length` under JAX tracing (`jit`).

    Example:
    >>> probs = np.array([[0, 0.6, 0.4], [0.5, 0.25, 0.25], [1, 0, 0]])  # by last token
    >>> table = np.log(probs + 1e-9)  # greedy takes 1 then 0 (0.3); beam finds 2, 0 (0.4)
    >>> def step(tokens, state):
    ...     return ops.take(table.astype("float32"), tokens, axis=0), state
    >>> out = beam_search(step, np.array([0]), (), beam_width=2, max_length=3, end_token=0)
    >>> ops.convert_to_numpy(out.tokens).tolist()
    [[2, 0]]
    """
    beam_width = check_positive_int("beam_width", beam_width)
    max_length = check_max_steps("max_length", max_length)
    start_tokens, end_token = check_tokens(start_tokens, end_token)
    if coverage_penalty != 0 and attention_fn is None:
        raise ValueError(
            "A coverage penalty needs the attention of each step: pass "
            "`attention_fn(state) -> [batch * beam_width, source]`. Received: "
            f"coverage_penalty={coverage_penalty}, attention_fn=None"
        )
    check_beam_batch("initial_state", initial_state, start_tokens.shape[0], beam_width)
    batch_size = ops.shape(start_tokens)[0]
    initial_state = tree.map_structure(ops.convert_to_tensor, initial_state)

    start_attention = None
    if coverage_penalty != 0:
        start_attention = _split(attention_fn(initial_state), beam_width)
    beams = initial_beam_state(batch_size, beam_width, start_attention)
    empty = ops.zeros((batch_size, beam_width), dtype="int32")
    pool = BeamPool(
        scores=ops.full((batch_size, beam_width), float("-inf"), dtype="float32"),
        lengths=empty,
        end_time=empty - 1,
        slot=empty,
    )
    threshold_rank = beam_width - 1 if return_all_beams else 0

    def loop_step(time, tokens, carry):
        state, beams, pool = carry
        logits, next_state = step(tokens, state)
        next_state = tree.pack_sequence_as(state, tree.flatten(next_state))
        _check_end_token(end_token, logits.shape[-1])
        attention = None
        if attention_fn is not None:
            attention = _split(attention_fn(next_state), beam_width)
        chosen = beam_search_step(
            _split(logits, beam_width),
            beams,
            end_token,
            length_penalty,
            coverage_penalty,
            attention,
        )
        next_state = tree.map_structure(
            lambda x: gather_beams(x, chosen.parent_ids), next_state
        )
        new = chosen.state
        was_finished = ops.take_along_axis(beams.finished, chosen.parent_ids, axis=1)
        just_finished = ops.logical_and(new.finished, ops.logical_not(was_finished))
        pool = pool.add(
            hypothesis_scores(new, length_penalty, coverage_penalty),
            just_finished,
            new.lengths,
            time,
        )
        done = _cannot_improve(
            new, pool, length_penalty, coverage_penalty, max_length, threshold_rank
        )
        outputs = (chosen.word_ids, chosen.parent_ids)
        if attention is not None:
            flat = ops.reshape(attention, (-1,) + tuple(ops.shape(attention)[2:]))
            outputs += (_split(gather_beams(flat, chosen.parent_ids), beam_width),)
        next_tokens = ops.reshape(chosen.word_ids, (-1,))
        return (
            outputs,
            (next_state, new, pool),
            next_tokens,
            ops.repeat(done, beam_width),
        )

    result = decode_loop(
        loop_step,
        ops.repeat(start_tokens, beam_width),
        (initial_state, beams, pool),
        ops.zeros((batch_size * beam_width,), dtype="bool"),
        max_length,
        tracks_own_finished=True,
        early_exit=True,
    )
    _, beams, pool = result.final_state
    return _read_out(
        result.outputs,
        beams,
        pool,
        result.num_steps,
        length_penalty,
        beam_width if return_all_beams else 1,
        return_all_beams,
    )


def _cannot_improve(beams, pool, lp_weight, cp_weight, max_length, rank):
    """`[batch]`: True where no live beam can end above the pool's `rank`-th score.

    A live beam's log-probability only falls as it grows, and its coverage
    term is at most 0 (for a non-negative weight), so its score is bounded by
    its log-probability over the length penalty of its current or of the
    largest length, whichever is kinder.
    """
    live = ops.logical_not(beams.finished)
    if cp_weight < 0:  # a negative coverage weight can raise scores without bound
        return ops.logical_not(ops.any(live, axis=1))
    now = beams.log_probs / length_penalty(beams.lengths, lp_weight)
    longest = beams.log_probs / length_penalty(max_length, lp_weight)
    bound = ops.where(live, ops.maximum(now, longest), float("-inf"))
    return ops.less_equal(ops.max(bound, axis=1), pool.scores[:, rank])


def _read_out(outputs, beams, pool, num_steps, lp_weight, count, all_beams):
    """Ranks the pool with the still-live beams and follows the best back."""
    word_ids, parent_ids = outputs[0], outputs[1]
    beam = beams.lengths.shape[1]
    live = ops.logical_not(beams.finished)
    live_scores = beams.log_probs / length_penalty(beams.lengths, lp_weight)
    live_scores = ops.where(live, live_scores, float("-inf"))
    last = ops.zeros_like(beams.lengths) + ops.cast(num_steps, "int32") - 1
    slots = ops.zeros_like(beams.lengths) + ops.arange(beam, dtype="int32")[None, :]
    scores, index = top_k(ops.concatenate([pool.scores, live_scores], axis=1), count)
    index = ops.cast(index, "int32")

    def pick(pooled, alive):
        return ops.take_along_axis(
            ops.concatenate([pooled, alive], axis=1), index, axis=1
        )

    lengths = pick(pool.lengths, beams.lengths)
    end_time = pick(pool.end_time, last)
    path = backtrack(parent_ids, end_time, pick(pool.slot, slots))
    steps = ops.shape(word_ids)[0]
    in_hypothesis = ops.arange(steps, dtype="int32")[:, None, None] <= end_time[None]
    tokens = ops.where(in_hypothesis, gather_along(word_ids, path), 0)
    tokens = ops.transpose(tokens, (1, 2, 0))  # [batch, n, time]
    attention = None
    if len(outputs) > 2:
        attention = gather_along(outputs[2], path)
        attention = attention * ops.cast(in_hypothesis, attention.dtype)[..., None]
        attention = ops.transpose(attention, (1, 2, 0, 3))
    if not all_beams:
        tokens, scores, lengths = tokens[:, 0], scores[:, 0], lengths[:, 0]
        attention = None if attention is None else attention[:, 0]
    return BeamSearchOutput(tokens, scores, lengths, attention)
