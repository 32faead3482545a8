"""Decoder interfaces and `dynamic_decode`, compatible with `tfa.seq2seq.decoder`.

`dynamic_decode` is a thin adapter over `keras_seq2seq.decoding.decode_loop`:
it asks the decoder for its first inputs and state, finds a static bound on the
number of steps, runs the loop over `decoder.step`, and lays the outputs out as
tfa does.
"""

import abc
import contextlib

import keras
from keras import ops, tree

from keras_seq2seq.decoding.loop import check_max_steps, decode_loop


class Decoder(metaclass=abc.ABCMeta):
    """Interface of a decoder that is not a Keras layer.

    `dynamic_decode` calls `initialize()` once, then `step(time, inputs, state,
    training)` until every row is finished or the step bound is reached, then
    `finalize` if it is implemented.

    Concepts: `inputs` and `state` are (nested) tensors fed to a step;
    `finished` is a `[batch]` boolean tensor; `outputs` is what a step emits
    (a `BasicDecoderOutput`, for instance).
    """

    @property
    @abc.abstractmethod
    def batch_size(self):
        """The batch size of the inputs."""

    @property
    def output_size(self):
        """Shape (without the batch axis) of each output, nested like them."""
        raise NotImplementedError(
            f"{type(self).__name__} does not define `output_size`."
        )

    @property
    def output_dtype(self):
        """dtype of each output, nested like them."""
        raise NotImplementedError(
            f"{type(self).__name__} does not define `output_dtype`."
        )

    @abc.abstractmethod
    def initialize(self, name=None):
        """Returns `(finished, initial_inputs, initial_state)`."""

    @abc.abstractmethod
    def step(self, time, inputs, state, training=None, name=None):
        """Runs step `time`; returns `(outputs, next_state, next_inputs, finished)`."""

    def finalize(self, outputs, final_state, sequence_lengths):
        """Post-processing after the loop: returns `(final_outputs, final_state)`.

        `outputs` arrive time-major. The default returns them unchanged
        (tfa-style decoders that raise `NotImplementedError` here work too).
        """
        return outputs, final_state

    @property
    def tracks_own_finished(self):
        """True if `step` returns the full `finished` flags itself.

        By default `dynamic_decode` ORs each step's flags with the previous
        ones; decoders that reorder rows between steps (beam search) keep
        their own flags instead, and may keep their own `lengths` in the state.
        """
        return False


class BaseDecoder(keras.layers.Layer):
    """A decoder that is a Keras layer: calling it runs `dynamic_decode`.

    Subclasses implement `initialize(inputs, initial_state=None, **kwargs)`,
    `step(time, inputs, state, training)`, and the `batch_size`,
    `output_size` and `output_dtype` properties (see `Decoder`).

    Args:
        output_time_major: return outputs `[time, batch, ...]` instead of
            `[batch, time, ...]`.
        impute_finished: rows that are finished emit zeros and keep their
            state.
        maximum_iterations: positive int, the most steps to decode. Needed
            unless the sampler reads a time axis (`TrainingSampler` and its
            scheduled variants), whose length is the bound otherwise.
        parallel_iterations: accepted for compatibility; unused.
        swap_memory: accepted for compatibility; unused.
        **kwargs: `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: passed to `initialize` (the decoder inputs, or the embedding
            for inference samplers).
        initial_state: the first state of the cell.
        training: Python bool, passed to the cell.
        sequence_length, mask, start_tokens, end_token, embedding,
            auxiliary_inputs: passed to `initialize` when given.
        inputs_mask: filled by Keras with the mask of `inputs` (as from
            `Embedding(mask_zero=True)`); passed to `initialize` as `mask` when
            neither `mask` nor `sequence_length` is given, as tfa got it.
        **kwargs: other `initialize` arguments.

    Returns:
        `(final_outputs, final_state, final_sequence_lengths)`, as
        `dynamic_decode`.
    """

    def __init__(
        self,
        output_time_major=False,
        impute_finished=False,
        maximum_iterations=None,
        parallel_iterations=32,
        swap_memory=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if maximum_iterations is not None:
            maximum_iterations = check_max_steps(
                "maximum_iterations", maximum_iterations
            )
        self.output_time_major = output_time_major
        self.impute_finished = impute_finished
        self.maximum_iterations = maximum_iterations
        self.parallel_iterations = parallel_iterations
        self.swap_memory = swap_memory

    def build(self, input_shape=None):
        # Sublayers are built by `initialize`, once their input shapes are known.
        self.built = True

    def get_config(self):
        maximum_iterations = self.maximum_iterations
        if maximum_iterations is not None and not isinstance(maximum_iterations, int):
            raise ValueError(
                f"{type(self).__name__}.get_config: `maximum_iterations` must "
                "be a Python int to be saved. Received: "
                f"maximum_iterations={maximum_iterations!r}"
            )
        return {
            **super().get_config(),
            "output_time_major": self.output_time_major,
            "impute_finished": self.impute_finished,
            "maximum_iterations": maximum_iterations,
            "parallel_iterations": self.parallel_iterations,
            "swap_memory": self.swap_memory,
        }

    def call(
        self,
        inputs,
        initial_state=None,
        training=None,
        sequence_length=None,
        mask=None,
        start_tokens=None,
        end_token=None,
        embedding=None,
        auxiliary_inputs=None,
        inputs_mask=None,
        **kwargs,
    ):
        # The usual `initialize` arguments are named here so that Keras takes
        # each one on its own (it refuses a `**kwargs` mixing tensors and
        # Python numbers, such as `start_tokens=ids, end_token=2`).
        named = {
            "sequence_length": sequence_length,
            "mask": mask,
            "start_tokens": start_tokens,
            "end_token": end_token,
            "embedding": embedding,
            "auxiliary_inputs": auxiliary_inputs,
        }
        if mask is None and sequence_length is None and inputs_mask is not None:
            # The Keras mask of `inputs` (from `Embedding(mask_zero=True)`),
            # which Keras 2 handed to tfa's decoders as `mask`.
            named["mask"] = inputs_mask
        init_kwargs = {key: value for key, value in named.items() if value is not None}
        init_kwargs.update(kwargs)
        init_kwargs["initial_state"] = initial_state
        return dynamic_decode(
            self,
            output_time_major=self.output_time_major,
            impute_finished=self.impute_finished,
            maximum_iterations=self.maximum_iterations,
            parallel_iterations=self.parallel_iterations,
            swap_memory=self.swap_memory,
            training=training,
            decoder_init_input=inputs,
            decoder_init_kwargs=init_kwargs,
        )

    @property
    def batch_size(self):
        """The batch size of the inputs."""
        raise NotImplementedError(f"{type(self).__name__} must define `batch_size`.")

    def initialize(self, inputs, initial_state=None, **kwargs):
        """Returns `(finished, initial_inputs, initial_state)`."""
        raise NotImplementedError(f"{type(self).__name__} must define `initialize`.")

    def step(self, time, inputs, state, training):
        """Runs step `time`; returns `(outputs, next_state, next_inputs, finished)`."""
        raise NotImplementedError(f"{type(self).__name__} must define `step`.")

    # The rest of the interface is the same as `Decoder`'s.
    output_size = Decoder.output_size
    output_dtype = Decoder.output_dtype
    finalize = Decoder.finalize
    tracks_own_finished = Decoder.tracks_own_finished


def _step_bound(decoder, maximum_iterations):
    hint = getattr(decoder, "_loop_bound", None)
    hint = hint() if callable(hint) else None
    if maximum_iterations is None:
        if hint is None:
            raise ValueError(
                "dynamic_decode needs a bound on the number of decoding steps "
                "and cannot derive one for this decoder: pass "
                "`maximum_iterations=` (to the decoder's constructor or to "
                "`dynamic_decode`). Only samplers that read a time axis "
                "(TrainingSampler and the scheduled samplers) bound the loop "
                "themselves. Received: maximum_iterations=None"
            )
        return hint
    if isinstance(hint, int) and isinstance(maximum_iterations, int):
        return min(hint, maximum_iterations)
    return maximum_iterations


def _preallocate_histories(state, steps):
    """Gives growing alignment histories room for `steps` steps.

    `AttentionWrapper(alignment_history=True)` keeps a history that grows by
    one step per call; the decode loop carries fixed shapes, so it gets a
    preallocated one (tfa used a TensorArray). Other values are unchanged.
    """
    if getattr(state, "is_growing", None) is True and hasattr(state, "reserve"):
        return state.reserve(steps)  # an attention_wrapper.AlignmentHistory
    if isinstance(state, tuple) and hasattr(state, "_fields"):
        return type(state)(*(_preallocate_histories(s, steps) for s in state))
    if isinstance(state, (list, tuple)):
        return type(state)(_preallocate_histories(s, steps) for s in state)
    if isinstance(state, dict):
        return {k: _preallocate_histories(v, steps) for k, v in state.items()}
    return state


def _batch_major(x):
    return ops.swapaxes(x, 0, 1) if len(x.shape) >= 2 else x


def dynamic_decode(
    decoder,
    output_time_major=False,
    impute_finished=False,
    maximum_iterations=None,
    parallel_iterations=32,
    swap_memory=False,
    training=None,
    scope=None,
    enable_tflite_convertible=False,
    **kwargs,
):
    """Runs a decoder until every row is finished or the step bound is reached.

    Args:
        decoder: a `Decoder` or `BaseDecoder`.
        output_time_major: return outputs `[time, batch, ...]` instead of
            `[batch, time, ...]`.
        impute_finished: rows that are finished emit zeros and keep their
            state.
        maximum_iterations: positive int, the most steps to run. Required
            unless the decoder's sampler reads a time axis.
        parallel_iterations, swap_memory, scope, enable_tflite_convertible:
            accepted for compatibility with tfa; unused.
        training: Python bool, passed to `decoder.step`.
        **kwargs: for a `BaseDecoder`, `decoder_init_input` and
            `decoder_init_kwargs`, given to `decoder.initialize`.

    Returns:
        `(final_outputs, final_state, final_sequence_lengths)`: the stacked
        step outputs, the state after the last step, and int32 `[batch]` step
        counts (the step that finished a row included). The time axis has as
        many steps as were taken (until every row finished) when run eagerly or
        in a TensorFlow graph; under JAX tracing (`jit`, and so compiled
        `fit`/`predict`) and torch shape inference it has the full bound, the
        steps after every row finished being zeros.

    Raises:
        ValueError: for a non-positive or non-scalar `maximum_iterations`, or
            when no step bound can be found.
    """
    del parallel_iterations, swap_memory, scope, enable_tflite_convertible
    init_input = kwargs.pop("decoder_init_input", None)
    init_kwargs = kwargs.pop("decoder_init_kwargs", None) or {}
    if kwargs:
        raise TypeError(
            f"dynamic_decode got unexpected keyword arguments: {sorted(kwargs)}"
        )
    if not isinstance(decoder, (Decoder, BaseDecoder)):
        raise ValueError(
            "`decoder` must be a `Decoder` or a `BaseDecoder`. Received: "
            f"decoder={decoder!r}"
        )
    if maximum_iterations is not None:
        maximum_iterations = check_max_steps("maximum_iterations", maximum_iterations)

    if isinstance(decoder, Decoder):
        finished, inputs, state = decoder.initialize()
    else:
        finished, inputs, state = decoder.initialize(init_input, **init_kwargs)
    bound = _step_bound(decoder, maximum_iterations)
    if isinstance(bound, int):
        state = _preallocate_histories(state, bound)

    tracks_own = decoder.tracks_own_finished
    lengths_fn = None
    if tracks_own and getattr(state, "lengths", None) is not None:
        lengths_fn = lambda next_state: next_state.lengths  # noqa: E731

    def step(time, step_inputs, step_state):
        return decoder.step(time, step_inputs, step_state, training)

    result = decode_loop(
        step,
        inputs,
        state,
        finished,
        bound,
        impute_finished=impute_finished,
        tracks_own_finished=tracks_own,
        lengths_fn=lengths_fn,
    )
    after_loop = getattr(decoder, "_after_loop", None)
    if after_loop is not None:
        after_loop()  # e.g. BasicDecoder drops its cell's dropout masks
    outputs, state, lengths = result.outputs, result.final_state, result.lengths
    with contextlib.suppress(NotImplementedError):  # tfa-style optional finalize
        outputs, state = decoder.finalize(outputs, state, lengths)
    if not output_time_major:
        outputs = tree.map_structure(_batch_major, outputs)
    return outputs, state, lengths
