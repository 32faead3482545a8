"""Greedy search over a step function `step(tokens, state) -> (logits, state)`."""

import collections

from keras import ops, tree

from keras_seq2seq.decoding.loop import check_max_steps, check_tokens, decode_loop

GreedySearchOutput = collections.namedtuple(
    "GreedySearchOutput", ("tokens", "log_probs", "lengths", "state", "attention")
)
GreedySearchOutput.__doc__ = """What `greedy_search` returns.

Attributes:
    tokens: int32 `[batch, time]`, the chosen tokens (the start token excluded,
        the `end_token` included).
    log_probs: float32 `[batch, time]`, the log-probability of each chosen
        token (the log-softmax of the step's logits at that token).
    lengths: int32 `[batch]`, steps per row, counting the `end_token` step.
    state: the state after the last step (per row: after its `end_token` when
        `impute_finished` is True).
    attention: `[batch, time, ...]`, what `attention_fn` read after each step,
        or None without `attention_fn`.
"""


def greedy_search(
    step,
    start_tokens,
    initial_state,
    max_length,
    end_token,
    impute_finished=True,
    attention_fn=None,
):
    """Decodes by feeding back the most likely token until `end_token`.

    Args:
        step: `step(tokens, state) -> (logits, state)`: `tokens` is int32
            `[batch]`, `logits` is `[batch, vocab]`; `state` is any nested
            structure of tensors with the batch on axis 0, and the returned
            state must have the same structure (a list returned for a tuple is
            repacked).
        start_tokens: int `[batch]`, the first input tokens.
        initial_state: the state before the first step.
        max_length: positive int, the most steps to run.
        end_token: int scalar; a row is finished once it emits it.
        impute_finished: if True (default), a finished row emits token 0 and
            zero log-probabilities from then on and keeps its state; if False
            it keeps being decoded like the others (as
            `tfa.seq2seq.dynamic_decode` does by default).
        attention_fn: optional `attention_fn(state) -> [batch, ...]`, read
            after each step (the step's attention weights, say) and returned
            stacked as `attention`.

    Returns:
        A `GreedySearchOutput(tokens, log_probs, lengths, state, attention)`,
        batch-major. The time axis has `max(lengths)` steps when run eagerly
        or in a TensorFlow graph, and `max_length` steps under JAX tracing
        (`jit`): steps after every row finished are zeros there.

    Example:
    >>> import numpy as np
    >>> table = np.eye(4, dtype="float32")[[2, 3, 1, 1]] * 5.0  # 0->2->1, 3->1
    >>> def step(tokens, state):
    ...     return ops.take(table, tokens, axis=0), state
    >>> out = greedy_search(step, np.array([0, 3]), (), max_length=5, end_token=1)
    >>> ops.convert_to_numpy(out.tokens).tolist(), ops.convert_to_numpy(out.lengths).tolist()
    ([[2, 1], [1, 0]], [2, 1])
    """
    return token_search(
        step,
        start_tokens,
        initial_state,
        max_length,
        end_token,
        lambda time, logits: ops.argmax(logits, axis=-1),
        impute_finished=impute_finished,
        attention_fn=attention_fn,
    )


def token_search(
    step,
    start_tokens,
    initial_state,
    max_length,
    end_token,
    choose,
    impute_finished=True,
    attention_fn=None,
):
    """The loop of `greedy_search` and `sample`: feeds back the token `choose`
    picks, `choose(time, logits) -> [batch] ints` with float32 `logits`, until
    `end_token`. Arguments and result as in `greedy_search`."""
    max_length = check_max_steps("max_length", max_length)
    start_tokens, end_token = check_tokens(start_tokens, end_token)

    def loop_step(time, tokens, state):
        logits, next_state = step(tokens, state)
        next_state = tree.pack_sequence_as(state, tree.flatten(next_state))
        logits = ops.cast(logits, "float32")
        chosen = ops.cast(choose(time, logits), "int32")
        picked = ops.take_along_axis(logits, chosen[:, None], axis=-1)[:, 0]
        log_prob = picked - ops.logsumexp(logits, axis=-1)
        outputs = (chosen, log_prob)
        if attention_fn is not None:
            outputs += (attention_fn(next_state),)
        return outputs, next_state, chosen, ops.equal(chosen, end_token)

    result = decode_loop(
        loop_step,
        start_tokens,
        initial_state,
        ops.zeros_like(start_tokens, dtype="bool"),
        max_length,
        impute_finished=impute_finished,
        early_exit=True,
    )
    tokens, log_probs, *attention = result.outputs
    return GreedySearchOutput(
        tokens=ops.transpose(tokens, (1, 0)),
        log_probs=ops.transpose(log_probs, (1, 0)),
        lengths=result.lengths,
        state=result.final_state,
        attention=ops.swapaxes(attention[0], 0, 1) if attention else None,
    )
