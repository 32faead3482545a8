"""The base attention mechanism: validation, masking and probabilities."""

import keras
from keras import ops

from keras_seq2seq.attention import functions
from keras_seq2seq.validation import check_positive_int, check_same_batch


@keras.saving.register_keras_serializable(package="keras_seq2seq")
class AttentionMechanism(keras.layers.Layer):
    """Scores a query against a memory and turns the scores into alignments.

    Subclasses say how to score: `build(query_shape, memory_shape)` creates
    the weights, `keys(memory)` projects the memory (once per sequence) and
    `score(query, keys)` returns (batch, query_time, memory_time) scores.
    This class does the rest: input checks, masking and the probability
    function. Decoders call `keys` once and `align` at every step.

    Args:
        units: depth of the attention projection (None where a subclass
            needs none).
        probability_fn: `"softmax"` or `"hardmax"`.

    Call arguments:
        query: (batch, query_depth) for one decoder step, or
            (batch, query_time, query_depth) for many steps at once.
        memory: (batch, memory_time, memory_depth), the encoder outputs.
        memory_mask: optional boolean (batch, memory_time), True = keep.
            Defaults to the Keras mask carried by `memory`, if any. Masked
            steps get exactly zero weight; a fully masked row gets all zeros.
        previous_alignments: the last step's alignments (monotonic
            mechanisms only).

    Returns:
        Alignments of shape (batch, memory_time) or
        (batch, query_time, memory_time), summing to 1 over unmasked steps.
    """

    def __init__(self, units=None, probability_fn="softmax", **kwargs):
        super().__init__(**kwargs)
        self.units = check_positive_int("units", units, allow_none=True)
        self.probability_fn = probability_fn
        self._probability = functions.get_probability_fn(probability_fn)

    def call(self, query, memory, memory_mask=None, previous_alignments=None):
        if memory_mask is None:
            memory_mask = getattr(memory, "_keras_mask", None)
        self._check_inputs(query, memory, memory_mask)
        return self.align(query, self.keys(memory), memory_mask, previous_alignments)

    def keys(self, memory):
        """Projects the memory into keys; computed once per source sequence."""
        return memory

    def align(self, query, keys, memory_mask=None, previous_alignments=None):
        """Alignments of `query` over precomputed `keys` (see `call`)."""
        single_step = len(query.shape) == 2
        if single_step:
            query = ops.expand_dims(query, 1)
        scores = self.score(query, keys)
        alignments = self.probabilities(scores, memory_mask, previous_alignments)
        return ops.squeeze(alignments, 1) if single_step else alignments

    def probabilities(self, scores, memory_mask, previous_alignments):
        """Turns scores into alignments, honouring the mask."""
        return self._probability(scores, memory_mask)

    def initial_alignments(self, batch_size, memory_time, dtype=None):
        """Alignments before the first decoder step: zeros."""
        return ops.zeros((batch_size, memory_time), dtype=dtype or self.compute_dtype)

    def _check_inputs(self, query, memory, memory_mask):
        name = type(self).__name__
        if len(query.shape) not in (2, 3):
            raise ValueError(
                f"{name}: `query` must have rank 2 (batch, depth) or 3 "
                f"(batch, time, depth). Received: query.shape={query.shape}"
            )
        if len(memory.shape) != 3:
            raise ValueError(
                f"{name}: `memory` must have rank 3 (batch, time, depth). "
                f"Received: memory.shape={memory.shape}"
            )
        check_same_batch(query, memory, "query", "memory")
        if memory_mask is not None and tuple(memory_mask.shape) != tuple(
            memory.shape[:2]
        ):
            raise ValueError(
                f"{name}: `memory_mask` must have shape (batch, memory_time) = "
                f"{tuple(memory.shape[:2])}. Received: memory_mask.shape="
                f"{tuple(memory_mask.shape)}"
            )

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "probability_fn": self.probability_fn,
        }
