"""`AttentionCell`: a recurrent cell with attention and input feeding."""

import keras
from keras import ops

from keras_seq2seq.attention import functions
from keras_seq2seq.attention.bahdanau import BahdanauAttention
from keras_seq2seq.attention.base import AttentionMechanism
from keras_seq2seq.attention.luong import LuongAttention
from keras_seq2seq.backend.scan import scan
from keras_seq2seq.validation import check_positive_int, check_rank

CELL_TYPES = ("gru", "lstm")
MECHANISMS = {"bahdanau": BahdanauAttention, "luong": LuongAttention}


@keras.saving.register_keras_serializable(package="keras_seq2seq")
class AttentionCell(keras.layers.Layer):
    """A GRU or LSTM cell with attention over a memory and input feeding.

    One decoder step (Luong, Pham & Manning 2015, section 3.3), from the
    previous attention vector `a'` and cell state `s'`:

        h, s = rnn_cell([x; a'], s')            input feeding
        alignments = mechanism(h, keys, memory_mask)
        context = alignments @ memory
        a = tanh(W_c [h; context])              the attention vector

    The step returns `a` (the output, to be projected to logits) and the new
    state `(cell_states, a, alignments)`. The memory, its keys and its mask
    are given at call time, not carried in the state: a loop computes the keys
    once per sequence with `keys(memory)` and closes over them.

    Args:
        units: depth of the recurrent cell.
        attention: `"bahdanau"`, `"luong"` (Luong's "general" score), or an
            `AttentionMechanism` instance (any mechanism of
            `keras_seq2seq.attention`, monotonic ones included).
        cell_type: `"gru"` or `"lstm"`.
        attention_units: depth of the Bahdanau projections (default: `units`);
            only used with `attention="bahdanau"`.
        attention_layer_size: depth of the attention vector `a` (default:
            `units`).
        kernel_initializer, recurrent_initializer, bias_initializer: of the
            recurrent cell (`kernel_initializer` also for `W_c`).

    Call arguments:
        inputs: `(batch, input_depth)`, one step's input (an embedded token).
        states: `(cell_states, attention, alignments)` as returned by
            `get_initial_state` or the previous step; `cell_states` is `(h,)`
            for a GRU and `(h, c)` for an LSTM.
        memory: `(batch, memory_time, memory_depth)`, the encoder outputs.
        memory_mask: optional boolean `(batch, memory_time)`, True = keep;
            defaults to the Keras mask carried by `memory`, if any. Masked
            memory steps get exactly zero weight, so padding the memory
            further changes nothing.
        keys: optional `keys(memory)`, precomputed; computed here if None.
        training: passed to the recurrent cell.

    Returns:
        `(attention, new_states)`: the `(batch, attention_layer_size)`
        attention vector and the new `(cell_states, attention, alignments)`.

    Example:
    >>> cell = AttentionCell(8, attention="luong")
    >>> memory = keras.ops.ones((2, 5, 6))
    >>> state = cell.get_initial_state(memory)
    >>> output, state = cell(keras.ops.ones((2, 4)), state, memory)
    >>> tuple(output.shape), tuple(state[2].shape)
    ((2, 8), (2, 5))

    References:
        Luong, Pham & Manning 2015, "Effective Approaches to Attention-based
        Neural Machine Translation"; Bahdanau, Cho & Bengio 2015, "Neural
        Machine Translation by Jointly Learning to Align and Translate".
    """

    def __init__(
        self,
        units,
        attention="bahdanau",
        cell_type="gru",
        attention_units=None,
        attention_layer_size=None,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = check_positive_int("units", units)
        if not isinstance(cell_type, str) or cell_type not in CELL_TYPES:
            raise ValueError(
                f"`cell_type` must be one of {CELL_TYPES}. "
                f"Received: cell_type={cell_type!r}"
            )
        self.cell_type = cell_type
        self.attention_units = check_positive_int(
            "attention_units", attention_units, allow_none=True
        )
        self.attention_layer_size = (
            check_positive_int(
                "attention_layer_size", attention_layer_size, allow_none=True
            )
            or self.units
        )
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.mechanism = self._make_mechanism(attention)
        # The name, or None for a given mechanism (serialized from `mechanism`).
        self.attention = (
            None if isinstance(attention, AttentionMechanism) else attention
        )
        cell_class = (
            keras.layers.GRUCell if cell_type == "gru" else keras.layers.LSTMCell
        )
        self.rnn_cell = cell_class(
            self.units,
            kernel_initializer=self.kernel_initializer,
            recurrent_initializer=self.recurrent_initializer,
            bias_initializer=self.bias_initializer,
            dtype=self.dtype_policy,
            name="rnn_cell",
        )
        self.attention_projection = keras.layers.Dense(
            self.attention_layer_size,
            activation="tanh",
            use_bias=False,
            kernel_initializer=self.kernel_initializer,
            dtype=self.dtype_policy,
            name="attention_projection",
        )

    def _make_mechanism(self, attention):
        if isinstance(attention, AttentionMechanism):
            return attention
        if not isinstance(attention, str) or attention not in MECHANISMS:
            raise ValueError(
                f"`attention` must be one of {sorted(MECHANISMS)} or an "
                f"AttentionMechanism instance. Received: attention={attention!r}"
            )
        if attention == "bahdanau":
            return BahdanauAttention(
                self.attention_units or self.units,
                dtype=self.dtype_policy,
                name="mechanism",
            )
        return LuongAttention(dtype=self.dtype_policy, name="mechanism")

    @property
    def num_cell_states(self):
        """1 for a GRU (`h`), 2 for an LSTM (`h`, `c`)."""
        return 1 if self.cell_type == "gru" else 2

    def build(self, inputs_shape, memory_shape):
        check_rank(self.name, "inputs", inputs_shape, 2, "(batch, depth)")
        check_rank(self.name, "memory", memory_shape, 3, "(batch, time, depth)")
        self.rnn_cell.build((None, inputs_shape[-1] + self.attention_layer_size))
        self.mechanism.build((None, self.units), tuple(memory_shape))
        self.attention_projection.build((None, self.units + memory_shape[-1]))

    def keys(self, memory):
        """The memory's keys, to compute once per sequence and pass to `call`."""
        if not self.mechanism.built:
            raise ValueError(
                f"{self.name}: call the cell once or `build` it before `keys`. "
                f"Received: memory.shape={tuple(memory.shape)} for an unbuilt cell"
            )
        return self.mechanism.keys(memory)

    def get_initial_state(self, memory, cell_states=None):
        """The state before the first step: `(cell_states, zeros, alignments)`.

        Args:
            memory: `(batch, memory_time, memory_depth)`; gives the batch size
                and the alignments' length.
            cell_states: optional initial `(h,)` (GRU) or `(h, c)` (LSTM),
                e.g. bridged from the encoder; zeros by default.
        """
        batch, memory_time = ops.shape(memory)[0], ops.shape(memory)[1]
        dtype = self.compute_dtype
        if cell_states is None:
            zeros = ops.zeros((batch, self.units), dtype)
            cell_states = (zeros,) * self.num_cell_states
        cell_states = (
            tuple(cell_states)
            if isinstance(cell_states, (list, tuple))
            else (cell_states,)
        )
        if len(cell_states) != self.num_cell_states:
            raise ValueError(
                f"A {self.cell_type.upper()} cell takes {self.num_cell_states} "
                f"state tensor(s). Received: {len(cell_states)} cell_states"
            )
        attention = ops.zeros((batch, self.attention_layer_size), dtype)
        alignments = self.mechanism.initial_alignments(batch, memory_time, dtype)
        return cell_states, attention, alignments

    def call(self, inputs, states, memory, memory_mask=None, keys=None, training=None):
        cell_states, previous_attention, previous_alignments = states
        if memory_mask is None:
            memory_mask = getattr(memory, "_keras_mask", None)
        cell_input = ops.concatenate([inputs, previous_attention], axis=-1)
        output, new_cell_states = self.rnn_cell(
            cell_input, list(cell_states), training=training
        )
        if keys is None:
            keys = self.keys(memory)
        alignments = self.mechanism.align(
            output, keys, memory_mask, previous_alignments=previous_alignments
        )
        context = functions.context(alignments, memory)
        attention = self.attention_projection(
            ops.concatenate([output, context], axis=-1)
        )
        return attention, (tuple(new_cell_states), attention, alignments)

    def unroll(self, inputs, initial_state, memory, memory_mask=None, training=None):
        """Runs the cell over a whole input sequence (teacher forcing).

        The memory keys are computed once, and the loop is
        `keras_seq2seq.backend.scan` (compiled on every backend).

        Args:
            inputs: `(batch, time, input_depth)`.
            initial_state: as from `get_initial_state`.
            memory, memory_mask, training: as in `call`.

        Returns:
            `(attention, alignments, final_state)`: attention vectors
            `(batch, time, attention_layer_size)`, alignments
            `(batch, time, memory_time)` and the state after the last step.
        """
        check_rank(self.name, "inputs", inputs, 3, "(batch, time, depth)")
        if not self.built:  # not inside the loop: JAX cannot create variables there
            self.build((None, inputs.shape[-1]), tuple(memory.shape))
        keys = self.keys(memory)
        if memory_mask is None:
            memory_mask = getattr(memory, "_keras_mask", None)

        def step(state, x):
            attention, state = self(
                x, state, memory, memory_mask=memory_mask, keys=keys, training=training
            )
            return state, (attention, state[2])

        final_state, (attention, alignments) = scan(
            step, initial_state, ops.moveaxis(inputs, 1, 0)
        )
        return (
            ops.moveaxis(attention, 0, 1),
            ops.moveaxis(alignments, 0, 1),
            final_state,
        )

    def get_config(self):
        attention = self.attention
        if attention is None:
            attention = keras.saving.serialize_keras_object(self.mechanism)
        serialize = keras.initializers.serialize
        return {
            **super().get_config(),
            "units": self.units,
            "attention": attention,
            "cell_type": self.cell_type,
            "attention_units": self.attention_units,
            "attention_layer_size": self.attention_layer_size,
            "kernel_initializer": serialize(self.kernel_initializer),
            "recurrent_initializer": serialize(self.recurrent_initializer),
            "bias_initializer": serialize(self.bias_initializer),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("attention"), dict):
            config["attention"] = keras.saving.deserialize_keras_object(
                config["attention"]
            )
        return cls(**config)
