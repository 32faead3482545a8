"""Data parallelism: `keras_seq2seq.translate.distribute`.

Virtual devices must be configured before JAX or TensorFlow starts, so the
multi-device checks run this file as a script in a fresh process
(`python test_distribute.py jax|tensorflow OUT_DIR`): JAX with 4 virtual CPU
devices (`XLA_FLAGS=--xla_force_host_platform_device_count=4`), TensorFlow with
2 logical CPU devices. The child writes what it measured to JSON and the tests
here check it. Each child runs only in the suite run whose KERAS_BACKEND is its
backend, so CI pays for it once; torch checks its error in process.

Every test here is marked `distributed` (`pytest -m distributed`).
"""

import json
import os
import pathlib
import socket
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from keras_seq2seq.translate.distribute import (
    GlobalBatches,
    data_parallel,
    global_batch_multiple,
    gradient_clipping_warning,
    initialize_from_environment,
    split_over_replicas,
    token_mean_loss,
    vocab_parallel_layout,
)

pytestmark = pytest.mark.distributed

BACKEND = keras.backend.backend()
VOCAB = 40  # a multiple of the 2-device "model" axis of the ModelParallel check
PAD, BOS, EOS = 0, 2, 3
TINY = dict(
    embedding_dim=8, encoder_units=8, decoder_units=16, encoder_layers=1, dropout=0.0
)
CHILD_DEVICES = {"jax": 4, "tensorflow": 2}
# Same computation, other summation order: float32 round-off only.
STEP_RTOL = 1e-5
# A few epochs of Adam amplify round-off; far below the loss's own progress.
TRAINING_RTOL = 1e-3


# ------------------------------------------------------------ in process


def test_global_batches_rescale_weights_to_a_global_token_mean():
    rng = np.random.default_rng(0)
    weight = np.zeros((4, 5), "float32")
    for row, length in enumerate([5, 3, 1, 0]):
        weight[row, :length] = 1.0
    losses = rng.uniform(0.5, 3.0, (4, 5))
    item = ((np.ones((4, 5), "int32"),), np.ones((4, 5), "int32"), weight)
    _, _, scaled = GlobalBatches([item], num_replicas=2)[0]
    token_mean = (weight * losses).sum() / weight.sum()
    # "sum_over_batch_size" on each half, averaged over the replicas:
    halves = [(scaled * losses)[:2].sum() / 10, (scaled * losses)[2:].sum() / 10]
    np.testing.assert_allclose(np.mean(halves), token_mean, rtol=1e-6)
    # The per-replica token mean (what "mean_with_sample_weight" gives under
    # tf.distribute) is another number on this batch.
    per_replica = [
        (weight * losses)[s].sum() / weight[s].sum() for s in (slice(0, 2), slice(2, 4))
    ]
    assert abs(np.mean(per_replica) - token_mean) > 0.01 * token_mean


def test_global_batches_keep_zero_weights_and_pairs_without_weights():
    zero = ((np.ones((2, 3)),), np.ones((2, 3)), np.zeros((2, 3), "float32"))
    unweighted = ((np.ones((2, 3)),), np.ones((2, 3)))
    data = GlobalBatches([zero, unweighted])
    assert data[0][2].tolist() == [[0.0] * 3] * 2
    assert len(data[1]) == 2 and len(data) == 2


def test_global_batches_serve_this_process_rows():
    source = np.arange(8)[:, None] * np.ones((1, 3), "int32")
    weight = np.ones((8, 3), "float32")
    item = ((source, source), source, weight)
    (part, _), target, part_weight = GlobalBatches(
        [item], num_replicas=4, process_index=1, num_processes=2
    )[0]
    assert part[:, 0].tolist() == [4, 5, 6, 7]
    assert target[:, 0].tolist() == [4, 5, 6, 7] and part_weight.shape == (4, 3)


def test_global_batches_errors():
    item = ((np.ones((6, 2)),), np.ones((6, 2)), np.ones((6, 2)))
    with pytest.raises(ValueError, match="6 rows, not a multiple.*batch_multiple"):
        GlobalBatches([item], num_replicas=4)[0]
    with pytest.raises(ValueError, match="`process_index` must be an int in"):
        GlobalBatches([item], process_index=2, num_processes=2)
    with pytest.raises(ValueError, match="`num_replicas` must be a positive"):
        GlobalBatches([item], num_replicas=0)
    with pytest.raises(ValueError, match="Received: batch 0 of type list"):
        GlobalBatches([[1, 2]])[0]


def test_epoch_hooks_reach_the_wrapped_dataset():
    from keras_seq2seq.translate import BucketedBatches

    batches = BucketedBatches([[4, 5]] * 4, [[6]] * 4, batch_size=2)
    data = GlobalBatches(batches)
    data.on_epoch_end()
    assert batches.epoch == 1 and len(data) == len(batches) == 2


def test_single_device_scope_and_split_are_plain_calls():
    with data_parallel(None) as replicas:
        assert replicas.num_replicas == 1 and replicas.engine is None
        assert global_batch_multiple() == 1
        assert (replicas.process_index, replicas.num_processes) == (0, 1)
    run = split_over_replicas(lambda x, y: (x + y, x[:, :1]))
    total, first = run(np.ones((3, 2), "int32"), np.ones((3, 2), "int32"))
    assert total.tolist() == [[2, 2]] * 3 and first.shape == (3, 1)
    with pytest.raises(ValueError, match="same, non-zero number of rows"):
        run(np.ones((3, 2)), np.ones((2, 2)))


def test_rows_of_replicas_are_joined_with_padded_time_axes():
    from keras_seq2seq.translate.distribute import _join_rows

    parts = [
        {"tokens": np.array([[5, 3]]), "lengths": np.array([2])},
        {"tokens": np.array([[4, 4, 3]]), "lengths": np.array([3])},
    ]
    joined = _join_rows(parts)
    assert joined["tokens"].tolist() == [[5, 3, 0], [4, 4, 3]]
    assert joined["lengths"].tolist() == [2, 3]


def test_argument_errors():
    with pytest.raises(
        ValueError, match="`kind` must be one of.*Received: kind='model'"
    ):
        data_parallel("model")
    with pytest.raises(ValueError, match="must be a `keras.distribution.DeviceMesh`"):
        vocab_parallel_layout(((2, 2), ("batch", "model")))
    mesh = keras.distribution.DeviceMesh((1,), ("batch",), ["cpu:0"])
    with pytest.raises(ValueError, match="Received: model_axis='model'"):
        vocab_parallel_layout(mesh)
    assert token_mean_loss().reduction == "sum_over_batch_size"


def test_initialize_from_environment(monkeypatch):
    for name in ("JOB_ADDRESSES", "NUM_PROCESSES", "PROCESS_ID"):
        monkeypatch.delenv(f"KERAS_DISTRIBUTION_{name}", raising=False)
    assert initialize_from_environment() is False
    if BACKEND != "jax":
        monkeypatch.setenv("KERAS_DISTRIBUTION_NUM_PROCESSES", "2")
        with pytest.raises(ValueError, match="needs the 'jax' backend. Received"):
            initialize_from_environment()


def test_no_clipping_warning_on_one_device():
    optimizer = keras.optimizers.Adam(clipnorm=1.0)
    with data_parallel("none"):
        assert gradient_clipping_warning(optimizer) is None


@pytest.mark.skipif(BACKEND != "torch", reason="the torch error")
def test_torch_has_no_data_parallel_engine():
    with pytest.raises(
        ValueError, match="no keras.distribution support for the 'torch'"
    ):
        data_parallel("data")


# ------------------------------------------------------------ child process


def run_child(backend, out):
    env = {
        **os.environ,
        "KERAS_BACKEND": backend,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, __file__, backend, str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    results = json.loads((out / "results.json").read_text())
    results["wall_s"] = time.perf_counter() - started
    return results


@pytest.fixture(scope="module")
def child(tmp_path_factory):
    if BACKEND not in CHILD_DEVICES:
        pytest.skip(f"multi-device checks run under jax and tensorflow, not {BACKEND}")
    return run_child(BACKEND, tmp_path_factory.mktemp("distribute"))


def test_child_has_the_virtual_devices(child):
    assert child["replicas"] == CHILD_DEVICES[BACKEND]


def test_one_step_equals_the_single_device_step(child):
    step = child["step"]
    # The loss is the mean over the real tokens of the whole global batch ...
    np.testing.assert_allclose(step["loss_single"], step["loss_reference"], rtol=1e-5)
    np.testing.assert_allclose(
        step["loss_replicas"], step["loss_single"], rtol=STEP_RTOL
    )
    # ... on a batch whose per-replica token means average to another number.
    assert (
        abs(step["mean_of_replica_means"] - step["loss_reference"])
        > 0.02 * step["loss_reference"]
    )
    assert step["weights_max_rel_diff"] < STEP_RTOL
    # The updates themselves agree, not only the (much larger) weights.
    assert step["update_max_rel_diff"] < 1e-4
    assert step["update_max_abs"] > 1e-3


def test_per_replica_mean_reduction_is_only_right_on_jax(child):
    """What `token_mean_loss` avoids: "mean_with_sample_weight" averages over
    each replica's own tokens under tf.distribute (JAX reduces globally)."""
    step = child["step"]
    if BACKEND == "jax":
        np.testing.assert_allclose(
            step["loss_naive"], step["loss_reference"], rtol=1e-5
        )
    else:
        np.testing.assert_allclose(
            step["loss_naive"], step["mean_of_replica_means"], rtol=1e-5
        )


def test_gradient_clipping_is_global_on_jax_and_per_replica_on_tensorflow(child):
    """Keras 3.15 on TensorFlow clips each replica's share of the gradient
    before summing the shares; `gradient_clipping_warning` says so."""
    step = child["step"]
    if BACKEND == "jax":
        assert step["clipped_update_max_rel_diff"] < 1e-4
        assert step["clipping_warning"] is None
    else:
        assert step["clipped_update_max_rel_diff"] > 0.1
        assert "each replica's share" in step["clipping_warning"]


def test_short_training_reaches_the_single_device_validation_loss(child):
    single, replicas = (
        child["training"]["val_single"],
        child["training"]["val_replicas"],
    )
    assert single[-1] < 0.9 * single[0]  # it learned: the tolerance is not vacuous
    np.testing.assert_allclose(replicas, single, rtol=TRAINING_RTOL)


def test_checkpoints_move_between_one_device_and_all(child):
    checkpoint = child["checkpoint"]
    assert checkpoint["distributed_to_one_weights_equal"]
    assert checkpoint["distributed_to_one_greedy_equal"]
    assert checkpoint["weights_file_to_one_equal"]
    assert checkpoint["one_to_distributed_weights_equal"]
    assert checkpoint["one_to_distributed_greedy_equal"]
    if BACKEND == "jax":
        assert checkpoint["loaded_devices"] == [1, 4]


def test_split_decoding_equals_single_device_decoding(child):
    decoding = child["decoding"]
    for mode in ("greedy", "beam"):
        assert decoding[f"{mode}_rows"] == 10  # not a multiple of the replicas
        assert decoding[f"{mode}_tokens_equal"], mode
        assert decoding[f"{mode}_lengths_equal"], mode
        assert decoding[f"{mode}_scores_max_abs_diff"] < 1e-4, mode


@pytest.mark.skipif(BACKEND != "jax", reason="keras.distribution.initialize: JAX")
def test_two_processes_step_equals_the_single_device_step(child):
    """The multi-host launch, on one host: two processes with 2 virtual CPU
    devices each (collectives over gloo), each feeding its half of the rows."""
    out = pathlib.Path(child["out"])
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "KERAS_BACKEND": "jax",
        "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "KERAS_DISTRIBUTION_JOB_ADDRESSES": f"localhost:{port}",
        "KERAS_DISTRIBUTION_NUM_PROCESSES": "2",
    }
    processes = [
        subprocess.Popen(
            [sys.executable, __file__, "jax-process", str(out)],
            env={**env, "KERAS_DISTRIBUTION_PROCESS_ID": str(index)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index in (0, 1)
    ]
    try:
        errors = [process.communicate(timeout=300)[1] for process in processes]
    finally:
        for process in processes:
            process.kill()
    for process, error in zip(processes, errors):
        assert process.returncode == 0, error[-4000:]
    for index in (0, 1):
        result = json.loads((out / f"process{index}.json").read_text())
        assert result["num_replicas"] == 4 and result["process"] == [index, 2]
        assert result["rows_fed"] == 4  # its half of the 8-row global batch
        np.testing.assert_allclose(
            result["loss"], child["step"]["loss_single"], rtol=STEP_RTOL
        )
        assert result["weights_max_rel_diff"] < STEP_RTOL


@pytest.mark.skipif(BACKEND != "jax", reason="benchmarks/data_parallel_step.py: JAX")
def test_step_time_benchmark_runs(child):
    (row,) = child["benchmark"]
    assert row["devices"] == 4 and row["rows_per_device"] == 2
    assert row["step_ms"] > 0 and np.isfinite(row["first_loss"])


@pytest.mark.skipif(BACKEND != "jax", reason="keras.distribution.ModelParallel: JAX")
def test_vocab_parallel_layout_shards_and_trains(child):
    model_parallel = child["model_parallel"]
    specs = model_parallel["specs"]
    assert specs["translator/target_embedding/embeddings"] == ["model", None]
    assert specs["translator/source_embedding/embeddings"] == ["model", None]
    assert specs["translator/output_projection/kernel"] == [None, "model"]
    assert specs["translator/output_projection/bias"] == ["model"]
    assert specs["translator/bridge_h/kernel"] == [None, None]
    shards = model_parallel["shard_shapes"]
    assert shards["translator/target_embedding/embeddings"] == [VOCAB // 2, 8]
    assert shards["translator/output_projection/kernel"] == [16, VOCAB // 2]
    assert model_parallel["momentum_spec"] == [None, "model"]
    np.testing.assert_allclose(
        model_parallel["loss"], child["step"]["loss_single"], rtol=STEP_RTOL
    )
    assert model_parallel["weights_max_rel_diff"] < STEP_RTOL


# ------------------------------------------------------------ the child


def _child_main(backend, out):
    if backend == "tensorflow":
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * CHILD_DEVICES[backend]
        )
    assert keras.backend.backend() == backend, keras.backend.backend()
    keras.utils.set_random_seed(0)
    out = pathlib.Path(out)
    initial = out / "initial.weights.h5"
    model = _make_model()
    # Token 5 is likely from the start: its loss is far below the others', so
    # the per-replica token means of `_step_batch` differ.
    bias = np.array(model.output_projection.bias)
    bias[5] = 3.0
    model.output_projection.bias.assign(bias)
    model.save_weights(initial)
    results = {"replicas": data_parallel("data").num_replicas, "seconds": {}}
    clock = time.perf_counter()

    def lap(name):
        nonlocal clock
        results["seconds"][name] = round(time.perf_counter() - clock, 1)
        clock = time.perf_counter()

    results["out"] = str(out)
    results["step"], single_step = _step(initial)
    np.savez(out / "single_step.npz", *single_step[1])
    lap("step")
    results["training"], trained = _training(initial)
    lap("training")
    results["checkpoint"], results["decoding"] = _checkpoints_and_decoding(trained, out)
    lap("checkpoint_decoding")
    if backend == "jax":
        results["model_parallel"] = _model_parallel(initial, single_step)
        lap("model_parallel")
        results["benchmark"] = _benchmark_smoke()
        lap("benchmark")
    (out / "results.json").write_text(json.dumps(results, indent=1))


def _make_model():
    from keras_seq2seq.translate.model import Translator

    model = Translator(VOCAB, VOCAB, **TINY)
    model.build()
    return model


def _loaded(initial):
    model = _make_model()
    model.load_weights(initial)
    return model


def _step_batch():
    """8 rows whose real target tokens differ by replica: 12, 8, 4 and 1 per
    JAX device (2 rows each), 20 and 5 per TensorFlow replica; the first
    replica's targets are the likely token 5."""
    rng = np.random.default_rng(3)
    lengths = [6, 6, 4, 4, 2, 2, 1, 0]
    source = rng.integers(4, VOCAB, (8, 6)).astype("int32")
    decoder_input = rng.integers(4, VOCAB, (8, 6)).astype("int32")
    target = rng.integers(4, VOCAB, (8, 6)).astype("int32")
    weight = np.zeros((8, 6), "float32")
    for row, length in enumerate(lengths):
        weight[row, :length] = 1.0
        target[row, length:] = PAD
    target[:2, :] = 5
    return (source, decoder_input), target, weight


def _fit_one_step(model, batch, loss=None, optimizer=None):
    model.compile(
        optimizer=optimizer or keras.optimizers.SGD(0.5, momentum=0.9),
        loss=loss or token_mean_loss(),
    )
    history = model.fit(GlobalBatches([batch]), epochs=1, shuffle=False, verbose=0)
    return history.history["loss"][0], [np.array(v) for v in model.trainable_weights]


def _max_rel_diff(first, second):
    return max(
        float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-12))
        for a, b in zip(first, second)
    )


def _step(initial):
    batch = _step_batch()
    (source, decoder_input), target, weight = batch
    with data_parallel("none"):
        model = _loaded(initial)
        before = [np.array(v) for v in model.trainable_weights]
        logits = np.asarray(model((source, decoder_input)), np.float64)
        loss_single, after_single = _fit_one_step(model, batch)
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    token_losses = -np.take_along_axis(log_probs, target[..., None], -1)[..., 0]
    reference = (weight * token_losses).sum() / weight.sum()
    replicas = data_parallel("data")
    shards = np.split(np.arange(8), replicas.num_replicas)
    replica_means = [
        (weight * token_losses)[rows].sum() / weight[rows].sum() for rows in shards
    ]
    with replicas:
        loss_replicas, after_replicas = _fit_one_step(_loaded(initial), batch)
        naive = keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, reduction="mean_with_sample_weight"
        )
        loss_naive, _ = _fit_one_step(_loaded(initial), batch, loss=naive)
        clipping = keras.optimizers.SGD(0.5, clipnorm=0.01)
        warning = gradient_clipping_warning(clipping)
        _, clipped_replicas = _fit_one_step(_loaded(initial), batch, optimizer=clipping)
    with data_parallel("none"):
        clipping = keras.optimizers.SGD(0.5, clipnorm=0.01)
        _, clipped_single = _fit_one_step(_loaded(initial), batch, optimizer=clipping)
    update_single = [a - b for a, b in zip(after_single, before)]
    update_replicas = [a - b for a, b in zip(after_replicas, before)]
    return {
        "loss_reference": float(reference),
        "mean_of_replica_means": float(np.mean(replica_means)),
        "loss_single": float(loss_single),
        "loss_replicas": float(loss_replicas),
        "loss_naive": float(loss_naive),
        "weights_max_rel_diff": _max_rel_diff(after_replicas, after_single),
        "update_max_rel_diff": _max_rel_diff(update_replicas, update_single),
        "update_max_abs": float(max(np.max(np.abs(u)) for u in update_single)),
        "clipped_update_max_rel_diff": _max_rel_diff(
            [a - b for a, b in zip(clipped_replicas, before)],
            [a - b for a, b in zip(clipped_single, before)],
        ),
        "clipping_warning": warning,
    }, (loss_single, after_single)


def _copy_pairs(count, rng):
    pairs = [rng.integers(4, VOCAB, rng.integers(2, 7)).tolist() for _ in range(count)]
    return pairs, [list(p) for p in pairs]


def _training(initial, epochs=4):
    from keras_seq2seq.translate import BucketedBatches

    rng = np.random.default_rng(5)
    train, valid = _copy_pairs(192, rng), _copy_pairs(64, rng)
    curves, models = {}, {}
    for name, kind in (("single", "none"), ("replicas", "data")):
        with data_parallel(kind):
            multiple = global_batch_multiple()
            batches = BucketedBatches(
                *train, batch_size=16, bucket_width=8, batch_multiple=multiple
            )
            validation = BucketedBatches(
                *valid, batch_size=16, bucket_width=8, shuffle=False
            )
            model = _loaded(initial)
            model.compile(optimizer=keras.optimizers.Adam(0.03), loss=token_mean_loss())
            history = model.fit(
                GlobalBatches(batches),
                validation_data=GlobalBatches(validation),
                epochs=epochs,
                shuffle=False,
                callbacks=[batches.epoch_callback()],
                verbose=0,
            )
        curves[f"val_{name}"] = [float(v) for v in history.history["val_loss"]]
        models[name] = model
    sources = np.zeros((10, 8), "int32")
    for row, pair in enumerate(valid[0][:10]):
        sources[row, : len(pair)] = pair
    models["sources"] = sources
    return curves, models


def _decode(model, sources, beam_width=1, split=False):
    from keras_seq2seq.translate.distribute import translate_split

    if split:
        return translate_split(model, sources, 8, BOS, EOS, beam_width=beam_width)
    translate = model.make_translate_function(8, BOS, EOS, beam_width=beam_width)
    out = translate(keras.ops.convert_to_tensor(sources))
    return type(out)(*[keras.ops.convert_to_numpy(x) for x in out])


def _same_tokens(first, second):
    steps = max(first.tokens.shape[1], second.tokens.shape[1])

    def padded(tokens):
        return np.pad(tokens, [(0, 0), (0, steps - tokens.shape[1])])

    return bool(np.array_equal(padded(first.tokens), padded(second.tokens)))


def _weights_equal(first, second):
    return all(
        np.array_equal(np.array(a), np.array(b))
        for a, b in zip(first.weights, second.weights)
    )


def _device_count(model):
    if keras.backend.backend() != "jax":
        return None
    return len(model.weights[0].value.devices())


def _checkpoints_and_decoding(trained, out):
    sources = trained["sources"]
    replicas = data_parallel("data")
    checkpoint, decoding = {}, {}
    # Written under the distribution, read on one device.
    with replicas:
        trained["replicas"].save(out / "replicas.keras")
        trained["replicas"].save_weights(out / "replicas.weights.h5")
        greedy_replicas = _decode(trained["replicas"], sources, split=True)
    on_one = keras.models.load_model(out / "replicas.keras")
    checkpoint["distributed_to_one_weights_equal"] = _weights_equal(
        on_one, trained["replicas"]
    )
    checkpoint["distributed_to_one_greedy_equal"] = _same_tokens(
        _decode(on_one, sources), greedy_replicas
    )
    from_weights = _make_model()
    from_weights.load_weights(out / "replicas.weights.h5")
    checkpoint["weights_file_to_one_equal"] = _weights_equal(from_weights, on_one)
    # Written on one device, read under the distribution: decoding split over
    # the devices equals decoding on one.
    trained["single"].save(out / "single.keras")
    greedy = _decode(trained["single"], sources)
    beam = _decode(trained["single"], sources, beam_width=3)
    with replicas:
        on_all = keras.models.load_model(out / "single.keras")
        split_greedy = _decode(on_all, sources, split=True)
        split_beam = _decode(on_all, sources, beam_width=3, split=True)
    checkpoint["one_to_distributed_weights_equal"] = _weights_equal(
        on_all, trained["single"]
    )
    checkpoint["one_to_distributed_greedy_equal"] = _same_tokens(split_greedy, greedy)
    checkpoint["loaded_devices"] = [_device_count(on_one), _device_count(on_all)]
    for mode, one, split in (
        ("greedy", greedy, split_greedy),
        ("beam", beam, split_beam),
    ):
        decoding[f"{mode}_rows"] = int(split.tokens.shape[0])
        decoding[f"{mode}_tokens_equal"] = _same_tokens(split, one)
        decoding[f"{mode}_lengths_equal"] = bool(
            np.array_equal(split.lengths, one.lengths)
        )
        decoding[f"{mode}_scores_max_abs_diff"] = float(
            np.max(np.abs(split.scores - one.scores))
        )
    return checkpoint, decoding


def _model_parallel(initial, single_step):
    mesh = keras.distribution.DeviceMesh(
        (2, 2), ("batch", "model"), keras.distribution.list_devices()
    )
    distribution = keras.distribution.ModelParallel(
        layout_map=vocab_parallel_layout(mesh), batch_dim_name="batch"
    )
    with distribution.scope():
        model = _loaded(initial)
        loss, after = _fit_one_step(model, _step_batch())
    values = {v.path: v.value for v in model.weights}
    momentum = [
        v.value
        for v in model.optimizer.variables
        if "output_projection_kernel" in v.path and "momentum" in v.path
    ]
    return {
        "specs": {path: list(value.sharding.spec) for path, value in values.items()},
        "shard_shapes": {
            path: list(value.addressable_shards[0].data.shape)
            for path, value in values.items()
        },
        "momentum_spec": list(momentum[0].sharding.spec) if momentum else None,
        "loss": float(loss),
        "weights_max_rel_diff": _max_rel_diff(after, single_step[1]),
    }


def _benchmark_smoke():
    """benchmarks/data_parallel_step.py at tiny sizes (it cannot rot)."""
    import importlib.util

    path = pathlib.Path(__file__).parents[2] / "benchmarks" / "data_parallel_step.py"
    spec = importlib.util.spec_from_file_location("data_parallel_step", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.measure(settings=(4,), steps=1, warmup=2, tiny=True)


def _process_main(out):
    """One of two JAX processes (2 virtual devices each) launched as
    docs/scaling.md says: `initialize_from_environment()` calls
    `keras.distribution.initialize()`, which reads
    KERAS_DISTRIBUTION_JOB_ADDRESSES, _NUM_PROCESSES and _PROCESS_ID."""
    out = pathlib.Path(out)
    assert initialize_from_environment()
    with data_parallel("data") as replicas:
        rows_fed = GlobalBatches([_step_batch()])[0][1].shape[0]
        loss, after = _fit_one_step(_loaded(out / "initial.weights.h5"), _step_batch())
    single = np.load(out / "single_step.npz")
    single = [single[f"arr_{i}"] for i in range(len(single.files))]
    result = {
        "num_replicas": replicas.num_replicas,
        "process": [replicas.process_index, replicas.num_processes],
        "rows_fed": int(rows_fed),
        "loss": float(loss),
        "weights_max_rel_diff": _max_rel_diff(after, single),
    }
    path = out / f"process{replicas.process_index}.json"
    path.write_text(json.dumps(result))


if __name__ == "__main__":
    if sys.argv[1] == "jax-process":
        _process_main(sys.argv[2])
    else:
        _child_main(*sys.argv[1:])
