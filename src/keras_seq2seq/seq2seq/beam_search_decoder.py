"""`BeamSearchDecoder`, compatible with `tfa.seq2seq.beam_search_decoder`.

A thin adapter: each step runs the cell and output layer on every beam, then
the decoding core's `beam_search_step` (tfa's selection rule); `finalize`
follows the parent pointers back with the core's `gather_tree`. For the best
hypotheses with finished ones kept apart and an early stop, call
`keras_seq2seq.decoding.beam_search` instead.
"""

import collections

import keras
from keras import ops, tree

from keras_seq2seq.decoding.beam_search import (
    BeamState,
    beam_search_step,
    check_beam_batch,
    gather_beams,
    initial_beam_state,
    tile_batch,
)
from keras_seq2seq.decoding.gather_tree import gather_tree, gather_tree_from_array
from keras_seq2seq.decoding.loop import check_tokens
from keras_seq2seq.seq2seq.attention_wrapper import (
    AlignmentHistory,
    AttentionWrapperState,
)
from keras_seq2seq.seq2seq.basic_decoder import _check_cell, build_sublayers
from keras_seq2seq.seq2seq.decoder import BaseDecoder
from keras_seq2seq.validation import check_positive_int

__all__ = [
    "BeamSearchDecoder",
    "BeamSearchDecoderOutput",
    "BeamSearchDecoderState",
    "FinalBeamSearchDecoderOutput",
    "gather_tree",
    "gather_tree_from_array",
    "tile_batch",
]


class BeamSearchDecoderState(
    collections.namedtuple(
        "BeamSearchDecoderState",
        (
            "cell_state",
            "log_probs",
            "finished",
            "lengths",
            "accumulated_attention_probs",
        ),
    )
):
    """The beam search state, `[batch, beam_width, ...]` per field.

    Attributes:
        cell_state: the cell's state, `[batch * beam, ...]` while decoding and
            `[batch, beam, ...]` once finalized, as tfa returns it.
        log_probs: float32, summed log-probabilities.
        finished: bool, beams that emitted `end_token`.
        lengths: int32 (tfa: int64), tokens per beam.
        accumulated_attention_probs: attention mass per source position, or
            `()` without a coverage penalty.
    """

    __slots__ = ()


class BeamSearchDecoderOutput(
    collections.namedtuple(
        "BeamSearchDecoderOutput", ("scores", "predicted_ids", "parent_ids")
    )
):
    """Per-step outputs: scores, chosen token and parent slot of each beam."""

    __slots__ = ()


class FinalBeamSearchDecoderOutput(
    collections.namedtuple(
        "FinalBeamDecoderOutput", ("predicted_ids", "beam_search_decoder_output")
    )
):
    """`predicted_ids` `[batch, time, beam]` (best beam first) and the raw
    per-step `BeamSearchDecoderOutput`."""

    __slots__ = ()


def _attention_probs(cell_state):
    """The alignments of every `AttentionWrapperState` in a cell state, averaged."""
    states = cell_state if isinstance(cell_state, (list, tuple)) else [cell_state]
    if isinstance(cell_state, AttentionWrapperState):
        states = [cell_state]
    probs = []
    for state in states:
        if isinstance(state, AttentionWrapperState):
            alignments = state.alignments
            if isinstance(alignments, (list, tuple)):
                alignments = ops.mean(ops.stack(list(alignments), axis=-1), axis=-1)
            probs.append(alignments)
    if not probs:
        raise ValueError(
            "`coverage_penalty_weight` must be 0.0 unless the cell is an "
            "`AttentionWrapper` (or a tuple of cells holding one): the coverage "
            "penalty reads the attention. Received: a cell state without "
            "`AttentionWrapperState`"
        )
    return probs[0] if len(probs) == 1 else ops.mean(ops.stack(probs, -1), -1)


@keras.saving.register_keras_serializable(package="keras_seq2seq")
class BeamSearchDecoder(BaseDecoder):
    """Beam search over an RNN cell (tfa's `BeamSearchDecoder`).

    With an `AttentionWrapper`, tile the memory, its lengths and the encoder
    state with `tile_batch(x, beam_width)`, and build the initial state with
    `cell.get_initial_state(batch_size=batch * beam_width)`.

    Args:
        cell: a Keras RNN cell (an `AttentionWrapper`, `LSTMCell`, ...).
        beam_width: positive int.
        embedding_fn: callable from ids to embeddings, or None to pass the
            embedding matrix when calling.
        output_layer: layer giving the logits from the cell output.
        length_penalty_weight: GNMT's alpha (0 disables it).
        coverage_penalty_weight: GNMT's beta (0 disables it; needs an
            `AttentionWrapper` cell).
        reorder_tensor_arrays: if True, alignment histories come back stacked
            `[time, batch * beam, source]` and reordered along each final beam.
        output_all_scores: if True, `scores` holds every candidate's score
            `[batch, time, beam, vocab]` instead of the chosen ones.
        **kwargs: `BaseDecoder` arguments (`maximum_iterations`, ...).

    Call arguments:
        embedding: the embedding matrix (or None with `embedding_fn`).
        start_tokens: int `[batch]`.
        end_token: int scalar.
        initial_state: the cell state, `batch * beam_width` rows.

    Returns:
        `(FinalBeamSearchDecoderOutput, BeamSearchDecoderState, lengths)`,
        `lengths` int32 `[batch, beam]`.

    Example:
    >>> import numpy as np
    >>> cell = keras.layers.GRUCell(8)
    >>> decoder = BeamSearchDecoder(cell, 3, output_layer=keras.layers.Dense(10),
    ...                             maximum_iterations=5)
    >>> state = tile_batch(np.zeros((2, 8), "float32"), 3)
    >>> outputs, state, lengths = decoder(
    ...     np.eye(10, dtype="float32"), start_tokens=np.array([1, 1]),
    ...     end_token=2, initial_state=state)
    >>> tuple(outputs.predicted_ids.shape)[::2]
    (2, 3)

    References:
        Wu et al. 2016, "Google's Neural Machine Translation System".
    """

    def __init__(
        self,
        cell,
        beam_width,
        embedding_fn=None,
        output_layer=None,
        length_penalty_weight=0.0,
        coverage_penalty_weight=0.0,
        reorder_tensor_arrays=True,
        output_all_scores=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        _check_cell(cell)
        if embedding_fn is not None and not callable(embedding_fn):
            raise ValueError(
                "`embedding_fn` must be a callable from ids to embeddings. "
                f"Received: embedding_fn={embedding_fn!r}"
            )
        self.cell = cell
        self.beam_width = check_positive_int("beam_width", beam_width)
        self.embedding_fn = embedding_fn
        self.output_layer = output_layer
        self.length_penalty_weight = float(length_penalty_weight)
        self.coverage_penalty_weight = float(coverage_penalty_weight)
        self.reorder_tensor_arrays = reorder_tensor_arrays
        self.output_all_scores = output_all_scores

    def call(self, embedding, start_tokens, end_token, initial_state, training=None):
        return super().call(
            embedding,
            initial_state=initial_state,
            training=training,
            start_tokens=start_tokens,
            end_token=end_token,
        )

    @property
    def batch_size(self):
        return self._batch_size

    def _merge(self, x):
        return ops.reshape(x, (-1,) + tuple(x.shape[2:])) if len(x.shape) > 1 else x

    def _split(self, x):
        if len(x.shape) == 0:
            return x
        rows = x.shape[0]  # explicit where known: a history may be empty
        batch = -1 if rows is None else rows // self.beam_width
        return ops.reshape(x, (batch, self.beam_width) + tuple(x.shape[1:]))

    def initialize(
        self, embedding, start_tokens=None, end_token=None, initial_state=None
    ):
        if embedding is not None and self.embedding_fn is not None:
            raise ValueError(
                "Pass either the `embedding` matrix or an `embedding_fn`, not both."
            )
        if embedding is None and self.embedding_fn is None:
            raise ValueError(
                "The beam search needs an `embedding` matrix when called, or "
                "an `embedding_fn` in the constructor. Received neither."
            )
        if embedding is None:
            self._embed = self.embedding_fn
        else:
            self._embed = lambda ids: ops.take(embedding, ids, axis=0)
        start_tokens, self._end_token = check_tokens(start_tokens, end_token)
        check_beam_batch(
            "initial_state", initial_state, start_tokens.shape[0], self.beam_width
        )
        self._batch_size = ops.shape(start_tokens)[0]
        initial_state = tree.map_structure(ops.convert_to_tensor, initial_state)
        attention = None
        if self.coverage_penalty_weight != 0:
            attention = self._split(_attention_probs(initial_state))
        beams = initial_beam_state(self._batch_size, self.beam_width, attention)
        tokens = ops.repeat(start_tokens[:, None], self.beam_width, axis=1)
        first_inputs = self._embed(tokens)
        build_sublayers(self.cell, self.output_layer, self._merge(first_inputs))
        self._cell_dtype = keras.backend.standardize_dtype(
            tree.flatten(initial_state)[0].dtype
        )
        state = BeamSearchDecoderState(
            cell_state=initial_state,
            log_probs=beams.log_probs,
            finished=beams.finished,
            lengths=beams.lengths,
            accumulated_attention_probs=beams.accumulated_attention,
        )
        return beams.finished, first_inputs, state

    def step(self, time, inputs, state, training=None):
        cell_state = state.cell_state
        outputs, next_cell_state = self.cell(
            self._merge(inputs), cell_state, training=training
        )
        next_cell_state = tree.pack_sequence_as(
            cell_state, tree.flatten(next_cell_state)
        )
        if self.output_layer is not None:
            outputs = self.output_layer(outputs)
        attention = None
        if self.coverage_penalty_weight != 0:
            attention = self._split(_attention_probs(next_cell_state))
        beams = BeamState(
            state.log_probs,
            state.finished,
            state.lengths,
            state.accumulated_attention_probs,
        )
        chosen = beam_search_step(
            self._split(outputs),
            beams,
            self._end_token,
            self.length_penalty_weight,
            self.coverage_penalty_weight,
            attention,
        )

        def follow_parents(x):
            if len(x.shape) == 0:
                return x
            return gather_beams(x, chosen.parent_ids)

        new = chosen.state
        next_state = BeamSearchDecoderState(
            cell_state=tree.map_structure(follow_parents, next_cell_state),
            log_probs=new.log_probs,
            finished=new.finished,
            lengths=new.lengths,
            accumulated_attention_probs=new.accumulated_attention,
        )
        scores = chosen.all_scores if self.output_all_scores else chosen.scores
        output = BeamSearchDecoderOutput(scores, chosen.word_ids, chosen.parent_ids)
        return output, next_state, self._embed(chosen.word_ids), new.finished

    def finalize(self, outputs, final_state, sequence_lengths):
        del sequence_lengths  # the beams' own lengths are in the state
        max_lengths = ops.max(final_state.lengths, axis=1)
        predicted_ids = gather_tree(
            outputs.predicted_ids, outputs.parent_ids, max_lengths, self._end_token
        )
        final_state = final_state._replace(
            cell_state=self._split_cell_state(final_state.cell_state)
        )
        return FinalBeamSearchDecoderOutput(predicted_ids, outputs), final_state

    def _split_cell_state(self, structure):
        """The final cell state as tfa returns it: tensors `[batch, beam, ...]`;
        with `reorder_tensor_arrays`, alignment histories stacked
        `[time, batch * beam, source]`.

        The state was reordered with the beams at every step, so each history
        already follows its final beam.
        """
        if isinstance(structure, AlignmentHistory):
            return structure.stack() if self.reorder_tensor_arrays else structure
        if isinstance(structure, tuple) and hasattr(structure, "_fields"):
            return type(structure)(*(self._split_cell_state(s) for s in structure))
        if isinstance(structure, (list, tuple)):
            return type(structure)(self._split_cell_state(s) for s in structure)
        return self._split(structure)

    def _loop_bound(self):
        return None

    @property
    def output_size(self):
        return BeamSearchDecoderOutput(
            scores=(self.beam_width,),
            predicted_ids=(self.beam_width,),
            parent_ids=(self.beam_width,),
        )

    @property
    def output_dtype(self):
        dtype = getattr(self, "_cell_dtype", None) or self.compute_dtype
        return BeamSearchDecoderOutput(dtype, "int32", "int32")

    @property
    def tracks_own_finished(self):
        """True: the beams are reordered, so their `finished` flags move too."""
        return True

    def get_config(self):
        if self.embedding_fn is not None:
            raise ValueError(
                "BeamSearchDecoder.get_config: an `embedding_fn` cannot be "
                "saved; pass the embedding matrix when calling instead. "
                f"Received: embedding_fn={self.embedding_fn!r}"
            )
        serialize = keras.saving.serialize_keras_object
        return {
            **super().get_config(),
            "cell": serialize(self.cell),
            "beam_width": self.beam_width,
            "output_layer": serialize(self.output_layer),
            "length_penalty_weight": self.length_penalty_weight,
            "coverage_penalty_weight": self.coverage_penalty_weight,
            "reorder_tensor_arrays": self.reorder_tensor_arrays,
            "output_all_scores": self.output_all_scores,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        for key in ("cell", "output_layer"):
            config[key] = keras.saving.deserialize_keras_object(
                config[key], custom_objects=custom_objects
            )
        return cls(**config)
