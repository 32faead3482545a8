"""`BasicDecoder`: an RNN cell, an optional output layer and a sampler.

Compatible with `tfa.seq2seq.basic_decoder`.
"""

import collections

import keras
from keras import tree

from keras_seq2seq.seq2seq.decoder import BaseDecoder
from keras_seq2seq.seq2seq.sampler import Sampler


class BasicDecoderOutput(
    collections.namedtuple("BasicDecoderOutput", ("rnn_output", "sample_id"))
):
    """Per-step outputs of a `BasicDecoder`, stacked over time by the decode.

    Attributes:
        rnn_output: the output layer's output (the cell's output without one).
        sample_id: what the sampler's `sample` returned.
    """

    __slots__ = ()


def _check_cell(cell):
    if not (callable(getattr(cell, "call", None)) and hasattr(cell, "state_size")):
        raise ValueError(
            "`cell` must be a Keras RNN cell: a layer with a `call(inputs, "
            "states, training=None) -> (output, new_states)` method and a "
            "`state_size` attribute, such as `keras.layers.LSTMCell`. "
            f"Received: cell={cell!r}"
        )


def build_sublayers(cell, output_layer, first_inputs):
    """Builds the cell and output layer before the decode loop (not inside it).

    `first_inputs` is the first step's `[batch, depth]` input.
    """
    if tree.is_nested(first_inputs):
        return
    if isinstance(cell, keras.layers.Layer) and not cell.built:
        depths = tuple(d if isinstance(d, int) else None for d in first_inputs.shape)
        cell.build((None,) + depths[1:])
    size = getattr(cell, "output_size", None)
    if (
        isinstance(output_layer, keras.layers.Layer)
        and not output_layer.built
        and isinstance(size, int)
    ):
        output_layer.build((None, size))


@keras.saving.register_keras_serializable(package="keras_seq2seq")
class BasicDecoder(BaseDecoder):
    """Decodes with an RNN cell; the sampler picks ids and the next inputs.

    Each step runs `cell(inputs, state)`, then `output_layer` on the cell
    output, then `sampler.sample` and `sampler.next_inputs`.

    Args:
        cell: a Keras RNN cell (`keras.layers.LSTMCell`, `GRUCell`, an
            `AttentionWrapper`, ...): `call(inputs, states, training=None) ->
            (output, new_states)`.
        sampler: a `Sampler` (`TrainingSampler` to train,
            `GreedyEmbeddingSampler` to infer, ...).
        output_layer: optional layer applied to the cell output, typically
            `keras.layers.Dense(vocab_size)`.
        **kwargs: `BaseDecoder` arguments (`maximum_iterations`,
            `impute_finished`, `output_time_major`, ...) and Keras layer
            arguments.

    Call arguments:
        inputs: for training samplers the decoder inputs `[batch, time,
            depth]`; for embedding samplers the embedding matrix (or None when
            the sampler has an `embedding_fn`).
        initial_state: the cell's first state (for an `LSTMCell`, `[h, c]`).
            If None, `cell.get_initial_state(batch_size)`.
        training: Python bool, passed to the cell.
        **kwargs: the sampler's `initialize` arguments: `sequence_length` or
            `mask` for `TrainingSampler`; `start_tokens` and `end_token` for
            `GreedyEmbeddingSampler`; ...

    Returns:
        `(BasicDecoderOutput(rnn_output, sample_id), final_state,
        final_sequence_lengths)`. See `dynamic_decode` for the time axis.

    Example:
    >>> import numpy as np
    >>> from keras_seq2seq.seq2seq.sampler import TrainingSampler
    >>> embedding = keras.layers.Embedding(50, 8)
    >>> cell = keras.layers.LSTMCell(16)
    >>> decoder = BasicDecoder(cell, TrainingSampler(), keras.layers.Dense(50))
    >>> ids = np.random.randint(0, 50, size=(4, 7))
    >>> outputs, state, lengths = decoder(
    ...     embedding(ids), initial_state=cell.get_initial_state(batch_size=4),
    ...     sequence_length=np.full([4], 7))
    >>> tuple(outputs.rnn_output.shape)
    (4, 7, 50)
    """

    def __init__(self, cell, sampler, output_layer=None, **kwargs):
        super().__init__(**kwargs)
        _check_cell(cell)
        if not isinstance(sampler, Sampler):
            raise ValueError(
                "`sampler` must be a `keras_seq2seq.seq2seq.Sampler` (such as "
                f"`TrainingSampler()`). Received: sampler={sampler!r}"
            )
        if output_layer is not None and not callable(output_layer):
            raise ValueError(
                "`output_layer` must be a Keras layer (such as "
                f"`keras.layers.Dense(vocab_size)`) or None. Received: "
                f"output_layer={output_layer!r}"
            )
        self.cell = cell
        self.sampler = sampler
        self.output_layer = output_layer
        seed_generator = getattr(sampler, "seed_generator", None)
        if seed_generator is not None:
            # Tracked here so that a model's compiled `fit` advances it.
            self.sampler_seed_generator = seed_generator

    def initialize(self, inputs, initial_state=None, **kwargs):
        finished, first_inputs = self.sampler.initialize(inputs, **kwargs)
        if initial_state is None:
            initial_state = self.cell.get_initial_state(
                batch_size=self.sampler.batch_size
            )
        build_sublayers(self.cell, self.output_layer, first_inputs)
        self._make_dropout_masks(first_inputs, initial_state)
        self._cell_dtype = keras.backend.standardize_dtype(
            tree.flatten(initial_state)[0].dtype
        )
        return finished, first_inputs, initial_state

    def get_config(self):
        serialize = keras.saving.serialize_keras_object
        return {
            **super().get_config(),
            "cell": serialize(self.cell),
            "sampler": serialize(self.sampler),
            "output_layer": serialize(self.output_layer),
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        for key in ("cell", "sampler", "output_layer"):
            config[key] = keras.saving.deserialize_keras_object(
                config[key], custom_objects=custom_objects
            )
        return cls(**config)

    def _has_dropout(self):
        return hasattr(self.cell, "reset_dropout_mask") and (
            getattr(self.cell, "dropout", 0) > 0
            or getattr(self.cell, "recurrent_dropout", 0) > 0
        )

    def _make_dropout_masks(self, first_inputs, initial_state):
        """Draws a Keras cell's dropout masks before the loop, as `keras.layers.RNN`.

        A cell draws its masks on first use and keeps them for the sequence;
        drawn inside the loop, they would be a loop-internal value (a leaked
        tracer on JAX).
        """
        if not self._has_dropout() or tree.is_nested(first_inputs):
            return
        self._clear_dropout_masks()
        self.cell.get_dropout_mask(first_inputs)
        self.cell.get_recurrent_dropout_mask(tree.flatten(initial_state)[0])

    def _clear_dropout_masks(self):
        if self._has_dropout():
            self.cell.reset_dropout_mask()
            self.cell.reset_recurrent_dropout_mask()

    def _after_loop(self):
        self._clear_dropout_masks()

    @property
    def batch_size(self):
        return self.sampler.batch_size

    def _loop_bound(self):
        return self.sampler._loop_bound()

    def _rnn_output_size(self):
        size = getattr(self.cell, "output_size", None)
        if size is None:
            state_size = self.cell.state_size
            size = (
                state_size[0] if isinstance(state_size, (list, tuple)) else state_size
            )
        size = tuple(size) if isinstance(size, (list, tuple)) else (size,)
        if self.output_layer is None:
            return size
        return tuple(self.output_layer.compute_output_shape((None,) + size))[1:]

    @property
    def output_size(self):
        return BasicDecoderOutput(
            rnn_output=self._rnn_output_size(),
            sample_id=self.sampler.sample_ids_shape,
        )

    @property
    def output_dtype(self):
        dtype = getattr(self, "_cell_dtype", None) or self.compute_dtype
        return BasicDecoderOutput(dtype, self.sampler.sample_ids_dtype)

    def step(self, time, inputs, state, training=None):
        cell_outputs, cell_state = self.cell(inputs, state, training=training)
        cell_state = tree.pack_sequence_as(state, tree.flatten(cell_state))
        if self.output_layer is not None:
            cell_outputs = self.output_layer(cell_outputs)
        sample_ids = self.sampler.sample(
            time=time, outputs=cell_outputs, state=cell_state
        )
        finished, next_inputs, next_state = self.sampler.next_inputs(
            time=time, outputs=cell_outputs, state=cell_state, sample_ids=sample_ids
        )
        return (
            BasicDecoderOutput(cell_outputs, sample_ids),
            next_state,
            next_inputs,
            finished,
        )
