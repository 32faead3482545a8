"""Shared test helpers: NumPy references of the attention math, written from the
papers, a gradient on the current backend, and the benchmark scripts' modules."""

import importlib.util
import pathlib

import keras
import numpy as np
import pytest

BENCHMARKS = pathlib.Path(__file__).resolve().parents[1] / "benchmarks"


def load_benchmark(path):
    """The module of the script `benchmarks/<path>`, loaded from its file."""
    file = BENCHMARKS / path
    spec = importlib.util.spec_from_file_location(f"benchmarks_{file.stem}", file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def np_softmax(scores, mask=None):
    """Softmax over the last axis of (B, Tq, Te) scores; masked steps 0, all-masked rows 0."""
    scores = np.asarray(scores, np.float64)
    if mask is None:
        mask = np.ones(scores.shape[:1] + scores.shape[-1:], bool)
    keep = np.broadcast_to(np.asarray(mask, bool)[:, None, :], scores.shape)
    shifted = np.where(keep, scores, -np.inf)
    top = np.max(shifted, axis=-1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    e = np.where(keep, np.exp(np.where(keep, scores, 0.0) - top), 0.0)
    total = e.sum(-1, keepdims=True)
    return np.where(total > 0, e / np.where(total > 0, total, 1.0), 0.0)


def compiled(fn, torch_compile=False):
    """`fn` compiled the way each backend compiles a model's step: `jax.jit`,
    `tf.function` with XLA; on torch `torch.compile` if asked, else `fn`."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.jit(fn)
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, jit_compile=True)
    if torch_compile:
        import torch

        return torch.compile(fn)
    return fn


def gradient(loss_fn, value):
    """d loss_fn(value) / d value on the current backend."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.grad(loss_fn)(keras.ops.convert_to_tensor(value))
    if backend == "tensorflow":
        import tensorflow as tf

        value = tf.constant(value)
        with tf.GradientTape() as tape:
            tape.watch(value)
            loss = loss_fn(value)
        return tape.gradient(loss, value)
    import torch

    value = torch.tensor(value, requires_grad=True)
    loss_fn(value).backward()
    return value.grad


def np_hardmax(scores, mask=None):
    """One-hot of the first highest unmasked score; all-masked rows 0."""
    scores = np.asarray(scores, np.float64)
    if mask is None:
        mask = np.ones(scores.shape[:1] + scores.shape[-1:], bool)
    keep = np.broadcast_to(np.asarray(mask, bool)[:, None, :], scores.shape)
    out = np.zeros(scores.shape)
    for index in np.ndindex(scores.shape[:-1]):
        if keep[index].any():
            masked = np.where(keep[index], scores[index], -np.inf)
            out[index + (int(np.argmax(masked)),)] = 1.0
    return out


def np_cumprod_exclusive(x, axis=0):
    x = np.moveaxis(np.asarray(x, np.float64), axis, 0)
    shifted = np.concatenate([np.ones_like(x[:1]), x[:-1]], axis=0)
    return np.moveaxis(np.cumprod(shifted, axis=0), 0, axis)


def np_monotonic_recursive(p, previous):
    """Raffel et al. 2017: q_j = (1 - p_{j-1}) q_{j-1} + a_prev_j, attention = p q."""
    p, previous = np.asarray(p, np.float64), np.asarray(previous, np.float64)
    q = np.zeros_like(p)
    for j in range(p.shape[1]):
        q[:, j] = previous[:, j] + ((1.0 - p[:, j - 1]) * q[:, j - 1] if j > 0 else 0.0)
    return p * q


def np_monotonic_parallel(p, previous):
    """p * cumprod_excl(1-p) * cumsum(a_prev / clip(cumprod_excl(1-p), 1e-10, 1))."""
    p, previous = np.asarray(p, np.float64), np.asarray(previous, np.float64)
    cumprod = np_cumprod_exclusive(1.0 - p, axis=1)
    return p * cumprod * np.cumsum(previous / np.clip(cumprod, 1e-10, 1.0), axis=1)


def np_monotonic_hard(p, previous):
    """p <- p * cumsum(a_prev); attention = p * cumprod_excl(1 - p)."""
    p, previous = np.asarray(p, np.float64), np.asarray(previous, np.float64)
    p = p * np.cumsum(previous, axis=1)
    return p * np_cumprod_exclusive(1.0 - p, axis=1)


NP_MONOTONIC = {
    "recursive": np_monotonic_recursive,
    "parallel": np_monotonic_parallel,
    "hard": np_monotonic_hard,
}


FRESH_PROCESS_PREDICT = """
import sys
import keras, numpy as np
import keras_seq2seq  # registers the layers; no custom_objects needed
model = keras.models.load_model(sys.argv[1])
inputs = [np.load(path) for path in sys.argv[3:]]
np.save(sys.argv[2], np.asarray(model.predict(inputs, verbose=0)))
"""


def predict_in_fresh_process(model, inputs, tmp_path):
    """Saves `model` as .keras, loads it in a new Python process on the same
    backend (importing keras_seq2seq, no custom_objects) and returns its
    predictions on `inputs` (a list of arrays)."""
    import os
    import subprocess
    import sys

    import keras

    model_path, output_path = tmp_path / "model.keras", tmp_path / "predicted.npy"
    model.save(model_path)
    input_paths = []
    for number, array in enumerate(inputs):
        input_paths.append(tmp_path / f"input{number}.npy")
        np.save(input_paths[-1], array)
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            FRESH_PROCESS_PREDICT,
            model_path,
            output_path,
            *input_paths,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "KERAS_BACKEND": keras.backend.backend()},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return np.load(output_path)


# Module-wide speed settings; a test module opts in with
# `pytestmark = pytest.mark.usefixtures(...)`.


@pytest.fixture(scope="module")
def jax_compilation_cache(tmp_path_factory):
    """On JAX, a persistent compilation cache for this session: the tiny
    trainings compile the same programs (same model, same shapes), so only
    the first pays. Changes speed only."""
    if keras.backend.backend() != "jax":
        yield
        return
    import jax

    try:  # private: lets the cache be turned on mid-session
        from jax._src.compilation_cache import reset_cache
    except ImportError:  # another JAX version: run without the cache
        yield
        return

    names = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs")
    before = [getattr(jax.config, name) for name in names]
    directory = tmp_path_factory.getbasetemp() / "jax-compilation-cache"
    for name, value in zip(names, (str(directory), 0.0)):
        jax.config.update(name, value)
    reset_cache()
    yield
    for name, value in zip(names, before):
        jax.config.update(name, value)
    reset_cache()


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny matmuls run far faster on one thread when the cores are shared."""
    if keras.backend.backend() != "torch":
        yield
        return
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny_translator(tmp_path_factory):
    """`(model directory, test sentences)`: a tiny translator trained once per
    test session on 1,000 short pairs of the bundled corpus, and the source
    sentences of its recorded test split."""
    import gzip

    from keras_seq2seq.translate import default_corpus_path, train

    lines = gzip.decompress(default_corpus_path().read_bytes()).split(b"\n")
    path = tmp_path_factory.mktemp("corpus") / "pairs.txt"
    path.write_bytes(b"\n".join(lines[:1000]) + b"\n")
    out = tmp_path_factory.mktemp("run") / "model"
    train(
        out,
        pairs=path,
        log=[].append,
        epochs=1,
        vocab_size=300,
        max_length=8,
        batch_size=64,
        bleu_sentences=32,
        embedding_dim=8,
        encoder_units=8,
        decoder_units=16,
        encoder_layers=1,
    )
    test_split = (out / "test.tsv").read_text(encoding="utf-8").split("\n")
    return out, [line.split("\t")[0] for line in test_split if line]
