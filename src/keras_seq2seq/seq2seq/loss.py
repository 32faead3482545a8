"""Weighted cross-entropy over sequences, as `tfa.seq2seq.sequence_loss`.

Shapes: `logits` is (batch, time, num_classes); `targets` is (batch, time)
class indices, or (batch, time, num_classes) one-hot / probabilities;
`weights` is (batch, time), e.g. 1.0 on real steps and 0.0 on padding.

Four flags choose how the (batch, time) matrix of weighted per-step losses is
reduced. The `average_*` flags sum over their axis and divide by the sum of
the weights there; the `sum_over_*` flags (despite the name) sum and divide by
the number of non-zero weights there, i.e. a mean over the unpadded steps.
Every division gives 0 where the denominator is 0, so a row that is all
padding contributes 0 and never NaN. The cross-entropy is computed in float32
whatever the logits' dtype, and the result is float32.
"""

import keras
from keras import ops

from keras_seq2seq.backend.masks import get_keras_mask
from keras_seq2seq.losses import divide_no_nan, token_crossentropy
from keras_seq2seq.validation import check_rank

# Pairs of flags that may not both be set, in the order they are checked
# (the order decides which pair is reported when several conflict).
_CONFLICTS = (
    ("average_across_timesteps", "sum_over_timesteps", False),
    ("average_across_batch", "sum_over_batch", False),
    ("average_across_batch", "sum_over_timesteps", True),
    ("sum_over_batch", "average_across_timesteps", True),
)


def _check_flags(flags):
    for first, second, ambiguous in _CONFLICTS:
        if flags[first] and flags[second]:
            reason = (
                " because the order of the two reductions would be ambiguous"
                if ambiguous
                else ""
            )
            raise ValueError(
                f"`{first}` and `{second}` cannot both be True{reason}. "
                f"Received: {first}=True, {second}=True."
            )


def _check_inputs(logits, targets, weights):
    check_rank(
        "sequence_loss",
        "logits",
        logits,
        3,
        "(batch_size, sequence_length, num_classes)",
    )
    if len(targets.shape) not in (2, 3):
        raise ValueError(
            "sequence_loss: `targets` must have rank 2 (batch_size, "
            "sequence_length) with class indices, or rank 3 (batch_size, "
            "sequence_length, num_classes) with one-hot labels. "
            f"Received: targets.shape={tuple(targets.shape)}"
        )
    check_rank("sequence_loss", "weights", weights, 2, "(batch_size, sequence_length)")
    expected = tuple(logits.shape)
    for label, tensor in (("targets", targets), ("weights", weights)):
        shape = tuple(tensor.shape)
        known = [(a, b) for a, b in zip(shape, expected) if None not in (a, b)]
        if any(a != b for a, b in known):
            raise ValueError(
                f"sequence_loss: `{label}` must match the first "
                f"{len(shape)} dimensions of `logits`. Received: "
                f"{label}.shape={shape}, logits.shape={expected}"
            )


def _count_nonzero(weights, axis=None):
    return ops.sum(ops.cast(ops.not_equal(weights, 0.0), "float32"), axis=axis)


def _crossentropy(logits, targets, softmax_loss_function):
    """Per-step loss of shape (batch, time), in float32."""
    if softmax_loss_function is not None:
        batch_and_time = ops.shape(logits)[:2]
        num_classes = ops.shape(logits)[2]
        flat_logits = ops.reshape(logits, (-1, num_classes))
        if len(targets.shape) == 3:
            flat_targets = ops.reshape(targets, (-1, num_classes))
        else:
            flat_targets = ops.reshape(targets, (-1,))
        losses = softmax_loss_function(labels=flat_targets, logits=flat_logits)
        return ops.reshape(ops.cast(losses, "float32"), batch_and_time)
    if len(targets.shape) == 3:
        return ops.categorical_crossentropy(
            ops.cast(targets, "float32"), logits, from_logits=True
        )
    return token_crossentropy(targets, logits)


def sequence_loss(
    logits,
    targets,
    weights,
    average_across_timesteps=True,
    average_across_batch=True,
    sum_over_timesteps=False,
    sum_over_batch=False,
    softmax_loss_function=None,
    name=None,
):
    """Weighted softmax cross-entropy of a batch of sequences of logits.

    The per-step cross-entropy, times `weights`, is a (batch, time) matrix;
    each axis is then left alone, averaged by the weights, or averaged over
    the non-zero weights, so the result has rank 2, 1 or 0. By default it is
    the scalar weighted mean loss per target symbol (the log-perplexity).

    Args:
        logits: float tensor of shape (batch_size, sequence_length,
            num_classes): unnormalised scores for every class at every step.
            float16 and bfloat16 are upcast to float32.
        targets: int tensor of shape (batch_size, sequence_length) with the
            true class of each step, or float tensor of shape (batch_size,
            sequence_length, num_classes) with one-hot labels (or class
            probabilities).
        weights: float tensor of shape (batch_size, sequence_length): the
            weight of each step, e.g. a sequence mask (1 = real, 0 = padding).
            None means all ones.
        average_across_timesteps: sum over time and divide by the sum of the
            weights along time.
        average_across_batch: sum over the batch and divide by the sum of the
            weights along the batch.
        sum_over_timesteps: sum over time and divide by the number of non-zero
            weights along time.
        sum_over_batch: sum over the batch and divide by the number of
            non-zero weights along the batch. With `sum_over_timesteps` too,
            the total is divided by the number of non-zero weights overall.
        softmax_loss_function: optional callable used instead of the softmax
            cross-entropy, called as `fn(labels=..., logits=...)` with labels
            of shape (batch_size * sequence_length,) (or (batch_size *
            sequence_length, num_classes) for one-hot targets) and float32
            logits of shape (batch_size * sequence_length, num_classes); it
            must return one loss per row.
        name: name scope of the computation; defaults to `"sequence_loss"`.

    Returns:
        A float32 tensor: (batch_size, sequence_length) when no flag is set,
        (batch_size,) when only time is reduced, (sequence_length,) when only
        the batch is reduced, and a scalar when both are.

    Raises:
        ValueError: if `logits` is not rank 3, `targets` not rank 2 or 3,
            `weights` not rank 2, their static sizes disagree, or two flags
            conflict: an `average_*` and a `sum_over_*` flag for the same axis,
            or `average_across_batch` with `sum_over_timesteps`, or
            `sum_over_batch` with `average_across_timesteps` (the order of the
            two reductions would be ambiguous).

    Example:
    >>> logits = ops.zeros((2, 3, 4))  # uniform over 4 classes
    >>> targets = ops.zeros((2, 3), dtype="int32")
    >>> weights = ops.array([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    >>> loss = sequence_loss(logits, targets, weights)
    >>> round(float(ops.convert_to_numpy(loss)), 4)  # log(4)
    1.3863
    >>> per_row = sequence_loss(
    ...     logits, targets, weights, average_across_batch=False
    ... )
    >>> tuple(per_row.shape)
    (2,)
    """
    if softmax_loss_function is not None and not callable(softmax_loss_function):
        raise TypeError(
            "`softmax_loss_function` must be a callable or None. Received: "
            f"softmax_loss_function={softmax_loss_function!r}"
        )
    logits = ops.convert_to_tensor(logits)
    targets = ops.convert_to_tensor(targets)
    if weights is None:
        weights = ops.ones(ops.shape(logits)[:2], dtype="float32")
    weights = ops.convert_to_tensor(weights)
    _check_inputs(logits, targets, weights)
    _check_flags(
        {
            "average_across_timesteps": average_across_timesteps,
            "average_across_batch": average_across_batch,
            "sum_over_timesteps": sum_over_timesteps,
            "sum_over_batch": sum_over_batch,
        }
    )
    with keras.name_scope(name or "sequence_loss"):
        logits = ops.cast(logits, "float32")
        weights = ops.cast(weights, "float32")
        losses = _crossentropy(logits, targets, softmax_loss_function) * weights

        if average_across_timesteps and average_across_batch:
            return divide_no_nan(ops.sum(losses), ops.sum(weights))
        if sum_over_timesteps and sum_over_batch:
            return divide_no_nan(ops.sum(losses), _count_nonzero(weights))
        if average_across_timesteps or average_across_batch:
            axis = 0 if average_across_batch else 1
            return divide_no_nan(
                ops.sum(losses, axis=axis), ops.sum(weights, axis=axis)
            )
        if sum_over_timesteps or sum_over_batch:
            axis = 0 if sum_over_batch else 1
            return divide_no_nan(
                ops.sum(losses, axis=axis), _count_nonzero(weights, axis=axis)
            )
        return losses


def _check_bool(name, value):
    # A bool, or something equal to one (0, 1, numpy.bool_); not a string.
    if isinstance(value, str) or value not in (True, False):
        raise TypeError(f"`{name}` must be a bool. Received: {name}={value!r}")
    return bool(value)


@keras.saving.register_keras_serializable(package="keras_seq2seq")
class SequenceLoss(keras.losses.Loss):
    """`sequence_loss` as a Keras loss, for `model.compile(loss=...)`.

    Unlike the function, the defaults are `sum_over_timesteps=True` and
    `sum_over_batch=True`: the weighted loss summed over every step, divided
    by the number of steps with a non-zero weight.

    The loss reduces by itself; Keras' `reduction` does not apply. It is
    called as `loss(y_true, y_pred, sample_weight=None)` with `y_true` the
    targets, `y_pred` the logits and `sample_weight` the (batch, time)
    weights. A `sample_weight` of None means all ones, and a (batch,) one
    weighs whole sequences. If `y_pred` carries a Keras mask (e.g. from an
    `Embedding(mask_zero=True)` upstream), masked steps get weight 0.

    Args:
        average_across_timesteps: as in `sequence_loss`.
        average_across_batch: as in `sequence_loss`.
        sum_over_timesteps: as in `sequence_loss`.
        sum_over_batch: as in `sequence_loss`.
        softmax_loss_function: as in `sequence_loss`. To save and load the
            loss, use a function registered with
            `keras.saving.register_keras_serializable`.
        name: name of the loss; defaults to `"sequence_loss"`.

    Returns:
        Calling the loss returns what `sequence_loss` returns: a float32
        scalar with the default flags.

    Raises:
        ValueError: on construction if two flags conflict (see
            `sequence_loss`), and on call for inputs of the wrong rank.
        TypeError: if a flag is not a bool or `softmax_loss_function` is not
            callable.

    Example:
    >>> loss_fn = SequenceLoss()
    >>> y_true = ops.array([[1, 2, 0]])
    >>> y_pred = ops.zeros((1, 3, 4))
    >>> mask = ops.array([[1.0, 1.0, 0.0]])
    >>> round(float(ops.convert_to_numpy(loss_fn(y_true, y_pred, mask))), 4)
    1.3863
    >>> model = keras.Sequential([keras.Input((3, 2)), keras.layers.Dense(4)])
    >>> model.compile(optimizer="sgd", loss=SequenceLoss())
    """

    def __init__(
        self,
        average_across_timesteps=False,
        average_across_batch=False,
        sum_over_timesteps=True,
        sum_over_batch=True,
        softmax_loss_function=None,
        name=None,
    ):
        super().__init__(name=name or "sequence_loss", reduction=None)
        self.average_across_timesteps = _check_bool(
            "average_across_timesteps", average_across_timesteps
        )
        self.average_across_batch = _check_bool(
            "average_across_batch", average_across_batch
        )
        self.sum_over_timesteps = _check_bool("sum_over_timesteps", sum_over_timesteps)
        self.sum_over_batch = _check_bool("sum_over_batch", sum_over_batch)
        if softmax_loss_function is not None and not callable(softmax_loss_function):
            raise TypeError(
                "`softmax_loss_function` must be a callable or None. Received: "
                f"softmax_loss_function={softmax_loss_function!r}"
            )
        self.softmax_loss_function = softmax_loss_function
        _check_flags(self._flags())

    def _flags(self):
        return {
            "average_across_timesteps": self.average_across_timesteps,
            "average_across_batch": self.average_across_batch,
            "sum_over_timesteps": self.sum_over_timesteps,
            "sum_over_batch": self.sum_over_batch,
        }

    def __call__(self, y_true, y_pred, sample_weight=None):
        """The loss of logits `y_pred` for targets `y_true`, see `sequence_loss`."""
        mask = get_keras_mask(y_pred)
        y_pred = ops.convert_to_tensor(y_pred)
        y_true = ops.convert_to_tensor(y_true)
        batch_and_time = ops.shape(y_pred)[:2]
        if sample_weight is None:
            weights = ops.ones(batch_and_time, dtype="float32")
        else:
            weights = ops.cast(ops.convert_to_tensor(sample_weight), "float32")
            if len(weights.shape) == 1 and len(y_pred.shape) == 3:
                # One weight per sequence, as `fit(sample_weight=...)` gives.
                weights = ops.broadcast_to(ops.expand_dims(weights, 1), batch_and_time)
        if mask is not None and len(mask.shape) == 2:
            weights = weights * ops.cast(mask, "float32")
        return sequence_loss(
            y_pred,
            y_true,
            weights,
            softmax_loss_function=self.softmax_loss_function,
            name=self.name,
            **self._flags(),
        )

    def call(self, y_true, y_pred):
        """Unreduced (batch, time) losses, with unit weights and no flags."""
        return sequence_loss(
            y_pred,
            y_true,
            None,
            average_across_timesteps=False,
            average_across_batch=False,
            softmax_loss_function=self.softmax_loss_function,
            name=self.name,
        )

    def get_config(self):
        function = self.softmax_loss_function
        if function is not None:
            function = keras.saving.serialize_keras_object(function)
        return {
            "name": self.name,
            **self._flags(),
            "softmax_loss_function": function,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config.pop("reduction", None)
        function = config.get("softmax_loss_function")
        if function is not None and not callable(function):
            config["softmax_loss_function"] = keras.saving.deserialize_keras_object(
                function
            )
        return cls(**config)
