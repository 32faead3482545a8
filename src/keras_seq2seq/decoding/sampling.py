"""Sampling over a step function `step(tokens, state) -> (logits, state)`:
temperature, top-k and top-p (nucleus) truncation, drawn from a seed."""

import keras
from keras import ops

from keras_seq2seq.backend.random import step_uniform
from keras_seq2seq.decoding.greedy import token_search
from keras_seq2seq.decoding.loop import check_max_steps


def check_sampling(temperature=1.0, top_k=None, top_p=None):
    """Raises a ValueError naming the argument that is out of range.

    Tensors (a temperature held in a variable, say) are not checked.
    """
    if isinstance(temperature, (int, float)) and not temperature > 0:
        raise ValueError(
            f"`temperature` must be positive. Received: temperature={temperature}"
        )
    if top_k is not None and (
        isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1
    ):
        raise ValueError(
            f"`top_k` must be None or a positive int. Received: top_k={top_k!r}"
        )
    if top_p is not None and (
        isinstance(top_p, bool)
        or not isinstance(top_p, (int, float))
        or not 0 < top_p <= 1
    ):
        raise ValueError(
            f"`top_p` must be None or a number in (0, 1]. Received: top_p={top_p!r}"
        )


def filter_logits(logits, temperature=1.0, top_k=None, top_p=None):
    """Divides `logits` by `temperature`, then sets to `-inf` the tokens outside
    the `top_k` largest and outside the top-p nucleus.

    The nucleus is the smallest set of most likely tokens (after temperature
    and top-k) whose probability reaches `top_p`; the most likely token is
    always in it. Tokens tied with the last one kept are kept too.

    Args:
        logits: float `[..., vocab]`.
        temperature: positive float (or scalar tensor); below 1 sharpens the
            distribution, above 1 flattens it.
        top_k: None, or a positive int (more than `vocab` keeps every token).
        top_p: None, or a float in `(0, 1]`.

    Returns:
        float32 logits of the same shape.

    Example:
    >>> logits = ops.log(ops.convert_to_tensor([[0.5, 0.3, 0.15, 0.05]]))
    >>> kept = filter_logits(logits, top_p=0.7)
    >>> ops.convert_to_numpy(ops.isfinite(kept)).tolist()
    [[True, True, False, False]]
    """
    check_sampling(temperature, top_k, top_p)
    logits = ops.cast(logits, "float32")
    if temperature is not None:
        logits = logits / ops.cast(temperature, "float32")
    hidden = ops.full_like(logits, float("-inf"))
    if top_k is not None:
        vocab = logits.shape[-1]
        k = top_k if vocab is None else min(top_k, vocab)
        kth = ops.top_k(logits, k)[0][..., -1:]
        logits = ops.where(logits >= kth, logits, hidden)
    if top_p is not None:
        descending = -ops.sort(-logits, axis=-1)
        probs = ops.softmax(descending, axis=-1)
        # A token is in the nucleus while the mass of those before it is
        # below top_p; the smallest logit kept is the threshold.
        before = ops.cumsum(probs, axis=-1) - probs
        inside = ops.where(before < top_p, descending, float("inf"))
        threshold = ops.min(inside, axis=-1, keepdims=True)
        logits = ops.where(logits >= threshold, logits, hidden)
    return logits


def draw_tokens(logits, uniform, temperature=1.0, top_k=None, top_p=None):
    """One token per row from the softmax of `filter_logits(logits, ...)`.

    The draw inverts the cumulative distribution at `uniform`, so the
    randomness is whatever `uniform` holds: the same numbers give the same
    tokens on any backend and under any compiler.

    Args:
        logits: float `[..., vocab]`.
        uniform: float `[...]`, numbers in `[0, 1)`.
        temperature, top_k, top_p: as in `filter_logits`.

    Returns:
        int32 `[...]` token ids; a token outside the kept set is never drawn.

    Example:
    >>> logits = ops.log(ops.convert_to_tensor([[0.2, 0.5, 0.3]] * 3))
    >>> ops.convert_to_numpy(draw_tokens(logits, [0.1, 0.5, 0.9])).tolist()
    [0, 1, 2]
    """
    logits = filter_logits(logits, temperature, top_k, top_p)
    cdf = ops.cumsum(ops.softmax(logits, axis=-1), axis=-1)
    # Scaled by the total, the target stays below the last token with mass
    # even where rounding leaves the total under 1.
    target = ops.expand_dims(ops.cast(uniform, "float32"), -1) * cdf[..., -1:]
    below = ops.sum(ops.cast(cdf <= target, "int32"), axis=-1)
    return ops.minimum(below, ops.shape(logits)[-1] - 1)


def sample(
    step,
    start_tokens,
    initial_state,
    max_length,
    end_token,
    temperature=1.0,
    top_k=None,
    top_p=None,
    seed=None,
    impute_finished=True,
    attention_fn=None,
):
    """Decodes by feeding back a token drawn from each step's distribution.

    At every step a token is drawn from the softmax of the logits divided by
    `temperature`, restricted to the `top_k` most likely tokens and to the
    top-p nucleus (see `filter_logits`), until `end_token` or `max_length`.
    `top_k=1`, or a temperature or `top_p` near 0, is greedy search. To draw
    N independent samples per input, repeat each row N times
    (`tile_batch`).

    Args:
        step, start_tokens, initial_state, max_length, end_token,
        impute_finished, attention_fn: as in `greedy_search`.
        temperature: positive float; default 1 (the model's distribution).
        top_k: None, or a positive int.
        top_p: None, or a float in `(0, 1]`.
        seed: an int, a `keras.random.SeedGenerator` (advanced once per
            call), or None (a fresh generator, seeded from Python's `random`,
            which `keras.utils.set_random_seed` sets). The same int seed gives
            the same tokens eagerly and compiled (`jax.jit`, `tf.function`
            with XLA, `torch.compile`).

    Returns:
        A `GreedySearchOutput(tokens, log_probs, lengths, state, attention)`
        as `greedy_search` returns; `log_probs` are the model's
        log-probabilities (the log-softmax of the raw logits) of the drawn
        tokens.

    Example:
    >>> import numpy as np
    >>> table = np.log(np.full((4, 4), 0.1, "float32") + 0.6 * np.eye(4)[[2, 3, 1, 1]])
    >>> def step(tokens, state):  # 0 -> 2 -> 1 and 3 -> 1 are the likely moves
    ...     return ops.take(table, tokens, axis=0), state
    >>> out = sample(step, np.array([0, 3]), (), 5, end_token=1, top_p=0.5, seed=1)
    >>> ops.convert_to_numpy(out.tokens).tolist()
    [[2, 1], [1, 0]]
    """
    check_sampling(temperature, top_k, top_p)
    max_length = check_max_steps("max_length", max_length)
    # A SeedGenerator advances here, outside the loop; inside, each step's
    # numbers are keyed by the seed and the step.
    seed = _seed_pair(seed)

    def choose(time, logits):
        uniform = step_uniform(ops.shape(logits)[:-1], seed, time)
        return draw_tokens(logits, uniform, temperature, top_k, top_p)

    return token_search(
        step,
        start_tokens,
        initial_state,
        max_length,
        end_token,
        choose,
        impute_finished=impute_finished,
        attention_fn=attention_fn,
    )


def _seed_pair(seed):
    """The seed of a decode: a pair of ints, or a `SeedGenerator`'s next seed."""
    if seed is None:
        seed = keras.random.SeedGenerator()
    if isinstance(seed, keras.random.SeedGenerator):
        return seed.next()
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(
            "`seed` must be an int, a `keras.random.SeedGenerator` or None. "
            f"Received: seed={seed!r}"
        )
    return [seed & 0xFFFFFFFF, 0]
