"""Samplers for `BasicDecoder`, compatible with `tfa.seq2seq.sampler`.

A sampler decides, at every decoding step, which ids the step produced
(`sample`) and what the next step reads (`next_inputs`). `initialize` is called
once per decode (a `BasicDecoder` calls it with the arguments it was given).

Randomness (scheduled sampling, `SampleEmbeddingSampler`) comes from a
`keras.random.SeedGenerator` drawn once per `initialize`, then mixed with the
step number, so the samplers run inside compiled loops on every backend. A
`BasicDecoder` tracks its sampler's generator, so a model's `fit` advances it.
"""

import abc

import keras
from keras import ops, tree

from keras_seq2seq.backend.random import step_uniform
from keras_seq2seq.decoding.loop import where_rows
from keras_seq2seq.decoding.sampling import draw_tokens


def _swap_batch_time(x):
    return ops.swapaxes(x, 0, 1) if len(x.shape) >= 2 else x


def _rank(x):
    return len(ops.shape(x))


def _clip_time(time, last):
    return ops.clip(ops.convert_to_tensor(time, "int32"), 0, last)


def _embedding_lookup(sampler_name, embedding_fn, embedding):
    """The function mapping ids to inputs: `embedding_fn`, else `embedding`."""
    if embedding_fn is not None:
        return embedding_fn
    if embedding is None:
        raise ValueError(
            f"{sampler_name} needs an embedding: pass `embedding_fn=` to the "
            "constructor, or an embedding matrix (or callable, such as a "
            "`keras.layers.Embedding`) to `initialize`. Received: embedding=None"
        )
    if callable(embedding):
        return embedding
    matrix = ops.convert_to_tensor(embedding)
    return lambda ids: ops.take(matrix, ids, axis=0)


def _check_probability(sampling_probability):
    if isinstance(sampling_probability, keras.Variable):
        probability = sampling_probability
    else:
        probability = ops.convert_to_tensor(sampling_probability, "float32")
    if _rank(probability) not in (0, 1):
        raise ValueError(
            "`sampling_probability` must be a scalar or a vector. Received: "
            f"sampling_probability.shape={tuple(probability.shape)}"
        )
    return probability


def _combined_seed(*seeds):
    """One int seed from several optional ones (None when all are None)."""
    if all(seed is None for seed in seeds):
        return None
    combined = 0
    for seed in seeds:
        combined = (combined * 1_000_003 + (0 if seed is None else int(seed) + 1)) % (
            2**31 - 1
        )
    return combined


def _plain(value):
    """A probability as a JSON value (a Variable or tensor as its current value)."""
    value = ops.convert_to_numpy(value)
    return value.item() if value.ndim == 0 else value.tolist()


def _no_function(sampler, **functions):
    for name, function in functions.items():
        if function is not None:
            raise ValueError(
                f"{type(sampler).__name__}.get_config: `{name}` is a Python "
                "callable, which a config cannot hold. Save the weights "
                "(`model.save_weights`) and rebuild the model in code instead. "
                f"Received: {name}={function!r}"
            )


class Sampler(metaclass=abc.ABCMeta):
    """Interface of the objects that sample ids and feed the next decoding step.

    A sampler is mostly handed to a `BasicDecoder`, which calls `initialize`
    once, then `sample` and `next_inputs` at every step. Using it by hand:

    Example:
    >>> import numpy as np
    >>> sampler = TrainingSampler()
    >>> cell = keras.layers.LSTMCell(8)
    >>> inputs = np.random.rand(2, 3, 4).astype("float32")
    >>> finished, step_inputs = sampler.initialize(inputs)
    >>> state = cell.get_initial_state(batch_size=2)
    >>> for time in range(3):
    ...     output, state = cell(step_inputs, state)
    ...     ids = sampler.sample(time, output, state)
    ...     finished, step_inputs, state = sampler.next_inputs(time, output, state, ids)
    """

    @abc.abstractmethod
    def initialize(self, inputs, **kwargs):
        """Prepares a decode; returns `(initial_finished, initial_inputs)`."""

    @abc.abstractmethod
    def sample(self, time, outputs, state):
        """Returns the `sample_ids` of a step."""

    @abc.abstractmethod
    def next_inputs(self, time, outputs, state, sample_ids):
        """Returns `(finished, next_inputs, next_state)`."""

    @property
    def batch_size(self):
        """Batch size (int, or scalar tensor); known after `initialize`.

        Samplers set `self._batch_size` in `initialize`; before that, reading
        it raises a clear error.
        """
        self._require_initialized("batch_size")
        return self._batch_size

    @property
    @abc.abstractmethod
    def sample_ids_shape(self):
        """Shape of one row of `sample_ids` (a tuple; `()` for a scalar id)."""

    @property
    @abc.abstractmethod
    def sample_ids_dtype(self):
        """dtype of `sample_ids`, as a string such as `"int32"`."""

    def _loop_bound(self):
        """Most steps a decode with this sampler can take, if it knows (else None)."""
        return None

    def get_config(self):
        """Constructor arguments, so that a `BasicDecoder` can be saved."""
        raise NotImplementedError(
            f"{type(self).__name__} cannot be saved in a config (it holds "
            "Python functions). Save the weights (`model.save_weights`) and "
            "rebuild the model in code instead."
        )

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def _require_initialized(self, what):
        if getattr(self, "_batch_size", None) is None:
            raise ValueError(
                f"{type(self).__name__}.{what} was used before `initialize()`. "
                "Call `sampler.initialize(...)` first (a `BasicDecoder` does it "
                "when it is called)."
            )


class CustomSampler(Sampler):
    """A sampler made of user functions.

    Args:
        initialize_fn: `initialize_fn(inputs, **kwargs) -> (finished,
            next_inputs)`, called by `initialize`.
        sample_fn: `sample_fn(time=, outputs=, state=) -> sample_ids`.
        next_inputs_fn: `next_inputs_fn(time=, outputs=, state=, sample_ids=)
            -> (finished, next_inputs, next_state)`.
        sample_ids_shape: shape of one row of `sample_ids`; default `()`.
        sample_ids_dtype: dtype of `sample_ids`; default `"int32"`.
    """

    def __init__(
        self,
        initialize_fn,
        sample_fn,
        next_inputs_fn,
        sample_ids_shape=None,
        sample_ids_dtype=None,
    ):
        self._initialize_fn = initialize_fn
        self._sample_fn = sample_fn
        self._next_inputs_fn = next_inputs_fn
        self._batch_size = None
        self._sample_ids_shape = tuple(sample_ids_shape or ())
        self._sample_ids_dtype = sample_ids_dtype or "int32"

    @property
    def sample_ids_shape(self):
        return self._sample_ids_shape

    @property
    def sample_ids_dtype(self):
        return self._sample_ids_dtype

    def initialize(self, inputs, **kwargs):
        finished, next_inputs = self._initialize_fn(inputs, **kwargs)
        if self._batch_size is None:
            self._batch_size = ops.shape(finished)[0]
        return finished, next_inputs

    def sample(self, time, outputs, state):
        return self._sample_fn(time=time, outputs=outputs, state=state)

    def next_inputs(self, time, outputs, state, sample_ids):
        return self._next_inputs_fn(
            time=time, outputs=outputs, state=state, sample_ids=sample_ids
        )


@keras.saving.register_keras_serializable(package="keras_seq2seq")
class TrainingSampler(Sampler):
    """Teacher forcing: step `t + 1` reads `inputs[:, t + 1]`.

    `sample_ids` are the argmax of the step outputs. A row is finished once
    its `sequence_length` steps have run; a decode runs `max(sequence_length)`
    steps (at most the input's time axis).

    Args:
        time_major: whether `inputs` are `[time, batch, ...]` instead of
            `[batch, time, ...]`.

    `initialize(inputs, sequence_length=None, mask=None)`: `sequence_length`
    is an int `[batch]` vector; `mask` a boolean `[batch, time]` (or
    `[time, batch]`) right-padded mask whose row sums are the lengths. Without
    either, every row runs the whole time axis.
    """

    def __init__(self, time_major=False):
        self.time_major = time_major
        self._batch_size = None

    @property
    def sample_ids_shape(self):
        return ()

    @property
    def sample_ids_dtype(self):
        return "int32"

    def _loop_bound(self):
        return getattr(self, "_num_steps", None)

    def get_config(self):
        return {"time_major": self.time_major}

    def initialize(self, inputs, sequence_length=None, mask=None):
        if sequence_length is not None and mask is not None:
            raise ValueError(
                "`sequence_length` and `mask` can't be provided at the same "
                "time: give one of them."
            )
        self.inputs = tree.map_structure(ops.convert_to_tensor, inputs)
        steps = self.inputs
        if not self.time_major:
            steps = tree.map_structure(_swap_batch_time, steps)
        first = tree.flatten(steps)[0]
        if _rank(first) < 2:
            raise ValueError(
                f"{type(self).__name__}: `inputs` must have a batch and a time "
                f"axis. Received: inputs.shape={tuple(first.shape)}"
            )
        self._steps = steps
        self._num_steps = ops.shape(first)[0]
        self._batch_size = ops.shape(first)[1]

        if sequence_length is not None:
            lengths = ops.cast(ops.convert_to_tensor(sequence_length), "int32")
            if _rank(lengths) != 1:
                raise ValueError(
                    "`sequence_length` must be a vector `[batch]`. Received: "
                    f"sequence_length.shape={tuple(lengths.shape)}"
                )
        elif mask is not None:
            mask = ops.convert_to_tensor(mask)
            if _rank(mask) != 2:
                raise ValueError(
                    "`mask` must be a 2D tensor. Received: "
                    f"mask.shape={tuple(mask.shape)}"
                )
            if keras.backend.standardize_dtype(mask.dtype) != "bool":
                raise ValueError(
                    "`mask` must be a boolean tensor. Received: "
                    f"mask.dtype={keras.backend.standardize_dtype(mask.dtype)}"
                )
            axis = 0 if self.time_major else 1
            lengths = ops.sum(ops.cast(mask, "int32"), axis=axis)
        else:
            lengths = ops.ones((self._batch_size,), "int32") * self._num_steps
        self.sequence_length = lengths
        self.zero_inputs = tree.map_structure(lambda x: ops.zeros_like(x[0]), steps)
        finished = ops.equal(lengths, 0)
        return finished, self._read(0, ops.all(finished))

    def _read(self, time, all_finished):
        """`inputs` at `time` (zeros once every row is finished)."""
        last = self._num_steps - 1

        def read(x, zero):
            row = ops.take(x, _clip_time(time, last), axis=0)
            return ops.where(all_finished, zero, row)

        return tree.map_structure(read, self._steps, self.zero_inputs)

    def sample(self, time, outputs, state):
        del time, state
        return ops.cast(ops.argmax(outputs, axis=-1), "int32")

    def next_inputs(self, time, outputs, state, sample_ids):
        del outputs, sample_ids
        self._require_initialized("next_inputs")
        next_time = time + 1
        finished = ops.greater_equal(next_time, self.sequence_length)
        return finished, self._read(next_time, ops.all(finished)), state


@keras.saving.register_keras_serializable(package="keras_seq2seq")
class ScheduledEmbeddingTrainingSampler(TrainingSampler):
    """Teacher forcing that sometimes feeds back an embedded sampled id instead.

    At each step, each row reads the next input with probability
    `1 - sampling_probability`, and otherwise the embedding of an id drawn
    from the step's logits. `sample_ids` is the drawn id, or -1 where the
    input was read.

    Args:
        sampling_probability: float scalar or `[batch]` vector (a
            `keras.Variable` can be updated during training).
        embedding_fn: callable mapping ids to inputs; else pass
            `embedding=` (a matrix or callable) to `initialize`.
        time_major: as in `TrainingSampler`.
        seed: seed of the categorical draws.
        scheduling_seed: seed of the read-or-sample draws.

    `initialize(inputs, sequence_length=None, mask=None, embedding=None)`.
    """

    def __init__(
        self,
        sampling_probability,
        embedding_fn=None,
        time_major=False,
        seed=None,
        scheduling_seed=None,
    ):
        super().__init__(time_major=time_major)
        self.sampling_probability = _check_probability(sampling_probability)
        self.embedding_fn = embedding_fn
        self.seed = seed
        self.scheduling_seed = scheduling_seed
        self.seed_generator = keras.random.SeedGenerator(
            _combined_seed(seed, scheduling_seed)
        )

    def get_config(self):
        _no_function(self, embedding_fn=self.embedding_fn)
        return {
            "sampling_probability": _plain(self.sampling_probability),
            "time_major": self.time_major,
            "seed": self.seed,
            "scheduling_seed": self.scheduling_seed,
        }

    def initialize(self, inputs, sequence_length=None, mask=None, embedding=None):
        self._embed = _embedding_lookup(
            type(self).__name__, self.embedding_fn, embedding
        )
        result = super().initialize(inputs, sequence_length=sequence_length, mask=mask)
        self._seeds = (self.seed_generator.next(), self.seed_generator.next())
        return result

    def sample(self, time, outputs, state):
        del state
        self._require_initialized("sample")
        rows = ops.shape(outputs)[:-1]
        chosen = ops.less(
            step_uniform(rows, self._seeds[0], time), self.sampling_probability
        )
        drawn = draw_tokens(outputs, step_uniform(rows, self._seeds[1], time))
        return ops.where(chosen, drawn, -ops.ones_like(drawn))

    def next_inputs(self, time, outputs, state, sample_ids):
        finished, read, state = super().next_inputs(time, outputs, state, sample_ids)
        sampled = ops.greater(sample_ids, -1)
        embedded = self._embed(ops.maximum(sample_ids, 0))
        mixed = where_rows(sampled, ops.cast(embedded, read.dtype), read)
        return finished, ops.where(ops.all(finished), read, mixed), state


@keras.saving.register_keras_serializable(package="keras_seq2seq")
class ScheduledOutputTrainingSampler(TrainingSampler):
    """Teacher forcing that sometimes feeds back the step's output instead.

    At each step, each row reads the next input with probability
    `1 - sampling_probability`, and otherwise the step output (through
    `next_inputs_fn` when given, then concatenated with the step's
    `auxiliary_inputs` when given). `sample_ids` is int32: 1 where the output
    was fed back, 0 where the input was read.

    Args:
        sampling_probability: float scalar or `[batch]` vector.
        time_major: as in `TrainingSampler`.
        seed: seed of the read-or-sample draws.
        next_inputs_fn: optional callable applied to the outputs fed back.

    `initialize(inputs, sequence_length=None, mask=None, auxiliary_inputs=None)`:
    `auxiliary_inputs` are concatenated to `inputs` on the last axis, and to
    the fed-back outputs.
    """

    def __init__(
        self, sampling_probability, time_major=False, seed=None, next_inputs_fn=None
    ):
        super().__init__(time_major=time_major)
        self.sampling_probability = _check_probability(sampling_probability)
        self.seed = seed
        self.next_inputs_fn = next_inputs_fn
        self.seed_generator = keras.random.SeedGenerator(_combined_seed(seed))

    def get_config(self):
        _no_function(self, next_inputs_fn=self.next_inputs_fn)
        return {
            "sampling_probability": _plain(self.sampling_probability),
            "time_major": self.time_major,
            "seed": self.seed,
        }

    def initialize(
        self, inputs, sequence_length=None, mask=None, auxiliary_inputs=None
    ):
        self._auxiliary = None
        if auxiliary_inputs is not None:
            auxiliary_inputs = ops.convert_to_tensor(auxiliary_inputs)
            inputs = ops.concatenate(
                [ops.convert_to_tensor(inputs), auxiliary_inputs], axis=-1
            )
            self._auxiliary = (
                auxiliary_inputs
                if self.time_major
                else _swap_batch_time(auxiliary_inputs)
            )
        result = super().initialize(inputs, sequence_length=sequence_length, mask=mask)
        self._seed = self.seed_generator.next()
        return result

    def sample(self, time, outputs, state):
        del state
        self._require_initialized("sample")
        uniform = step_uniform((self.batch_size,), self._seed, time)
        return ops.cast(ops.less(uniform, self.sampling_probability), "int32")

    def next_inputs(self, time, outputs, state, sample_ids):
        finished, read, state = super().next_inputs(time, outputs, state, sample_ids)
        fed = outputs if self.next_inputs_fn is None else self.next_inputs_fn(outputs)
        if self._auxiliary is not None:
            index = _clip_time(time + 1, self._num_steps - 1)
            auxiliary = ops.take(self._auxiliary, index, axis=0)
            fed = ops.concatenate([fed, auxiliary], axis=-1)
        mixed = where_rows(
            ops.cast(sample_ids, "bool"), ops.cast(fed, read.dtype), read
        )
        return finished, ops.where(ops.all(finished), read, mixed), state


@keras.saving.register_keras_serializable(package="keras_seq2seq")
class GreedyEmbeddingSampler(Sampler):
    """Inference: feeds back the embedding of the argmax id.

    Args:
        embedding_fn: callable mapping int32 ids `[batch]` to inputs (a
            `keras.layers.Embedding`, say). If None, `initialize` takes the
            embedding matrix (or a callable) as its first argument.

    `initialize(embedding, start_tokens=None, end_token=None)`:
    `start_tokens` is int `[batch]`, `end_token` an int scalar; a row is
    finished once it samples `end_token`.
    """

    def __init__(self, embedding_fn=None):
        self.embedding_fn = embedding_fn
        self._batch_size = None

    def get_config(self):
        _no_function(self, embedding_fn=self.embedding_fn)
        return {}

    @property
    def sample_ids_shape(self):
        return ()

    @property
    def sample_ids_dtype(self):
        return "int32"

    def initialize(self, embedding, start_tokens=None, end_token=None):
        self._embed = _embedding_lookup(
            type(self).__name__, self.embedding_fn, embedding
        )
        if start_tokens is None or end_token is None:
            raise ValueError(
                f"{type(self).__name__}.initialize needs `start_tokens` and "
                f"`end_token`. Received: start_tokens={start_tokens!r}, "
                f"end_token={end_token!r}"
            )
        self.start_tokens = ops.cast(ops.convert_to_tensor(start_tokens), "int32")
        self.end_token = ops.cast(ops.convert_to_tensor(end_token), "int32")
        if _rank(self.start_tokens) != 1:
            raise ValueError(
                "`start_tokens` must be a vector `[batch]`. Received: "
                f"start_tokens.shape={tuple(self.start_tokens.shape)}"
            )
        if _rank(self.end_token) != 0:
            raise ValueError(
                "`end_token` must be a scalar. Received: "
                f"end_token.shape={tuple(self.end_token.shape)}"
            )
        self._batch_size = ops.shape(self.start_tokens)[0]
        self.start_inputs = self._embed(self.start_tokens)
        return ops.zeros_like(self.start_tokens, dtype="bool"), self.start_inputs

    def sample(self, time, outputs, state):
        del time, state
        if tree.is_nested(outputs):
            raise TypeError(
                "Expected `outputs` to be a single tensor. Received: "
                f"{type(outputs).__name__}"
            )
        return ops.cast(ops.argmax(outputs, axis=-1), "int32")

    def next_inputs(self, time, outputs, state, sample_ids):
        del time, outputs
        self._require_initialized("next_inputs")
        finished = ops.equal(sample_ids, self.end_token)
        embedded = self._embed(sample_ids)
        return (
            finished,
            ops.where(ops.all(finished), self.start_inputs, embedded),
            state,
        )


@keras.saving.register_keras_serializable(package="keras_seq2seq")
class SampleEmbeddingSampler(GreedyEmbeddingSampler):
    """Inference: feeds back the embedding of an id drawn from the logits.

    Args:
        embedding_fn: as in `GreedyEmbeddingSampler`.
        softmax_temperature: optional float the logits are divided by (above 1
            flattens the distribution, below 1 sharpens it); default 1.
        seed: seed of the draws.
    """

    def __init__(self, embedding_fn=None, softmax_temperature=None, seed=None):
        super().__init__(embedding_fn)
        self.softmax_temperature = softmax_temperature
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(_combined_seed(seed))

    def get_config(self):
        _no_function(self, embedding_fn=self.embedding_fn)
        temperature = self.softmax_temperature
        return {
            "softmax_temperature": None if temperature is None else _plain(temperature),
            "seed": self.seed,
        }

    def initialize(self, embedding, start_tokens=None, end_token=None):
        result = super().initialize(embedding, start_tokens, end_token)
        self._seed = self.seed_generator.next()
        return result

    def sample(self, time, outputs, state):
        del state
        if tree.is_nested(outputs):
            raise TypeError(
                "Expected `outputs` to be a single tensor. Received: "
                f"{type(outputs).__name__}"
            )
        self._require_initialized("sample")
        uniform = step_uniform(ops.shape(outputs)[:-1], self._seed, time)
        return draw_tokens(outputs, uniform, temperature=self.softmax_temperature)


class InferenceSampler(Sampler):
    """Inference with user functions for sampling, stopping and feeding back.

    Args:
        sample_fn: `sample_fn(outputs) -> sample_ids`.
        sample_shape: shape of one row of `sample_ids`.
        sample_dtype: dtype of `sample_ids`.
        end_fn: `end_fn(sample_ids) -> [batch] bool`, True where a row ends.
        next_inputs_fn: optional `next_inputs_fn(sample_ids) -> next inputs`;
            by default the ids themselves are the next inputs.

    `initialize(start_inputs)`: the first step's inputs, batch on axis 0.
    """

    def __init__(
        self, sample_fn, sample_shape, sample_dtype, end_fn, next_inputs_fn=None
    ):
        self.sample_fn = sample_fn
        if isinstance(sample_shape, int):
            sample_shape = (sample_shape,)
        self.sample_shape = tuple(sample_shape)
        self.sample_dtype = sample_dtype
        self.end_fn = end_fn
        self.next_inputs_fn = next_inputs_fn
        self._batch_size = None

    @property
    def sample_ids_shape(self):
        return self.sample_shape

    @property
    def sample_ids_dtype(self):
        return self.sample_dtype

    def initialize(self, start_inputs):
        self.start_inputs = ops.convert_to_tensor(start_inputs)
        self._batch_size = ops.shape(self.start_inputs)[0]
        return ops.zeros((self._batch_size,), dtype="bool"), self.start_inputs

    def sample(self, time, outputs, state):
        del time, state
        return self.sample_fn(outputs)

    def next_inputs(self, time, outputs, state, sample_ids):
        del time, outputs
        self._require_initialized("next_inputs")
        if self.next_inputs_fn is None:
            next_inputs = sample_ids
        else:
            next_inputs = self.next_inputs_fn(sample_ids)
        return self.end_fn(sample_ids), next_inputs, state
