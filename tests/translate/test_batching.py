"""BucketedBatches: shapes, padding, sample weights, one pass over every pair
per epoch, dropped pairs, determinism, and Keras `fit` on the current backend."""

import collections

import keras
import numpy as np
import pytest

from keras_seq2seq.translate import BOS_ID, EOS_ID, BucketedBatches


def random_pairs(count=300, longest=30, seed=0):
    rng = np.random.default_rng(seed)

    def sequence():
        return rng.integers(4, 50, rng.integers(1, longest + 1)).tolist()

    return [sequence() for _ in range(count)], [sequence() for _ in range(count)]


def all_batches(batches):
    return [batches[i] for i in range(len(batches))]


def seen_pairs(batches):
    return sorted(i for b in range(len(batches)) for i in batches.pair_indices(b))


def test_each_row_is_padded_with_bos_eos_and_weights():
    sources, targets = random_pairs()
    batches = BucketedBatches(sources, targets, batch_size=16, bucket_width=8)
    for index in range(len(batches)):
        (source, decoder_input), decoder_target, weight = batches[index]
        pairs = batches.pair_indices(index)
        rows, length = source.shape
        assert (rows, length) in batches.shapes
        assert rows == 16
        assert length % 8 == 0
        for array in (decoder_input, decoder_target, weight):
            assert array.shape == (rows, length)
        assert source.dtype == decoder_input.dtype == decoder_target.dtype == "int32"
        assert weight.dtype == "float32"
        for row, pair in enumerate(pairs):
            s, t = sources[pair], targets[pair]
            assert max(len(s), len(t) + 1) > length - 8  # the tightest bucket
            np.testing.assert_array_equal(source[row], s + [0] * (length - len(s)))
            pad = [0] * (length - len(t) - 1)
            np.testing.assert_array_equal(decoder_input[row], [BOS_ID, *t, *pad])
            np.testing.assert_array_equal(decoder_target[row], [*t, EOS_ID, *pad])
            np.testing.assert_array_equal(weight[row], [1] * (len(t) + 1) + pad)
        # Filler rows (the last batch of a bucket) repeat pairs with weight 0.
        assert not weight[len(pairs) :].any()


def test_every_pair_exactly_once_per_epoch_and_real_tokens_weighted_once():
    sources, targets = random_pairs()
    batches = BucketedBatches(sources, targets, batch_size=16, seed=3)
    real_target_steps = sum(len(t) + 1 for t in targets)
    for epoch in range(3):
        assert batches.epoch == epoch
        assert seen_pairs(batches) == list(range(len(sources)))
        total_weight = sum(batch[2].sum() for batch in all_batches(batches))
        assert total_weight == real_target_steps
        batches.on_epoch_end()


def test_few_shapes():
    sources, targets = random_pairs(count=500, longest=30)
    batches = BucketedBatches(sources, targets, batch_size=32, bucket_width=8)
    assert batches.shapes == [(32, 8), (32, 16), (32, 24), (32, 32)]
    shapes = {batch[0][0].shape for batch in all_batches(batches)}
    assert sorted(shapes) == batches.shapes


def test_without_padding_the_last_batch_keeps_its_rows():
    sources, targets = random_pairs(count=100)
    batches = BucketedBatches(sources, targets, batch_size=16, pad_last_batch=False)
    rows = [batch[2].shape[0] for batch in all_batches(batches)]
    assert sum(rows) == 100
    assert seen_pairs(batches) == list(range(100))


def test_batch_multiple_rounds_row_counts():
    sources, targets = random_pairs(count=101)
    batches = BucketedBatches(
        sources, targets, batch_size=12, batch_multiple=4, pad_last_batch=False
    )
    for batch in all_batches(batches):
        assert batch[2].shape[0] % 4 == 0
    assert seen_pairs(batches) == list(range(101))


def test_max_tokens_sizes_batches_by_length():
    sources, targets = random_pairs(count=400)
    batches = BucketedBatches(sources, targets, max_tokens=256, batch_multiple=2)
    assert batches.batch_size is None
    for rows, length in batches.shapes:
        assert rows * length <= 256
        assert rows % 2 == 0
    assert dict((length, rows) for rows, length in batches.shapes) == {
        8: 32,
        16: 16,
        24: 10,
        32: 8,
    }
    assert seen_pairs(batches) == list(range(400))


def test_pairs_over_max_length_are_dropped_and_reported():
    sources = [[5] * 3, [5] * 10, [5] * 2, [5] * 4]
    targets = [[6] * 3, [6] * 2, [6] * 9, [6] * 3]  # decoder length = target + 1
    batches = BucketedBatches(sources, targets, batch_size=2, max_length=4)
    assert batches.dropped == 2
    assert batches.dropped_indices == (1, 2)
    assert batches.num_pairs == 2
    assert seen_pairs(batches) == [0, 3]
    assert batches.summary() == (
        "2 pairs in 1 batch of 1 shape (lengths 8); "
        "2 pairs longer than 4 tokens dropped"
    )
    with pytest.raises(ValueError, match=r"No pair to batch: 4 given, 4 longer"):
        BucketedBatches(sources, targets, max_length=1)


def test_same_seed_same_batches_and_epochs_differ():
    sources, targets = random_pairs()

    def order(seed, epoch=0):
        batches = BucketedBatches(sources, targets, batch_size=16, seed=seed)
        batches.set_epoch(epoch)
        return [batches.pair_indices(i) for i in range(len(batches))]

    assert order(1) == order(1)
    assert order(1) != order(2)
    assert order(1, epoch=1) != order(1, epoch=0)
    resumed = BucketedBatches(sources, targets, batch_size=16, seed=1)
    resumed.on_epoch_end()
    assert [resumed.pair_indices(i) for i in range(len(resumed))] == order(1, 1)
    first = BucketedBatches(sources, targets, batch_size=16, seed=1)[0]
    again = BucketedBatches(sources, targets, batch_size=16, seed=1)[0]
    for a, b in zip(first[0] + first[1:], again[0] + again[1:]):
        np.testing.assert_array_equal(a, b)


def test_without_shuffle_input_order_within_buckets():
    sources, targets = random_pairs()
    batches = BucketedBatches(sources, targets, batch_size=16, shuffle=False)
    by_length = collections.defaultdict(list)
    for index in range(len(batches)):
        by_length[batches[index][2].shape[1]] += batches.pair_indices(index)
    for indices in by_length.values():
        assert indices == sorted(indices)
    batches.set_epoch(1)
    assert seen_pairs(batches) == list(range(len(sources)))


@pytest.mark.parametrize("pad_last_batch", [True, False])
def test_first_two_batches_differ_in_every_varying_dimension(pad_last_batch):
    sources, targets = random_pairs()
    for seed in range(5):
        batches = BucketedBatches(
            sources, targets, batch_size=16, seed=seed, pad_last_batch=pad_last_batch
        )
        shapes = [batches[i][2].shape for i in range(len(batches))]
        for dim in (0, 1):
            if len({shape[dim] for shape in shapes}) > 1:
                assert shapes[0][dim] != shapes[1][dim]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"target_ids": [[1]]}, r"same length. Received: 2 and 1"),
        ({"batch_size": 8, "max_tokens": 64}, r"batch_size=8, max_tokens=64"),
        ({"batch_size": 6, "batch_multiple": 4}, r"batch_size=6, batch_multiple=4"),
        ({"batch_size": 0}, r"batch_size=0"),
        ({"bucket_width": 2.5}, r"bucket_width=2.5"),
        ({"seed": -1}, r"seed=-1"),
        ({"source_ids": [[1, 2], [0.5]]}, r"source_ids\[1\]=\[0.5\]"),
        ({"source_ids": [[1, 2], [[3]]]}, r"1-D integer sequences"),
    ],
)
def test_invalid_arguments(kwargs, match):
    arguments = {"source_ids": [[4, 5], [6]], "target_ids": [[7], [8, 9]], **kwargs}
    with pytest.raises(ValueError, match=match):
        BucketedBatches(**arguments)


def test_index_out_of_range():
    batches = BucketedBatches([[4]], [[5]])
    with pytest.raises(IndexError):
        batches[1]


class TinyTranslator(keras.Model):
    """Logits from the decoder input plus the mean source embedding."""

    def __init__(self, vocab_size):
        super().__init__()
        self.source_embedding = keras.layers.Embedding(vocab_size, 8)
        self.target_embedding = keras.layers.Embedding(vocab_size, 8)
        self.output_layer = keras.layers.Dense(vocab_size)

    def call(self, inputs):
        source, decoder_input = inputs
        memory = keras.ops.mean(self.source_embedding(source), axis=1, keepdims=True)
        return self.output_layer(self.target_embedding(decoder_input) + memory)


def compiled_model(vocab_size=50):
    model = TinyTranslator(vocab_size)
    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, reduction="mean_with_sample_weight"
        ),
    )
    return model


class RecordingBatches(BucketedBatches):
    """Records the pairs of every batch that Keras reads, per epoch since the
    last `set_epoch` of that epoch."""

    def __init__(self, *args, **kwargs):
        self.reads = {}
        super().__init__(*args, **kwargs)

    def set_epoch(self, epoch):
        super().set_epoch(epoch)
        self.reads[epoch] = []

    def __getitem__(self, index):
        self.reads[self.epoch] += self.pair_indices(index)
        return super().__getitem__(index)


def test_fit_reads_each_epoch_order_once_and_resumes_exactly():
    # 30 short pairs and 15 long ones: batches of 16 x 8 and 8 x 16 tokens, the
    # last one of each length padded with filler rows. Two shapes (each one a
    # compilation under JAX) that differ in both dimensions.
    sources = [[5, 6, 7]] * 30 + [[8] * 10] * 15
    targets = [[9, 10]] * 30 + [[11] * 12] * 15
    batches = RecordingBatches(sources, targets, max_tokens=128)
    assert batches.shapes == [(8, 16), (16, 8)]
    expected = {}
    for epoch in (1, 2):
        batches.set_epoch(epoch)
        expected[epoch] = [
            p for i in range(len(batches)) for p in batches.pair_indices(i)
        ]
        assert sorted(expected[epoch]) == list(range(45))
    assert expected[1] != expected[2]
    history = compiled_model().fit(
        batches,
        epochs=3,
        initial_epoch=1,
        callbacks=[batches.epoch_callback()],
        shuffle=False,  # else Keras also permutes the batches, with `random`
        verbose=0,
    )
    assert np.isfinite(history.history["loss"]).all()
    assert batches.reads[1] == expected[1]
    assert batches.reads[2] == expected[2]


def test_fit_one_epoch_with_keras_shuffling():
    sources, targets = random_pairs(count=40, longest=6)
    batches = RecordingBatches(sources, targets, batch_size=8)
    assert batches.shapes == [(8, 8)]
    history = compiled_model().fit(
        batches, epochs=1, callbacks=[batches.epoch_callback()], verbose=0
    )
    assert np.isfinite(history.history["loss"][0])
    assert sorted(batches.reads[0]) == list(range(40))


def test_loss_counts_only_real_target_steps():
    sources, targets = random_pairs(count=20, longest=12)
    batches = BucketedBatches(sources, targets, batch_size=32, bucket_width=16)
    (source, decoder_input), decoder_target, weight = batches[0]
    assert 0 < weight.mean() < 1
    model = compiled_model()
    loss = model.test_on_batch(
        (source, decoder_input), decoder_target, sample_weight=weight
    )
    logits = keras.ops.convert_to_numpy(model((source, decoder_input)))
    logits = logits.astype(np.float64)
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    picked = np.take_along_axis(log_probs, decoder_target[..., None], -1)[..., 0]
    expected = -(picked * weight).sum() / weight.sum()
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
