"""tfa-compatible attention: `tfa.seq2seq.attention_wrapper` on Keras 3.

The classes here keep the API of TensorFlow Addons 0.23 (`memory` given to
the mechanism, `setup_memory`, `mechanism([query, state])`,
`AttentionWrapper` stepped like an RNN cell, `AttentionWrapperState`) and
delegate the math to `keras_seq2seq.attention`: scores, masking,
probabilities and monotonic attention are the core library's. What is
added is the state tfa keeps between calls: the (masked) memory and its
keys, set once per source batch.

Memory set with eager tensors is used directly. Memory set with symbolic
`keras.KerasTensor`s (a functional model) records a node in the model graph;
when the model runs, that node sets the mechanism's memory before the layers
that read it. `AttentionWrapper.get_initial_state` then returns symbolic
tensors that depend on the memory, so passing that state to
`keras.layers.RNN(wrapper)` keeps the memory in the model graph.
"""

import collections
import inspect

import keras
from keras import ops, tree

from keras_seq2seq.attention import bahdanau as _bahdanau
from keras_seq2seq.attention import base as _base
from keras_seq2seq.attention import functions as _functions
from keras_seq2seq.attention import luong as _luong
from keras_seq2seq.attention import monotonic as _monotonic
from keras_seq2seq.validation import check_positive_int, check_same_batch

# Not "keras_seq2seq": the core mechanisms are registered there under the
# same class names (BahdanauAttention, ...), and one would replace the other.
_PACKAGE = "keras_seq2seq.seq2seq"

__all__ = [
    "AlignmentHistory",
    "AttentionMechanism",
    "AttentionWrapper",
    "AttentionWrapperState",
    "BahdanauAttention",
    "BahdanauMonotonicAttention",
    "LuongAttention",
    "LuongMonotonicAttention",
    "hardmax",
    "monotonic_attention",
    "reserve_alignment_history",
    "safe_cumprod",
]


# --------------------------------------------------------------------------
# Functions (tfa.seq2seq.hardmax, safe_cumprod, monotonic_attention)
# --------------------------------------------------------------------------


def hardmax(logits, name=None):
    """One-hot vectors of the largest logit along the last axis (ties: first).

    Same as `tfa.seq2seq.hardmax`; `name` is accepted and ignored.

    Example:
    >>> ops.convert_to_numpy(hardmax([[1.0, 3.0, 3.0]])).tolist()
    [[0.0, 1.0, 0.0]]
    """
    del name
    return _functions.hardmax(ops.convert_to_tensor(logits))


def safe_cumprod(x, axis=0, exclusive=False, reverse=False):
    """Cumulative product computed as `exp(cumsum(log(x)))`, safe for tiny x.

    Same arguments as tfa's (`tf.math.cumprod`'s): `x` is clipped to
    `[tiny, 1]` first, so it is meant for probabilities.

    Example:
    >>> x = [[0.5, 0.5, 0.5]]
    >>> ops.convert_to_numpy(safe_cumprod(x, axis=1, reverse=True)).tolist()
    [[0.125, 0.25, 0.5]]
    """
    x = ops.convert_to_tensor(x)
    if reverse:
        x = ops.flip(x, axis=axis)
    result = _functions.safe_cumprod(x, axis=axis, exclusive=exclusive)
    return ops.flip(result, axis=axis) if reverse else result


def monotonic_attention(p_choose_i, previous_attention, mode):
    """Monotonic attention from choosing probabilities, as tfa's.

    Args:
        p_choose_i: (batch, memory_time) probabilities of stopping at each
            memory step, in [0, 1].
        previous_attention: (batch, memory_time) the previous step's
            attention; `[1, 0, ..., 0]` rows before the first step.
        mode: `"recursive"`, `"parallel"` or `"hard"` (see
            `keras_seq2seq.attention.monotonic_attention`).

    Returns:
        (batch, memory_time) attention.

    Example:
    >>> p = [[0.0, 1.0, 1.0]]
    >>> ops.convert_to_numpy(monotonic_attention(p, [[1.0, 0, 0]], "hard")).tolist()
    [[0.0, 1.0, 0.0]]
    """
    return _functions.monotonic_attention(
        ops.convert_to_tensor(p_choose_i),
        ops.convert_to_tensor(previous_attention),
        mode,
    )


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def _is_symbolic(x):
    return isinstance(x, keras.KerasTensor)


def _any_symbolic(*structures):
    return any(_is_symbolic(x) for x in tree.flatten(structures))


def _is_empty_sequence(x):
    return isinstance(x, (list, tuple)) and len(x) == 0


def _concrete_numpy(x):
    """`x` as a NumPy array when its value is known now, else None."""
    if x is None or _is_symbolic(x):
        return None
    try:
        return ops.convert_to_numpy(x)
    except Exception:  # a traced tensor (tf.function, jax.jit): no value yet
        return None


def _static_int(x):
    """`x` as a Python int when it is known now (int, NumPy or eager scalar)."""
    if x is None or isinstance(x, int):
        return x
    value = _concrete_numpy(x)
    return None if value is None else int(value)


def _memory_not_set_error(owner):
    return ValueError(
        f"{owner}: the attention mechanism has no memory yet. Pass "
        "`memory=` to its constructor or call "
        "`attention_mechanism.setup_memory(memory, memory_sequence_length)` "
        "first."
    )


# --------------------------------------------------------------------------
# Attention mechanisms
# --------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package=_PACKAGE)
class AttentionMechanism(_base.AttentionMechanism):
    """Base of the tfa-compatible mechanisms: holds the memory between calls.

    Subclasses pair this class with a core mechanism
    (`keras_seq2seq.attention`), which scores and normalises. This class adds
    tfa's memory handling:

    - `setup_memory(memory, memory_sequence_length=None, memory_mask=None)`
      zeroes the memory past each length (`values`), projects it once with
      `memory_layer` (`keys`) and remembers the mask for the scores. It can
      be called again for every new source batch.
    - `mechanism([query, state])` returns `(alignments, next_state)` for one
      decoder step. `state` is the previous step's alignments (used by the
      monotonic mechanisms) and `next_state` equals `alignments`.

    Weights follow tfa's layout and order: the mechanism's own variables
    (`attention_v`, `attention_score_bias`, `attention_g`, `attention_b`),
    then `query_layer.kernel`, then `memory_layer.kernel`, both
    `Dense(units, use_bias=False)`. So `set_weights(tfa_mechanism.get_weights())`
    works.

    Custom mechanisms may override `_calculate_attention(query, state)` as in
    tfa; `self.keys`, `self.values` and `self.memory_mask` are available.
    """

    _uses_query_layer = True

    def _init_memory_state(self, memory, memory_sequence_length, kwargs):
        for unsupported in ("query_layer", "memory_layer"):
            if kwargs.get(unsupported) is not None:
                raise ValueError(
                    f"{type(self).__name__}: `{unsupported}` is not supported; "
                    "the projections are `Dense(units, use_bias=False)` as in "
                    f"tfa's defaults. Received: {unsupported}="
                    f"{kwargs[unsupported]!r}"
                )
        self.query_layer = (
            keras.layers.Dense(
                self.units,
                use_bias=False,
                name="query_layer",
                dtype=self.dtype_policy,
            )
            if self._uses_query_layer
            else None
        )
        self.memory_layer = keras.layers.Dense(
            self.units, use_bias=False, name="memory_layer", dtype=self.dtype_policy
        )
        self._values = None
        self._keys = None
        self._memory_mask = None
        self._memory_initialized = False
        if memory is not None:
            self.setup_memory(memory, memory_sequence_length)

    @staticmethod
    def _pop_tfa_kwargs(kwargs):
        """Removes tfa's custom-projection arguments (refused by `_init_memory_state`)."""
        return {
            key: kwargs.pop(key)
            for key in ("query_layer", "memory_layer")
            if key in kwargs
        }

    # -- the core mechanism reads its projections from these --------------

    @property
    def query_kernel(self):
        return None if self.query_layer is None else self.query_layer.kernel

    @property
    def memory_kernel(self):
        return self.memory_layer.kernel

    # -- tfa properties ------------------------------------------------------

    @property
    def memory_initialized(self):
        """True once a memory was given (constructor or `setup_memory`)."""
        return self._memory_initialized

    @property
    def values(self):
        """The memory, zeroed past each sequence length: (batch, time, depth)."""
        return self._values

    @property
    def keys(self):
        """`memory_layer(values)`: (batch, time, units), computed once per memory."""
        return self._keys

    @property
    def memory_mask(self):
        """Boolean (batch, time) mask of the memory (True = keep), or None."""
        return self._memory_mask

    @property
    def batch_size(self):
        """The memory's batch size: an int, or a scalar tensor when dynamic."""
        if self._values is None:
            return None
        static = self._values.shape[0]
        return static if static is not None else ops.shape(self._values)[0]

    @property
    def alignments_size(self):
        """The memory time (int), or None before the memory is set or if dynamic."""
        return None if self._values is None else self._values.shape[1]

    @property
    def state_size(self):
        return self.alignments_size

    def _memory_time(self):
        static = self._values.shape[1]
        return static if static is not None else ops.shape(self._values)[1]

    def initial_alignments(self, batch_size, dtype=None):
        """Alignments before the first step: zeros ((batch, memory_time))."""
        if not self._memory_initialized:
            raise _memory_not_set_error(type(self).__name__)
        return super().initial_alignments(batch_size, self._memory_time(), dtype)

    def initial_state(self, batch_size, dtype=None):
        """State before the first step; the same as `initial_alignments`."""
        return self.initial_alignments(batch_size, dtype)

    # -- weights --------------------------------------------------------------

    def build(self, input_shape=None):
        # Own variables need only `units`; the projections are built when
        # their input depths are known (memory at setup, query at first use).
        self._create_weights()
        query_shape = self._query_shape_from(input_shape)
        if query_shape is not None:
            self._build_query(query_shape)

    def _create_weights(self):
        raise NotImplementedError

    @staticmethod
    def _query_shape_from(input_shape):
        if isinstance(input_shape, (list, tuple)) and input_shape:
            first = input_shape[0]
            if isinstance(first, (list, tuple)) and len(first) == 2:
                return tuple(first)
        return None

    def _build_query(self, query_shape):
        depth = query_shape[-1]
        if self.query_layer is None:
            if depth is not None and depth != self.units:
                raise ValueError(
                    f"{type(self).__name__}: the query depth must equal `units` "
                    "(the memory is projected to `units` and dotted with the "
                    f"query). Received: units={self.units}, query depth {depth}"
                )
        elif not self.query_layer.built:
            self.query_layer.build(tuple(query_shape))

    # -- memory ----------------------------------------------------------------

    def setup_memory(self, memory, memory_sequence_length=None, memory_mask=None):
        """Sets the memory to attend over (call again for each new batch).

        Args:
            memory: (batch, memory_time, depth), usually the encoder outputs.
            memory_sequence_length: optional (batch,) valid lengths; the memory
                is zeroed past them and those steps get zero weight.
            memory_mask: optional boolean (batch, memory_time), True = keep;
                not together with `memory_sequence_length`. When neither is
                given, the Keras mask carried by `memory` (if any) is used.

        Returns:
            `values`: the masked memory.
        """
        if memory_sequence_length is not None and memory_mask is not None:
            raise ValueError(
                f"{type(self).__name__}: pass `memory_sequence_length` or "
                "`memory_mask`, not both."
            )
        if memory_sequence_length is None and memory_mask is None:
            memory_mask = getattr(memory, "_keras_mask", None)
        if _any_symbolic(memory, memory_sequence_length, memory_mask):
            # A node of the model graph; when the model runs, its call sets
            # the real memory here (see `_SetupMemory`).
            return _SetupMemory(self)(memory, memory_sequence_length, memory_mask)
        return self._setup(memory, memory_sequence_length, memory_mask)

    def _check_memory(self, memory, memory_sequence_length, memory_mask):
        name = type(self).__name__
        if len(memory.shape) != 3:
            raise ValueError(
                f"{name}: `memory` must have rank 3 (batch, time, depth). "
                f"Received: memory.shape={tuple(memory.shape)}"
            )
        if memory.shape[-1] is None:
            raise ValueError(
                f"{name}: the depth of `memory` (its last axis) must be known. "
                f"Received: memory.shape={tuple(memory.shape)}"
            )
        if memory_sequence_length is not None:
            lengths = memory_sequence_length
            if len(lengths.shape) != 1:
                raise ValueError(
                    f"{name}: `memory_sequence_length` must have shape (batch,). "
                    f"Received: memory_sequence_length.shape={tuple(lengths.shape)}"
                )
            check_same_batch(lengths, memory, "memory_sequence_length", "memory")
            values = _concrete_numpy(lengths)
            if values is not None and values.size and values.min() <= 0:
                raise ValueError(
                    f"{name}: all values in `memory_sequence_length` must be "
                    f"greater than zero. Received: memory_sequence_length="
                    f"{values.tolist()}"
                )
        if memory_mask is not None and tuple(memory_mask.shape) != tuple(
            memory.shape[:2]
        ):
            raise ValueError(
                f"{name}: `memory_mask` must have shape (batch, memory_time) = "
                f"{tuple(memory.shape[:2])}. Received: memory_mask.shape="
                f"{tuple(memory_mask.shape)}"
            )

    def _split_memory_inputs(self, inputs):
        if isinstance(inputs, (list, tuple)):
            if len(inputs) not in (1, 2):
                raise ValueError(
                    f"{type(self).__name__}: to set up the memory, pass `memory` "
                    "or `[memory, memory_sequence_length]`. Received "
                    f"{len(inputs)} tensors."
                )
            return inputs[0], (inputs[1] if len(inputs) == 2 else None)
        return inputs, None

    def _setup(self, memory, memory_sequence_length=None, memory_mask=None):
        """Sets the memory from tensors with values (eager or traced)."""
        memory = ops.convert_to_tensor(memory)
        lengths, mask = memory_sequence_length, memory_mask
        if lengths is not None:
            lengths = ops.convert_to_tensor(lengths)
        if mask is not None:
            mask = ops.convert_to_tensor(mask)
        self._check_memory(memory, lengths, mask)
        memory = ops.cast(memory, self.compute_dtype)
        if lengths is not None:
            steps = ops.arange(ops.shape(memory)[1], dtype="int32")
            mask = ops.expand_dims(steps, 0) < ops.expand_dims(
                ops.cast(lengths, "int32"), 1
            )
        elif mask is not None:
            mask = ops.cast(mask, "bool")
        values = memory
        if mask is not None:
            values = memory * ops.expand_dims(ops.cast(mask, memory.dtype), -1)
        self._ensure_memory_side_built(values.shape)
        self._values = values
        self._keys = self.memory_layer(values)
        self._memory_mask = mask
        self._memory_initialized = True
        return values

    def _ensure_memory_side_built(self, memory_shape):
        if not self.built:
            self.build()
        if not self.memory_layer.built:
            self.memory_layer.build(tuple(memory_shape))

    def _setup_symbolic(self, memory, memory_sequence_length=None, memory_mask=None):
        """Records a symbolic memory: placeholders until the model runs."""
        self._check_memory(memory, memory_sequence_length, memory_mask)
        self._ensure_memory_side_built(memory.shape)
        values = keras.KerasTensor(tuple(memory.shape), dtype=self.compute_dtype)
        self._values = values
        self._keys = keras.KerasTensor(
            tuple(memory.shape[:2]) + (self.units,), dtype=self.compute_dtype
        )
        has_mask = memory_sequence_length is not None or memory_mask is not None
        self._memory_mask = (
            keras.KerasTensor(tuple(memory.shape[:2]), dtype="bool")
            if has_mask
            else None
        )
        self._memory_initialized = True
        return values

    # -- calls -------------------------------------------------------------------

    def __call__(self, inputs, *args, **kwargs):
        if kwargs.pop("setup_memory", False):
            # tfa's `mechanism(memory, setup_memory=True)`.
            memory, lengths = self._split_memory_inputs(inputs)
            return self.setup_memory(memory, lengths, kwargs.get("mask"))
        if not isinstance(inputs, (list, tuple)) or len(inputs) not in (2, 3):
            raise ValueError(
                f"{type(self).__name__} expects `[query, state]` (state: the "
                "previous alignments). Received: "
                f"{type(inputs).__name__} of length "
                f"{len(inputs) if isinstance(inputs, (list, tuple)) else 1}"
            )
        inputs = list(inputs[:2])
        if _is_symbolic(self._values):
            # As tfa: the memory joins the inputs so the model graph holds it.
            inputs.append(self._values)
        return super().__call__(inputs, *args, **kwargs)

    def call(self, inputs, mask=None, setup_memory=False, **kwargs):
        """Sets up the memory (`setup_memory=True`) or attends one query.

        Args:
            inputs: `[query, state]` with query (batch, query_depth) and state
                the previous alignments (batch, memory_time); or, with
                `setup_memory=True`, `memory` or
                `[memory, memory_sequence_length]`.
            mask: with `setup_memory=True`, an optional memory mask.

        Returns:
            `(alignments, next_state)`, both (batch, memory_time); or the
            masked memory (`values`) with `setup_memory=True`.
        """
        if setup_memory:
            memory, lengths = self._split_memory_inputs(inputs)
            return self._setup(memory, lengths, mask)
        if not self._memory_initialized:
            raise _memory_not_set_error(type(self).__name__)
        if _is_symbolic(self._values):
            raise ValueError(
                f"{type(self).__name__}: the memory was set up with a symbolic "
                "`keras.KerasTensor`, which has no value here. In a functional "
                "model, make sure the layer that uses this mechanism depends on "
                "the memory: pass `initial_state=wrapper.get_initial_state(...)` "
                "to `keras.layers.RNN(wrapper)`. Outside a model, call "
                "`setup_memory` with real tensors."
            )
        query, state = inputs[0], inputs[1]
        return self._calculate_attention(query, state)

    def _calculate_attention(self, query, state):
        name = type(self).__name__
        if len(query.shape) != 2:
            raise ValueError(
                f"{name}: `query` must have shape (batch, depth). "
                f"Received: query.shape={tuple(query.shape)}"
            )
        check_same_batch(query, self._values, "query", "memory")
        self._build_query(tuple(query.shape))
        alignments = self.align(
            query, self._keys, self._memory_mask, previous_alignments=state
        )
        return alignments, alignments

    def compute_output_spec(self, inputs, mask=None, setup_memory=False, **kwargs):
        query = inputs[0]
        self._build_query(tuple(query.shape))
        shape = (query.shape[0], self._values.shape[1])
        spec = keras.KerasTensor(shape, dtype=self.compute_dtype)
        return spec, keras.KerasTensor(shape, dtype=self.compute_dtype)

    def compute_mask(self, inputs, mask=None):
        return None

    # -- config ---------------------------------------------------------------

    _config_drop = ()

    def get_config(self):
        config = super().get_config()
        for key in self._config_drop:
            config.pop(key, None)
        # tfa's placeholder: the memory is an input, not configuration.
        config["memory"] = None
        return config


def _add_scalar(layer, name, value):
    return layer.add_weight(
        shape=(), initializer=keras.initializers.Constant(value), name=name
    )


def _add_bahdanau_g_b(layer):
    layer.attention_g = _add_scalar(layer, "attention_g", (1.0 / layer.units) ** 0.5)
    layer.attention_b = layer.add_weight(
        shape=(layer.units,), initializer="zeros", name="attention_b"
    )


@keras.saving.register_keras_serializable(package=_PACKAGE)
class BahdanauAttention(AttentionMechanism, _bahdanau.BahdanauAttention):
    """tfa's Bahdanau (additive) attention, holding its memory.

    `score = v . tanh(query_layer(query) + memory_layer(values))`; with
    `normalize=True`, `v` becomes `g * v / |v|` and a bias `b` is added
    inside the tanh. See `AttentionMechanism` for the memory API.

    Args:
        units: depth of the query and memory projections.
        memory: optional (batch, memory_time, depth) memory; or call
            `setup_memory` later.
        memory_sequence_length: optional (batch,) lengths of the memory.
        normalize: weight-normalised form (adds `attention_g`, `attention_b`).
        probability_fn: `"softmax"` or `"hardmax"`.
        kernel_initializer: initializer of `attention_v` (the projections use
            Keras' default, as in tfa).
        dtype: dtype or dtype policy.
        name: layer name.

    Call arguments:
        inputs: `[query, state]`: query (batch, query_depth), state the
            previous alignments (batch, memory_time).

    Returns:
        `(alignments, next_state)`, both (batch, memory_time); padded memory
        steps get zero weight.

    Example:
    >>> memory = keras.random.normal((2, 5, 6))
    >>> attention = BahdanauAttention(4, memory, memory_sequence_length=[5, 3])
    >>> state = attention.initial_state(2, "float32")
    >>> alignments, state = attention([keras.random.normal((2, 7)), state])
    >>> tuple(alignments.shape)
    (2, 5)

    References:
        Bahdanau, Cho & Bengio 2015, "Neural Machine Translation by Jointly
        Learning to Align and Translate".
    """

    def __init__(
        self,
        units,
        memory=None,
        memory_sequence_length=None,
        normalize=False,
        probability_fn="softmax",
        kernel_initializer="glorot_uniform",
        dtype=None,
        name="BahdanauAttention",
        **kwargs,
    ):
        tfa_kwargs = self._pop_tfa_kwargs(kwargs)
        super().__init__(
            units=units,
            normalize=normalize,
            probability_fn=probability_fn,
            kernel_initializer=kernel_initializer,
            dtype=dtype,
            name=name,
            **kwargs,
        )
        self._init_memory_state(memory, memory_sequence_length, tfa_kwargs)

    def _create_weights(self):
        self.attention_v = self.add_weight(
            shape=(self.units,), initializer=self.kernel_initializer, name="attention_v"
        )
        self.attention_g = self.attention_b = None
        if self.normalize:
            _add_bahdanau_g_b(self)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class LuongAttention(AttentionMechanism, _luong.LuongAttention):
    """tfa's Luong (multiplicative) attention, holding its memory.

    `score = query . memory_layer(values)`, times a learned scalar `g` when
    `scale=True`. The query depth must equal `units`. See
    `AttentionMechanism` for the memory API.

    Args:
        units: depth of the memory projection; must equal the query depth.
        memory: optional (batch, memory_time, depth) memory.
        memory_sequence_length: optional (batch,) lengths of the memory.
        scale: learn a scalar `g` (tfa's `scale_weight`, initialised to 1).
        probability_fn: `"softmax"` or `"hardmax"`.
        dtype: dtype or dtype policy.
        name: layer name.

    Call arguments:
        inputs: `[query, state]`, query (batch, units).

    Returns:
        `(alignments, next_state)`, both (batch, memory_time).

    Example:
    >>> memory = keras.random.normal((2, 5, 6))
    >>> attention = LuongAttention(4, memory, memory_sequence_length=[5, 3])
    >>> state = attention.initial_state(2, "float32")
    >>> alignments, state = attention([keras.random.normal((2, 4)), state])
    >>> tuple(alignments.shape)
    (2, 5)

    References:
        Luong, Pham & Manning 2015, "Effective Approaches to Attention-based
        Neural Machine Translation".
    """

    _uses_query_layer = False
    _config_drop = ("score_mode", "kernel_initializer")

    def __init__(
        self,
        units,
        memory=None,
        memory_sequence_length=None,
        scale=False,
        probability_fn="softmax",
        dtype=None,
        name="LuongAttention",
        **kwargs,
    ):
        tfa_kwargs = self._pop_tfa_kwargs(kwargs)
        check_positive_int("units", units)
        super().__init__(
            units=units,
            score_mode="general",
            scale=scale,
            probability_fn=probability_fn,
            dtype=dtype,
            name=name,
            **kwargs,
        )
        self._init_memory_state(memory, memory_sequence_length, tfa_kwargs)

    @property
    def scale_weight(self):
        """tfa's name for the scale `g` (None unless `scale=True`)."""
        return self.attention_g

    def _create_weights(self):
        self.attention_v = None
        self.attention_g = _add_scalar(self, "attention_g", 1.0) if self.scale else None


@keras.saving.register_keras_serializable(package=_PACKAGE)
class BahdanauMonotonicAttention(
    AttentionMechanism, _monotonic.BahdanauMonotonicAttention
):
    """tfa's monotonic attention with Bahdanau scores, holding its memory.

    Each memory step is chosen with probability
    `sigmoid(score + attention_score_bias)` (plus Gaussian noise of std
    `sigmoid_noise` when > 0), scanning forward from the previous alignments;
    `state` must be the previous alignments, `[1, 0, ..., 0]` at the start
    (`initial_state`).

    Args:
        units, memory, memory_sequence_length, normalize, kernel_initializer,
        dtype, name: as `BahdanauAttention`.
        sigmoid_noise: std of the pre-sigmoid noise (0 at inference).
        sigmoid_noise_seed: seed of that noise.
        score_bias_init: initial value of `attention_score_bias`.
        mode: `"parallel"`, `"recursive"` or `"hard"`.

    Call arguments:
        inputs: `[query, state]`.

    Returns:
        `(alignments, next_state)`, both (batch, memory_time).

    Example:
    >>> memory = keras.random.normal((2, 5, 6))
    >>> attention = BahdanauMonotonicAttention(4, memory, mode="recursive")
    >>> state = attention.initial_state(2, "float32")
    >>> alignments, state = attention([keras.random.normal((2, 7)), state])
    >>> tuple(alignments.shape)
    (2, 5)

    References:
        Raffel et al. 2017, "Online and Linear-Time Attention by Enforcing
        Monotonic Alignments".
    """

    def __init__(
        self,
        units,
        memory=None,
        memory_sequence_length=None,
        normalize=False,
        sigmoid_noise=0.0,
        sigmoid_noise_seed=None,
        score_bias_init=0.0,
        mode="parallel",
        kernel_initializer="glorot_uniform",
        dtype=None,
        name="BahdanauMonotonicAttention",
        **kwargs,
    ):
        tfa_kwargs = self._pop_tfa_kwargs(kwargs)
        super().__init__(
            units=units,
            normalize=normalize,
            sigmoid_noise=sigmoid_noise,
            sigmoid_noise_seed=sigmoid_noise_seed,
            score_bias_init=score_bias_init,
            mode=mode,
            kernel_initializer=kernel_initializer,
            dtype=dtype,
            name=name,
            **kwargs,
        )
        self._init_memory_state(memory, memory_sequence_length, tfa_kwargs)

    _config_drop = ("probability_fn",)

    def _create_weights(self):
        self.attention_v = self.add_weight(
            shape=(self.units,), initializer=self.kernel_initializer, name="attention_v"
        )
        self.attention_score_bias = _add_scalar(
            self, "attention_score_bias", self.score_bias_init
        )
        self.attention_g = self.attention_b = None
        if self.normalize:
            _add_bahdanau_g_b(self)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class LuongMonotonicAttention(AttentionMechanism, _monotonic.LuongMonotonicAttention):
    """tfa's monotonic attention with Luong scores, holding its memory.

    As `BahdanauMonotonicAttention`, with `score = query . memory_layer(values)`
    (times `attention_g` when `scale=True`); the query depth must equal
    `units`.

    Args:
        units, memory, memory_sequence_length, scale, dtype, name: as
        `LuongAttention`.
        sigmoid_noise, sigmoid_noise_seed, score_bias_init, mode: as
        `BahdanauMonotonicAttention`.

    Call arguments:
        inputs: `[query, state]`.

    Returns:
        `(alignments, next_state)`, both (batch, memory_time).

    Example:
    >>> memory = keras.random.normal((2, 5, 6))
    >>> attention = LuongMonotonicAttention(4, memory, mode="hard")
    >>> state = attention.initial_state(2, "float32")
    >>> alignments, state = attention([keras.random.normal((2, 4)), state])
    >>> tuple(alignments.shape)
    (2, 5)

    References:
        Raffel et al. 2017, "Online and Linear-Time Attention by Enforcing
        Monotonic Alignments".
    """

    _uses_query_layer = False
    _config_drop = ("score_mode", "kernel_initializer", "probability_fn")

    def __init__(
        self,
        units,
        memory=None,
        memory_sequence_length=None,
        scale=False,
        sigmoid_noise=0.0,
        sigmoid_noise_seed=None,
        score_bias_init=0.0,
        mode="parallel",
        dtype=None,
        name="LuongMonotonicAttention",
        **kwargs,
    ):
        tfa_kwargs = self._pop_tfa_kwargs(kwargs)
        check_positive_int("units", units)
        super().__init__(
            units=units,
            score_mode="general",
            scale=scale,
            sigmoid_noise=sigmoid_noise,
            sigmoid_noise_seed=sigmoid_noise_seed,
            score_bias_init=score_bias_init,
            mode=mode,
            dtype=dtype,
            name=name,
            **kwargs,
        )
        self._init_memory_state(memory, memory_sequence_length, tfa_kwargs)

    def _create_weights(self):
        self.attention_v = None
        self.attention_g = _add_scalar(self, "attention_g", 1.0) if self.scale else None
        self.attention_score_bias = _add_scalar(
            self, "attention_score_bias", self.score_bias_init
        )


# --------------------------------------------------------------------------
# Graph nodes for a symbolic memory
# --------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package=_PACKAGE)
class _SetupMemory(keras.Operation):
    """`mechanism.setup_memory(memory)` as a node of a functional model.

    Built when the memory is a `keras.KerasTensor`. While the model is being
    built, the mechanism gets placeholders (shapes only); each time the model
    runs, this node's `call` sets the real memory, before the layers that
    read it (they depend on its output, see
    `AttentionWrapper.get_initial_state`).
    """

    def __init__(self, mechanism, name=None):
        super().__init__(name=name)
        self.mechanism = mechanism

    def call(self, memory, memory_sequence_length=None, memory_mask=None):
        return self.mechanism._setup(memory, memory_sequence_length, memory_mask)

    def compute_output_spec(
        self, memory, memory_sequence_length=None, memory_mask=None
    ):
        return self.mechanism._setup_symbolic(
            memory, memory_sequence_length, memory_mask
        )

    def get_config(self):
        # The object itself (not its serialized config): Keras serializes it
        # in place, so a model file shares it with the layers that use it.
        return {"name": self.name, "mechanism": self.mechanism}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["mechanism"] = keras.saving.deserialize_keras_object(config["mechanism"])
        return cls(**config)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class _InitialState(keras.Operation):
    """`wrapper.get_initial_state()` as a node fed by the symbolic memories.

    Its output (the zero state, computed from the memories' batch size when
    the model runs) makes whatever consumes the state depend on the memory
    setup nodes, so a functional model runs them first.
    """

    def __init__(self, wrapper, state_dtype="float32", name=None):
        super().__init__(name=name)
        self.wrapper = wrapper
        self.state_dtype = state_dtype

    def call(self, values):
        return self.wrapper._zero_state(ops.shape(values[0])[0], self.state_dtype)

    def compute_output_spec(self, values):
        self.wrapper._finish_build()
        return self.wrapper._initial_state_spec(values, self.state_dtype)

    def get_config(self):
        # The wrapper itself, for the reason given in `_SetupMemory.get_config`.
        return {
            "name": self.name,
            "wrapper": self.wrapper,
            "state_dtype": self.state_dtype,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["wrapper"] = keras.saving.deserialize_keras_object(config["wrapper"])
        return cls(**config)


# --------------------------------------------------------------------------
# Wrapper state and alignment history
# --------------------------------------------------------------------------


class AttentionWrapperState(
    collections.namedtuple(
        "AttentionWrapperState",
        (
            "cell_state",
            "attention",
            "alignments",
            "alignment_history",
            "attention_state",
        ),
    )
):
    """State of an `AttentionWrapper`, as tfa's.

    Attributes:
        cell_state: the wrapped cell's state.
        attention: (batch, attention_size) the attention of the last step.
        alignments: the last step's alignments, one (batch, memory_time)
            tensor per mechanism (a tuple when the wrapper got a list).
        alignment_history: `()` when disabled, else one `AlignmentHistory`
            per mechanism; `.stack()` gives (time, batch, memory_time).
        attention_state: each mechanism's state (its last alignments).
    """

    __slots__ = ()

    def clone(self, **kwargs):
        """A copy with the given fields replaced; their static shapes must match.

        Example:
        >>> state = AttentionWrapperState(ops.zeros((2, 3)), (), (), (), ())
        >>> tuple(state.clone(cell_state=ops.ones((2, 3))).cell_state.shape)
        (2, 3)
        """
        new = self._replace(**kwargs)
        for field in kwargs:
            _check_same_shapes(field, getattr(self, field), getattr(new, field))
        return new


def _check_same_shapes(field, old, new):
    old_leaves, new_leaves = tree.flatten(old), tree.flatten(new)
    if len(old_leaves) != len(new_leaves):
        return
    for old_leaf, new_leaf in zip(old_leaves, new_leaves):
        old_shape = getattr(old_leaf, "shape", None)
        new_shape = getattr(new_leaf, "shape", None)
        if old_shape is None or new_shape is None:
            continue
        old_shape, new_shape = tuple(old_shape), tuple(new_shape)
        same = len(old_shape) == len(new_shape) and all(
            a is None or b is None or a == b for a, b in zip(old_shape, new_shape)
        )
        if not same:
            raise ValueError(
                "AttentionWrapperState.clone: the new value must have the shape "
                f"of the one it replaces. Received: {field} with shape "
                f"{new_shape}, expected {old_shape}"
            )


class AlignmentHistory(
    collections.namedtuple("AlignmentHistory", ("history", "written"))
):
    """Alignments of every step so far, as a tensor (tfa used a TensorArray).

    Stored batch-major so it follows the batch through `keras.layers.RNN`
    masking and beam reordering; `stack()` returns tfa's time-major
    (time, batch, memory_time).

    Two forms:
    - growing (`written == ()`, what `alignment_history=True` gives):
      `history` is (batch, steps, memory_time) and gains one step per
      `append`. Its shape changes every step, so it suits eager stepping and
      Python loops, not compiled loops (`keras.layers.RNN`, `while_loop`).
    - preallocated (`alignment_history=<max steps>`, or `reserve(steps)`):
      `history` is (batch, capacity, memory_time) and `written` a
      (batch, capacity) 0/1 mask of the steps filled; shapes never change,
      so it works in compiled loops on every backend. Steps past the
      capacity are dropped.

    Attributes:
        history: the alignments, batch-major.
        written: `()` (growing) or the (batch, capacity) mask.
    """

    __slots__ = ()

    @classmethod
    def empty(cls, batch_size, memory_time, dtype, capacity=None):
        """A history with no step yet (growing, or with `capacity` steps of room)."""
        if capacity is None:
            return cls(ops.zeros((batch_size, 0, memory_time), dtype=dtype), ())
        return cls(
            ops.zeros((batch_size, capacity, memory_time), dtype=dtype),
            ops.zeros((batch_size, capacity), dtype=dtype),
        )

    @property
    def is_growing(self):
        """True for the growing form (no `written` mask)."""
        return _is_empty_sequence(self.written)

    @property
    def capacity(self):
        """Steps of room (int) of a preallocated history; None when growing."""
        return None if self.is_growing else self.history.shape[1]

    def append(self, alignments):
        """This history with `alignments` (batch, memory_time) as the next step."""
        alignments = ops.cast(alignments, self.history.dtype)
        if self.is_growing:
            step = ops.expand_dims(alignments, 1)
            return AlignmentHistory(ops.concatenate([self.history, step], axis=1), ())
        written = ops.cast(self.written, self.history.dtype)
        # One-hot of the first free step: shifted mask minus mask.
        filled_before = ops.concatenate(
            [ops.ones_like(written[:, :1]), written[:, :-1]], axis=1
        )
        slot = filled_before - written
        history = self.history + ops.expand_dims(slot, 2) * ops.expand_dims(
            alignments, 1
        )
        return AlignmentHistory(history, written + slot)

    def size(self):
        """Number of steps written (int32 scalar; the largest over the batch)."""
        if self.is_growing:
            return ops.convert_to_tensor(ops.shape(self.history)[1], dtype="int32")
        counts = ops.sum(ops.cast(self.written, "float32"), axis=1)
        return ops.cast(ops.max(counts), "int32")

    def stack(self, length=None):
        """The history time-major, (time, batch, memory_time), as tfa's `stack()`.

        A preallocated history is cut to the steps written when that number
        is known (eager code); inside compiled functions all `capacity` steps
        come back, the unwritten ones zero. `length` cuts to a given number of
        steps.
        """
        history = self.history
        if length is None and not self.is_growing:
            length = _static_int(self.size())
        if length is not None:
            history = history[:, :length]
        return ops.transpose(history, (1, 0, 2))

    def read(self, index):
        """The alignments (batch, memory_time) of step `index`."""
        return self.history[:, index]

    def reserve(self, steps):
        """A preallocated copy with room for `steps` more steps (static int)."""
        check_positive_int("steps", steps)
        batch, memory_time = ops.shape(self.history)[0], ops.shape(self.history)[2]
        dtype = self.history.dtype
        extra = ops.zeros((batch, steps, memory_time), dtype=dtype)
        history = ops.concatenate([self.history, extra], axis=1)
        if self.is_growing:
            written = ops.ones(ops.shape(self.history)[:2], dtype=dtype)
        else:
            written = ops.cast(self.written, dtype)
        written = ops.concatenate(
            [written, ops.zeros((batch, steps), dtype=dtype)], axis=1
        )
        return AlignmentHistory(history, written)


def reserve_alignment_history(structure, steps):
    """Makes every `AlignmentHistory` in `structure` preallocated for `steps` more steps.

    For decoders: call it on the initial state before a compiled loop of at
    most `steps` steps (e.g. `maximum_iterations`), so the state keeps its
    shapes. Other values are returned unchanged.
    """
    if isinstance(structure, AlignmentHistory):
        return structure.reserve(steps)
    if isinstance(structure, tuple) and hasattr(structure, "_fields"):
        return type(structure)(
            *(reserve_alignment_history(item, steps) for item in structure)
        )
    if isinstance(structure, (list, tuple)):
        return type(structure)(
            reserve_alignment_history(item, steps) for item in structure
        )
    if isinstance(structure, dict):
        return {k: reserve_alignment_history(v, steps) for k, v in structure.items()}
    return structure


# --------------------------------------------------------------------------
# AttentionWrapper
# --------------------------------------------------------------------------


def _default_cell_input_fn(inputs, attention):
    return ops.concatenate([inputs, attention], axis=-1)


def _compute_attention(
    attention_mechanism, cell_output, attention_state, attention_layer
):
    """tfa's default `attention_fn`: alignments, context, attention layer."""
    alignments, next_attention_state = attention_mechanism(
        [cell_output, attention_state]
    )
    context = _functions.context(alignments, attention_mechanism.values)
    if attention_layer is not None:
        attention = attention_layer(ops.concatenate([cell_output, context], axis=1))
    else:
        attention = context
    return attention, alignments, next_attention_state


def _check_cell(cell):
    is_rnn_layer = isinstance(cell, keras.layers.RNN)
    if (
        is_rnn_layer
        or not isinstance(cell, keras.layers.Layer)
        or getattr(cell, "state_size", None) is None
    ):
        hint = (
            " Pass the cell (e.g. keras.layers.LSTMCell(units)), not the "
            "keras.layers.RNN/LSTM/GRU layer that runs it."
            if is_rnn_layer
            else ""
        )
        raise ValueError(
            "`cell` must be a Keras RNN cell: a layer with a `state_size` "
            "attribute whose `call(inputs, states)` returns "
            f"`(output, new_states)`, e.g. keras.layers.LSTMCell(units).{hint} "
            f"Received: cell={cell!r}"
        )


def _accepts_argument(function, name):
    try:
        return name in inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False


@keras.saving.register_keras_serializable(package=_PACKAGE)
class AttentionWrapper(keras.layers.Layer):
    """Wraps an RNN cell with attention, as `tfa.seq2seq.AttentionWrapper`.

    At each step, with state `(cell_state, attention, alignments, ...)`:

    1. `cell_inputs = cell_input_fn(inputs, attention)` (default: concat);
    2. `cell_output, cell_state = cell(cell_inputs, cell_state)`;
    3. for each mechanism, `alignments = mechanism([cell_output, previous])`,
       `context = alignments @ values`, and
       `attention_i = attention_layer_i(concat([cell_output, context]))`
       (or `context` when there is no attention layer);
    4. `attention = concat(attention_i)`; the output is `attention`
       (`output_attention=True`) or `cell_output`.

    It is a Keras 3 RNN cell (`state_size`, `output_size`,
    `get_initial_state`, `call(inputs, states)`): step it by hand with
    `output, state = wrapper(inputs_t, state)`, or run it with
    `keras.layers.RNN(wrapper, return_sequences=True)`.

    The mechanisms' memory must be set before the first step. In a
    functional model whose memory is a symbolic tensor, pass
    `initial_state=wrapper.get_initial_state(...)` (cloned as needed) to
    `keras.layers.RNN`: that state depends on the memory, which keeps the
    memory in the model graph.

    Args:
        cell: a Keras RNN cell, e.g. `keras.layers.LSTMCell(units)`.
        attention_mechanism: an `AttentionMechanism` or a list of them (the
            state fields are then tuples, one entry per mechanism).
        attention_layer_size: int, or list of ints (one per mechanism): depth
            of the `Dense(size, use_bias=False)` attention layers. None: the
            attention is the context itself. Not with `attention_layer`.
        alignment_history: False; True to keep every step's alignments in a
            growing tensor (eager stepping); or an int, the number of steps to
            preallocate (needed inside `keras.layers.RNN` and other compiled
            loops). `state.alignment_history.stack()` gives
            (time, batch, memory_time). See `AlignmentHistory`.
        cell_input_fn: `fn(inputs, attention) -> cell_inputs`; default
            concatenation on the last axis.
        output_attention: output the attention (True, Luong style) or the
            cell output (False, Bahdanau style).
        initial_cell_state: optional cell state used by `get_initial_state`.
        name: layer name.
        attention_layer: a layer or list of layers (one per mechanism) mapping
            `concat([cell_output, context])` to the attention; not with
            `attention_layer_size`.
        attention_fn: `fn(mechanism, cell_output, attention_state,
            attention_layer) -> (attention, alignments, next_attention_state)`
            replacing the default computation.

    Call arguments:
        inputs: (batch, input_depth) inputs of one step.
        states: an `AttentionWrapperState` (or the list of its fields, as
            `keras.layers.RNN` passes it).

    Returns:
        `(output, next_state)`: output (batch, output_size) and an
        `AttentionWrapperState` (a list when a list came in).

    Example:
    >>> memory = keras.random.normal((2, 5, 6))
    >>> mechanism = LuongAttention(8, memory, memory_sequence_length=[5, 3])
    >>> wrapper = AttentionWrapper(
    ...     keras.layers.LSTMCell(8), mechanism, attention_layer_size=4
    ... )
    >>> state = wrapper.get_initial_state(batch_size=2, dtype="float32")
    >>> output, state = wrapper(keras.random.normal((2, 3)), state)
    >>> tuple(output.shape)
    (2, 4)
    >>> rnn = keras.layers.RNN(wrapper, return_sequences=True)
    >>> tuple(rnn(keras.random.normal((2, 7, 3))).shape)
    (2, 7, 4)

    References:
        Bahdanau, Cho & Bengio 2015; Luong, Pham & Manning 2015 (attention
        layer and input feeding).
    """

    def __init__(
        self,
        cell,
        attention_mechanism,
        attention_layer_size=None,
        alignment_history=False,
        cell_input_fn=None,
        output_attention=True,
        initial_cell_state=None,
        name=None,
        attention_layer=None,
        attention_fn=None,
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        _check_cell(cell)
        self._is_multi = isinstance(attention_mechanism, (list, tuple))
        mechanisms = (
            list(attention_mechanism) if self._is_multi else [attention_mechanism]
        )
        if not mechanisms:
            raise ValueError(
                "`attention_mechanism` must be an AttentionMechanism or a "
                "non-empty list of them. Received: attention_mechanism=[]"
            )
        for mechanism in mechanisms:
            if not isinstance(mechanism, AttentionMechanism):
                raise ValueError(
                    "`attention_mechanism` must be an AttentionMechanism of "
                    "keras_seq2seq.seq2seq (e.g. BahdanauAttention) or a list of "
                    f"them. Received: {mechanism!r}"
                )
        if attention_layer_size is not None and attention_layer is not None:
            raise ValueError(
                "Only one of `attention_layer_size` and `attention_layer` may be "
                f"set. Received: attention_layer_size={attention_layer_size!r}, "
                f"attention_layer={attention_layer!r}"
            )
        if isinstance(alignment_history, bool):
            self._history_capacity = None
        else:
            check_positive_int("alignment_history", alignment_history)
            self._history_capacity = alignment_history
        attention_layers = self._make_attention_layers(
            attention_layer_size, attention_layer, len(mechanisms)
        )
        # Tracked in tfa's weight order: attention layers, cell, mechanisms.
        self._attention_layers = attention_layers
        self._cell = cell
        self._attention_mechanisms = mechanisms
        self._attention_layer_size_arg = attention_layer_size
        self._custom_attention_layer = attention_layer is not None
        self._alignment_history = alignment_history
        self._cell_input_fn_arg = cell_input_fn
        self._cell_input_fn = cell_input_fn or _default_cell_input_fn
        self._attention_fn_arg = attention_fn
        self._attention_fn = attention_fn or _compute_attention
        self._output_attention = output_attention
        self._pending_input_shape = None
        self._fully_built = False
        self._initial_cell_state = None
        if initial_cell_state is not None:
            last = tree.flatten(initial_cell_state)[-1]
            self._check_batch(last.shape[0], "initial_cell_state")
            self._initial_cell_state = initial_cell_state

    def _make_attention_layers(self, sizes, layers, count):
        if sizes is not None:
            sizes = list(sizes) if isinstance(sizes, (list, tuple)) else [sizes]
            if len(sizes) != count:
                raise ValueError(
                    "`attention_layer_size` must hold one size per attention "
                    f"mechanism: {count} expected. Received: "
                    f"attention_layer_size={sizes}"
                )
            for size in sizes:
                check_positive_int("attention_layer_size", size)
            return [
                keras.layers.Dense(
                    size,
                    use_bias=False,
                    name="attention_layer" if i == 0 else f"attention_layer_{i}",
                    dtype=self.dtype_policy,
                )
                for i, size in enumerate(sizes)
            ]
        if layers is not None:
            layers = list(layers) if isinstance(layers, (list, tuple)) else [layers]
            if len(layers) != count:
                raise ValueError(
                    "`attention_layer` must hold one layer per attention "
                    f"mechanism: {count} expected. Received: {len(layers)} layers"
                )
            return layers
        return None

    # -- sizes -------------------------------------------------------------------

    def _item_or_tuple(self, items):
        items = tuple(items)
        return items if self._is_multi else items[0]

    def _memory_ready(self):
        return all(m.memory_initialized for m in self._attention_mechanisms)

    def _require_memory(self):
        if not self._memory_ready():
            raise _memory_not_set_error(f"AttentionWrapper '{self.name}'")

    def _cell_output_size(self):
        size = getattr(self._cell, "output_size", None)
        if isinstance(size, int):
            return size
        return tree.flatten(self._cell.state_size)[0]

    def _attention_size(self):
        """Depth of the attention (int), or None while a memory is missing."""
        if not self._memory_ready():
            if self._attention_layers is not None and not self._custom_attention_layer:
                return sum(layer.units for layer in self._attention_layers)
            return None
        depths = [m.values.shape[-1] for m in self._attention_mechanisms]
        if self._attention_layers is None:
            return sum(depths)
        cell_size = self._cell_output_size()
        return sum(
            layer.compute_output_shape((None, cell_size + depth))[-1]
            for layer, depth in zip(self._attention_layers, depths)
        )

    @property
    def output_size(self):
        if not self._output_attention:
            return self._cell_output_size()
        size = self._attention_size()
        if size is None:
            self._require_memory()
        return size

    @property
    def state_size(self):
        """An `AttentionWrapperState` of sizes (None where a memory is missing)."""
        mechanisms = self._attention_mechanisms
        return AttentionWrapperState(
            cell_state=self._cell.state_size,
            attention=self._attention_size(),
            alignments=self._item_or_tuple(m.alignments_size for m in mechanisms),
            alignment_history=self._item_or_tuple(
                m.alignments_size if self._alignment_history else () for m in mechanisms
            ),
            attention_state=self._item_or_tuple(m.state_size for m in mechanisms),
        )

    # -- build -------------------------------------------------------------------

    def build(self, input_shape):
        self._pending_input_shape = tuple(input_shape)
        self._finish_build()

    def _finish_build(self):
        """Builds the cell and sublayers once both input shape and memory are known."""
        if self._fully_built or self._pending_input_shape is None:
            return
        if not self._memory_ready():
            return
        input_shape = self._pending_input_shape
        attention = keras.KerasTensor((input_shape[0], self._attention_size()))
        if not self._cell.built:
            try:
                cell_inputs = self._cell_input_fn(
                    keras.KerasTensor(input_shape), attention
                )
            except Exception:  # a custom fn without symbolic support
                cell_inputs = None  # the cell then builds on its first call
            if cell_inputs is not None:
                self._cell.build(tuple(cell_inputs.shape))
        query_shape = (input_shape[0], self._cell_output_size())
        for mechanism in self._attention_mechanisms:
            if not mechanism.built:
                mechanism.build()
            mechanism._build_query(query_shape)
        # A custom attention_fn may feed its layers anything: they build on use.
        layers = self._attention_layers if self._attention_fn_arg is None else None
        for i, layer in enumerate(layers or ()):
            if not layer.built:
                depth = self._attention_mechanisms[i].values.shape[-1]
                layer.build((input_shape[0], query_shape[1] + depth))
        self._fully_built = True

    # -- initial state -------------------------------------------------------------

    def _check_batch(self, batch_size, what):
        batch_size = _static_int(batch_size)
        for mechanism in self._attention_mechanisms:
            if not mechanism.memory_initialized:
                continue
            try:
                check_same_batch((batch_size,), mechanism.values, what, "memory")
            except ValueError as error:
                raise ValueError(f"AttentionWrapper '{self.name}': {error}") from None

    def get_initial_state(self, inputs=None, batch_size=None, dtype=None):
        """The state before the first step: zeros (one-hot for monotonic alignments).

        Args:
            inputs: optional tensor whose batch size and dtype to use.
            batch_size: int or scalar tensor: the batch size (which must equal
                the memory's; with beam search, tile the memory first).
            dtype: dtype of the state; default the layer's compute dtype.

        Returns:
            An `AttentionWrapperState`. Its cell state is `initial_cell_state`
            or the cell's `get_initial_state`; replace it with
            `state.clone(cell_state=encoder_state)`.
        """
        if inputs is not None:
            batch_size = ops.shape(inputs)[0]
            dtype = inputs.dtype
        dtype = keras.backend.standardize_dtype(dtype or self.compute_dtype)
        self._require_memory()
        self._finish_build()
        if batch_size is not None:
            self._check_batch(batch_size, "batch_size")
        values = [m.values for m in self._attention_mechanisms]
        if _any_symbolic(values):
            # A graph node fed by the memory: the state (and so the layer it
            # is given to) depends on it.
            return _InitialState(self, dtype)(values)
        if batch_size is None:
            batch_size = self._attention_mechanisms[0].batch_size
        static = _static_int(batch_size)
        return self._zero_state(static if static is not None else batch_size, dtype)

    def _cell_zero_state(self, batch_size, dtype):
        if self._initial_cell_state is not None:
            return self._initial_cell_state
        get_state = getattr(self._cell, "get_initial_state", None)
        if get_state is None:
            state = tree.map_structure(
                lambda size: ops.zeros((batch_size, size), dtype=dtype),
                self._cell.state_size,
            )
        elif _accepts_argument(get_state, "dtype"):
            state = get_state(batch_size=batch_size, dtype=dtype)
        else:
            state = get_state(batch_size=batch_size)
        return tree.map_structure(lambda s: ops.cast(s, dtype), state)

    def _zero_state(self, batch_size, dtype):
        mechanisms = self._attention_mechanisms
        alignments = [m.initial_alignments(batch_size, dtype) for m in mechanisms]
        histories = [
            AlignmentHistory.empty(
                batch_size, m._memory_time(), dtype, self._history_capacity
            )
            if self._alignment_history
            else ()
            for m in mechanisms
        ]
        return AttentionWrapperState(
            cell_state=self._cell_zero_state(batch_size, dtype),
            attention=ops.zeros((batch_size, self._attention_size()), dtype=dtype),
            alignments=self._item_or_tuple(alignments),
            alignment_history=self._item_or_tuple(histories),
            attention_state=self._item_or_tuple(
                m.initial_state(batch_size, dtype) for m in mechanisms
            ),
        )

    def _initial_state_spec(self, values, dtype):
        batch = values[0].shape[0]

        def spec(*shape):
            return keras.KerasTensor((batch,) + shape, dtype=dtype)

        cell_state = tree.map_structure(
            lambda s: spec(*tuple(s.shape[1:])), self._cell_zero_state(1, dtype)
        )
        times = [v.shape[1] for v in values]
        capacity = self._history_capacity
        histories = [
            (
                AlignmentHistory(spec(0, time), ())
                if capacity is None
                else AlignmentHistory(spec(capacity, time), spec(capacity))
            )
            if self._alignment_history
            else ()
            for time in times
        ]
        return AttentionWrapperState(
            cell_state=cell_state,
            attention=spec(self._attention_size()),
            alignments=self._item_or_tuple(spec(time) for time in times),
            alignment_history=self._item_or_tuple(histories),
            attention_state=self._item_or_tuple(spec(time) for time in times),
        )

    # -- call --------------------------------------------------------------------

    def _as_state(self, states):
        if isinstance(states, AttentionWrapperState):
            return states
        try:
            return AttentionWrapperState(*states)
        except TypeError:
            raise ValueError(
                "AttentionWrapper: `states` must be an AttentionWrapperState "
                "(see get_initial_state) or the list of its 5 fields. Received: "
                f"{type(states).__name__}"
            ) from None

    def _check_fixed_history(self, state):
        if not self._alignment_history:
            return
        histories = state.alignment_history
        histories = histories if self._is_multi else [histories]
        for history in histories:
            if isinstance(history, (list, tuple)) and _is_empty_sequence(history[1]):
                raise ValueError(
                    f"AttentionWrapper '{self.name}': `alignment_history=True` "
                    "keeps a tensor that grows by one step per call, which "
                    "keras.layers.RNN (or any compiled loop) cannot carry. Pass "
                    "`alignment_history=<maximum number of steps>` to "
                    "preallocate it, or step the wrapper by hand with an "
                    "AttentionWrapperState."
                )

    def call(self, inputs, states=None, training=None):
        if states is None:
            raise ValueError(
                f"AttentionWrapper '{self.name}': `states` is required. Use "
                "`wrapper.get_initial_state(batch_size=..., dtype=...)`."
            )
        self._require_memory()
        self._finish_build()
        state = self._as_state(states)
        if not isinstance(states, AttentionWrapperState):
            self._check_fixed_history(state)
        # The cell output (the query) has the batch of the inputs.
        self._check_batch(inputs.shape[0], "inputs")
        cell_inputs = self._cell_input_fn(inputs, state.attention)
        cell_output, next_cell_state = self._cell(cell_inputs, state.cell_state)
        next_cell_state = tree.pack_sequence_as(
            state.cell_state, tree.flatten(next_cell_state)
        )
        previous_states, previous_histories = (
            (state.attention_state, state.alignment_history)
            if self._is_multi
            else ([state.attention_state], [state.alignment_history])
        )
        attentions, alignments, attention_states, histories = [], [], [], []
        for i, mechanism in enumerate(self._attention_mechanisms):
            layer = self._attention_layers[i] if self._attention_layers else None
            attention, alignment, next_attention_state = self._attention_fn(
                mechanism, cell_output, previous_states[i], layer
            )
            attentions.append(attention)
            alignments.append(alignment)
            attention_states.append(next_attention_state)
            if self._alignment_history:
                history = previous_histories[i]
                if not isinstance(history, AlignmentHistory):
                    history = AlignmentHistory(*history)
                histories.append(history.append(alignment))
            else:
                histories.append(())
        attention = ops.concatenate(attentions, axis=1)
        next_state = AttentionWrapperState(
            cell_state=next_cell_state,
            attention=attention,
            alignments=self._item_or_tuple(alignments),
            alignment_history=self._item_or_tuple(histories),
            attention_state=self._item_or_tuple(attention_states),
        )
        if not isinstance(states, AttentionWrapperState):
            # keras.layers.RNN passes (and expects back) its own containers.
            next_state = tree.pack_sequence_as(states, tree.flatten(next_state))
        output = attention if self._output_attention else cell_output
        return output, next_state

    def compute_output_spec(self, inputs, states=None, training=None):
        self._require_memory()
        self._finish_build()
        state = self._as_state(states)

        def spec(tensor):
            return keras.KerasTensor(tuple(tensor.shape), dtype=tensor.dtype)

        next_state = tree.map_structure(spec, state)
        if self._alignment_history:
            histories = (
                next_state.alignment_history
                if self._is_multi
                else [next_state.alignment_history]
            )
            histories = [
                AlignmentHistory(
                    keras.KerasTensor(
                        (h.history.shape[0], h.history.shape[1] + 1)
                        + tuple(h.history.shape[2:])
                        if h.is_growing and h.history.shape[1] is not None
                        else tuple(h.history.shape),
                        dtype=h.history.dtype,
                    ),
                    h.written,
                )
                for h in histories
            ]
            next_state = next_state._replace(
                alignment_history=self._item_or_tuple(histories)
            )
        if not isinstance(states, AttentionWrapperState):
            next_state = tree.pack_sequence_as(states, tree.flatten(next_state))
        output = keras.KerasTensor(
            (inputs.shape[0], self.output_size), dtype=self.compute_dtype
        )
        return output, next_state

    # -- config ------------------------------------------------------------------

    def get_config(self):
        serialize = keras.saving.serialize_keras_object
        mechanisms = [serialize(m) for m in self._attention_mechanisms]
        custom_layers = None
        if self._custom_attention_layer:
            custom_layers = [serialize(layer) for layer in self._attention_layers]
        return {
            **super().get_config(),
            "cell": serialize(self._cell),
            "attention_mechanism": mechanisms if self._is_multi else mechanisms[0],
            "attention_layer_size": self._attention_layer_size_arg,
            "alignment_history": self._alignment_history,
            "cell_input_fn": serialize(self._cell_input_fn_arg)
            if self._cell_input_fn_arg is not None
            else None,
            "output_attention": self._output_attention,
            "attention_layer": custom_layers,
            "attention_fn": serialize(self._attention_fn_arg)
            if self._attention_fn_arg is not None
            else None,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        deserialize = keras.saving.deserialize_keras_object

        def load(value):
            if value is None:
                return None
            if isinstance(value, list):
                return [deserialize(v, custom_objects=custom_objects) for v in value]
            return deserialize(value, custom_objects=custom_objects)

        for key in (
            "cell",
            "attention_mechanism",
            "attention_layer",
            "cell_input_fn",
            "attention_fn",
        ):
            config[key] = load(config.get(key))
        return cls(**config)
