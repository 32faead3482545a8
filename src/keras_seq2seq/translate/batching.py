"""Length-bucketed, padded batches of token ids for Keras `fit`, on every
backend."""

import itertools
import math
import numbers

import keras
import numpy as np

from keras_seq2seq.translate.tokenizer import BOS_ID, EOS_ID, PAD_ID
from keras_seq2seq.validation import check_positive_int

DEFAULT_BATCH_SIZE = 64


class BucketedBatches(keras.utils.PyDataset):
    """Batches of sentence pairs grouped by length, padded with 0, with a
    sample-weight mask.

    Each item is `((source, decoder_input), decoder_target, sample_weight)`,
    all `[rows, length]`: `source` int32 ids; `decoder_input` int32
    `[bos] + target`; `decoder_target` int32 `target + [eos]`;
    `sample_weight` float32, 1 on the `len(target) + 1` real target steps and
    0 on padding, so padded steps never count in the loss or metrics. Use a
    loss with `reduction="mean_with_sample_weight"` to average over real
    target tokens (the default `"sum_over_batch_size"` divides by every step,
    padding included).

    Shapes are few: a pair goes to the bucket of length
    `bucket_width * ceil(max(len(source), len(target) + 1) / bucket_width)`,
    and both sides of its batch are padded to that length, so there is one
    shape per bucket (JAX compiles and TensorFlow traces once per shape).
    With `pad_last_batch=True` (default) the last, partial batch of a bucket
    is filled up to the bucket's row count with repeats of its own pairs
    whose sample weights are 0: every batch of a bucket has the same shape and
    every pair still counts exactly once per epoch.

    Keras's TensorFlow adapter infers the input signature from the first two
    batches; they are chosen to differ in every dimension that varies, so the
    signature leaves those dimensions unknown and every batch fits it.

    Pairs longer than `max_length` are left out and reported: `dropped` and
    `dropped_indices`, and `summary()`.

    Args:
        source_ids: list of int sequences (e.g. `SubwordTokenizer.encode`),
            without bos or eos.
        target_ids: list of int sequences, one per source, without bos or eos.
        batch_size: rows per batch; defaults to 64 unless `max_tokens` is
            given. Must be a multiple of `batch_multiple`.
        max_tokens: instead of `batch_size`: at most this many padded tokens
            (`rows * length`) per batch, so short buckets get more rows. Rows
            are rounded down to a multiple of `batch_multiple` (at least
            `batch_multiple`).
        max_length: optional int; pairs whose source or target + 1 is longer
            are dropped (and counted).
        bucket_width: int, padded lengths are multiples of it.
        shuffle: if True, each epoch shuffles the pairs within each bucket and
            the order of the batches, from `seed` and the epoch number;
            otherwise batches go bucket by bucket in input order. Keras's
            `fit(shuffle=True)` (its default) permutes the batches once more
            with Python's `random` (seeded by `keras.utils.set_random_seed`);
            pass `shuffle=False` to `fit` for exactly this order.
        seed: int seed of the shuffling.
        pad_last_batch: see above. If False, a bucket's last batch keeps its
            own rows, padded only up to a multiple of `batch_multiple`.
        batch_multiple: every batch's row count is a multiple of this (e.g.
            the number of devices for data parallelism).
        bos_id, eos_id: the ids added to the decoder input and target.
        **kwargs: `workers`, `use_multiprocessing`, `max_queue_size` of
            `keras.utils.PyDataset`.

    Attributes:
        num_pairs: pairs batched each epoch.
        dropped: pairs left out because they are longer than `max_length`.
        dropped_indices: their positions in `source_ids`.
        shapes: the sorted distinct `(rows, length)` batch shapes.
        epoch: the epoch whose batch order is served; `on_epoch_end`
            advances it, `set_epoch` sets it. Keras also calls `on_epoch_end`
            after peeking at the data before training, so pass
            `epoch_callback()` to `fit` to serve exactly epoch `k`'s order in
            epoch `k` (also when resuming with `initial_epoch`).

    Example:
    >>> batches = BucketedBatches([[5, 6], [7], [8, 9, 10]], [[11], [12, 13], [14]],
    ...                           batch_size=2, bucket_width=4, shuffle=False)
    >>> (source, decoder_input), decoder_target, weight = batches[0]
    >>> source.tolist(), decoder_input.tolist()
    ([[5, 6, 0, 0], [7, 0, 0, 0]], [[2, 11, 0, 0], [2, 12, 13, 0]])
    >>> decoder_target.tolist(), weight.tolist()
    ([[11, 3, 0, 0], [12, 13, 3, 0]], [[1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 1.0, 0.0]])
    >>> len(batches), batches.shapes, batches[1][2].tolist()
    (2, [(2, 4)], [[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    """

    def __init__(
        self,
        source_ids,
        target_ids,
        batch_size=None,
        max_tokens=None,
        max_length=None,
        bucket_width=8,
        shuffle=True,
        seed=0,
        pad_last_batch=True,
        batch_multiple=1,
        bos_id=BOS_ID,
        eos_id=EOS_ID,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if len(source_ids) != len(target_ids):
            raise ValueError(
                "`source_ids` and `target_ids` must have the same length. "
                f"Received: {len(source_ids)} and {len(target_ids)}"
            )
        if batch_size is not None and max_tokens is not None:
            raise ValueError(
                "Give `batch_size` or `max_tokens`, not both. Received: "
                f"batch_size={batch_size}, max_tokens={max_tokens}"
            )
        self.batch_multiple = check_positive_int("batch_multiple", batch_multiple)
        self.bucket_width = check_positive_int("bucket_width", bucket_width)
        self.max_tokens = check_positive_int("max_tokens", max_tokens, allow_none=True)
        if max_tokens is None:
            batch_size = DEFAULT_BATCH_SIZE if batch_size is None else batch_size
            self.batch_size = check_positive_int("batch_size", batch_size)
            if self.batch_size % self.batch_multiple:
                raise ValueError(
                    "`batch_size` must be a multiple of `batch_multiple`. "
                    f"Received: batch_size={batch_size}, "
                    f"batch_multiple={batch_multiple}"
                )
        else:
            self.batch_size = None
        self.max_length = check_positive_int("max_length", max_length, allow_none=True)
        self.shuffle = bool(shuffle)
        self.seed = _check_non_negative_int("seed", seed)
        self.pad_last_batch = bool(pad_last_batch)
        self.bos_id, self.eos_id = int(bos_id), int(eos_id)

        self._sources, self._source_starts = _flatten("source_ids", source_ids)
        self._targets, self._target_starts = _flatten("target_ids", target_ids)
        source_lengths = np.diff(self._source_starts)
        decoder_lengths = np.diff(self._target_starts) + 1
        longest = np.maximum(source_lengths, decoder_lengths)
        too_long = np.zeros(len(longest), bool)
        if self.max_length is not None:
            too_long = longest > self.max_length
        self.dropped_indices = tuple(int(i) for i in np.flatnonzero(too_long))
        kept = np.flatnonzero(~too_long)
        self.num_pairs = len(kept)
        if not self.num_pairs:
            raise ValueError(
                f"No pair to batch: {len(source_ids)} given, {self.dropped} longer "
                f"than max_length={self.max_length}."
            )
        widths = self.bucket_width * -(-longest[kept] // self.bucket_width)
        self._buckets = {
            int(width): kept[widths == width] for width in np.unique(widths)
        }
        self.set_epoch(0)
        self.shapes = sorted({batch[1:] for batch in self._batches})

    @property
    def dropped(self):
        return len(self.dropped_indices)

    def summary(self):
        """One line: pairs, batches, shapes and dropped pairs."""
        lengths = ", ".join(str(n) for n in sorted({n for _, n in self.shapes}))
        batches = _count(len(self), "batch", "batches")
        text = (
            f"{_count(self.num_pairs, 'pair')} in {batches} of "
            f"{_count(len(self.shapes), 'shape')} (lengths {lengths})"
        )
        if self.max_length is not None:
            text += (
                f"; {_count(self.dropped, 'pair')} longer than {self.max_length} "
                "tokens dropped"
            )
        return text

    def _rows_for_length(self, length):
        """Rows of a full batch in the bucket of padded `length`."""
        if self.batch_size is not None:
            return self.batch_size
        rows = self.max_tokens // length
        return max(self.batch_multiple, rows - rows % self.batch_multiple)

    def set_epoch(self, epoch):
        """Sets the batch order to that of `epoch` (0-based)."""
        self.epoch = _check_non_negative_int("epoch", epoch)
        rng = np.random.default_rng([self.seed, self.epoch])
        batches = []
        for length, indices in self._buckets.items():
            if self.shuffle:
                indices = rng.permutation(indices)
            full = self._rows_for_length(length)
            for start in range(0, len(indices), full):
                chunk = indices[start : start + full]
                rows = full
                if not self.pad_last_batch:
                    multiple = self.batch_multiple
                    rows = multiple * math.ceil(len(chunk) / multiple)
                batches.append((chunk, rows, length))
        if self.shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        self._batches = _shape_inference_order(batches)

    def on_epoch_end(self):
        self.set_epoch(self.epoch + 1)

    def epoch_callback(self):
        """A Keras callback that sets this dataset to each epoch `fit` starts.

        Example:
        >>> batches = BucketedBatches([[4]] * 3, [[5]] * 3, batch_size=1)
        >>> batches.epoch_callback().on_epoch_begin(7)
        >>> batches.epoch
        7
        """
        return keras.callbacks.LambdaCallback(
            on_epoch_begin=lambda epoch, logs=None: self.set_epoch(epoch)
        )

    def __len__(self):
        return len(self._batches)

    def __getitem__(self, index):
        if not 0 <= index < len(self._batches):
            raise IndexError(f"Batch index {index} out of range [0, {len(self)})")
        chunk, rows, length = self._batches[index]
        source = np.full((rows, length), PAD_ID, np.int32)
        decoder_input = np.full((rows, length), PAD_ID, np.int32)
        decoder_target = np.full((rows, length), PAD_ID, np.int32)
        weight = np.zeros((rows, length), np.float32)
        # Rows past the batch's own pairs repeat them, with weight 0.
        for row, pair in enumerate(np.resize(chunk, rows)):
            ids = _row(self._sources, self._source_starts, pair)
            source[row, : len(ids)] = ids
            ids = _row(self._targets, self._target_starts, pair)
            steps = len(ids) + 1
            decoder_input[row, 0] = self.bos_id
            decoder_input[row, 1:steps] = ids
            decoder_target[row, : steps - 1] = ids
            decoder_target[row, steps - 1] = self.eos_id
            if row < len(chunk):
                weight[row, :steps] = 1.0
        return (source, decoder_input), decoder_target, weight

    def pair_indices(self, index):
        """Positions in `source_ids` of the pairs in batch `index` (padding
        rows excluded)."""
        return [int(i) for i in self._batches[index][0]]


def _shape_inference_order(batches):
    """Moves to the front two batches whose `(rows, length)` differ in every
    dimension that varies across `batches`.

    Two such batches exist whenever the shapes differ. Take the shape (a, x)
    and, in each dimension that varies, a shape that differs from it there:
    (b, y) differs in both and is found; otherwise they are (b, x) and (a, y),
    which differ in both.
    """
    shapes = [batch[1:] for batch in batches]
    distinct = list(dict.fromkeys(shapes))
    if len(distinct) < 2:
        return batches
    varying = [d for d in (0, 1) if len({shape[d] for shape in distinct}) > 1]
    first, second = next(
        (a, b)
        for a, b in itertools.combinations(distinct, 2)
        if all(a[d] != b[d] for d in varying)
    )
    front = [shapes.index(first), shapes.index(second)]
    rest = [batch for i, batch in enumerate(batches) if i not in front]
    return [batches[front[0]], batches[front[1]], *rest]


def _count(number, singular, plural=None):
    return f"{number:,} " + (singular if number == 1 else plural or singular + "s")


def _row(flat, starts, index):
    return flat[starts[index] : starts[index + 1]]


def _flatten(name, sequences):
    """All sequences concatenated as int32, and the start of each (plus the end)."""
    arrays = []
    for number, sequence in enumerate(sequences):
        array = np.asarray(sequence)
        if array.ndim != 1 or not (
            array.size == 0 or np.issubdtype(array.dtype, np.integer)
        ):
            raise ValueError(
                f"`{name}` must hold 1-D integer sequences. Received: "
                f"{name}[{number}]={sequence!r}"
            )
        arrays.append(array.astype(np.int32))
    starts = np.zeros(len(arrays) + 1, np.int64)
    np.cumsum([len(a) for a in arrays], out=starts[1:])
    flat = np.concatenate(arrays) if arrays else np.zeros(0, np.int32)
    return flat, starts


def _check_non_negative_int(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(
            f"`{name}` must be an integer >= 0. Received: {name}={value!r}"
        )
    return int(value)
