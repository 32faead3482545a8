"""Keras 3 worker for the seq2seq benchmarks (issue 8): ours and the Keras built-ins.

One process runs one model on one backend in one mode and prints (and writes,
``--json``) the same JSON fields as the peers in ``benchmarks/peers/``. The
backend is ``KERAS_BACKEND`` (or ``--backend``, which sets it before Keras is
imported); ``benchmarks/run.py`` starts one process per combination::

    KERAS_BACKEND=jax python benchmarks/workers/keras_worker.py --model translator \
        --mode train --compile 1 --batch 64 --src-len 12 --tgt-len 12 \
        --vocab 5000 --steps 20 --warmup 3 --threads 2 --json out.json

Models (the reference workload: vocabulary 5000 on both sides, embedding 256,
one unidirectional GRU-512 encoder layer, a GRU-512 decoder, output Dense 5000):

- ``translator``: ours, ``keras_seq2seq.translate.Translator`` (Bahdanau
  attention with input feeding, dropout 0). Decoding: the compiled
  ``make_translate_function`` (greedy, or beam search with ``--beam``).
  Differences from the peers, all cheap: a tanh bridge (Dense 512) from the
  encoder's final state, and a tanh on the attention vector (Luong's; tfa
  has none).
- ``wrapper``: ours through the tfa namespace, written as the tfa peer is
  (``import keras_seq2seq as tfa``: ``AttentionWrapper(GRUCell(512),
  BahdanauAttention(512), attention_layer_size=512)``, ``BasicDecoder`` with
  ``TrainingSampler`` / ``GreedyEmbeddingSampler``, ``BeamSearchDecoder``
  over ``tile_batch``-ed memory and state).
- ``keras_builtin``: Keras 3 built-ins only, attention_keras style: a GRU
  decoder over the whole target from the encoder's state, then
  ``keras.layers.AdditiveAttention`` (no projections: ``v . tanh(q + k)``) of
  each decoder output over the encoder outputs, ``[decoder output; context]``
  to ``Dense(vocab)``; no input feeding. Greedy decoding runs the same layers
  one step at a time (a fixed ``--tgt-len`` steps); there is no beam search.

Modes:

- ``train``: ``model.fit`` (Adam, sparse cross-entropy on logits weighted by
  the target mask) over one epoch of ``warmup + steps`` batches cycling
  through 4 fixed batches of random ids; a callback times each step (it reads
  the loss, which waits for the step to finish, as the peers do). ``--compile
  1`` is ``jit_compile=True`` (XLA on TensorFlow and JAX, ``torch.compile`` on
  torch), ``--compile 0`` is ``jit_compile=False`` (a ``tf.function`` graph
  on TensorFlow, eager on JAX and torch).
- ``greedy`` / ``beam``: ``--sentences`` (default 256 greedy, 64 beam) in
  batches of ``--batch``; the output bias of the end token (id 2) is -1e9 so
  every decoder runs exactly ``--tgt-len`` steps, as in the peers. Compiled:
  ``jax.jit`` on JAX, ``tf.function`` on TensorFlow (``jit_compile=True``
  with ``--compile 1``; a ``tf.function`` graph with ``--compile 0``, as the
  tfa peer), ``torch.compile`` on torch (``--compile 1``; eager under
  ``torch.no_grad`` otherwise).
- ``gemm``: float32 square matmul GFLOP/s with the backend's own matmul
  (``--gemm-sizes``), for the FLOP efficiency.
- ``scaling``: train-step time of ``translator`` at each value of ``--axis``
  (``src_len``: source and target length, ``batch`` or ``vocab``) in
  ``--values``, one process for all.
- ``memory``: parameters and peak RSS of one training step of a model at
  ``--vocab`` (``attention_decoder_full``, ``attention_decoder_projected``:
  ``keras_seq2seq.AttentionDecoder`` with ``feedback="full"`` (the original's
  output_dim-squared weights) or ``"projected"``; ``wrapper``), in a fresh
  process per point.

A part that fails to compile is recorded in ``compile_errors`` and runs
uncompiled, as in the peers.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import statistics
import sys
import time
import traceback
import warnings

PAD, START, END = 0, 1, 2
NEVER = -1e9  # output bias that keeps the end token from ever being produced
THREAD_ENV = (
    "OMP_NUM_THREADS",
    "OMP_WAIT_POLICY",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
    "XLA_FLAGS",
    "KMP_BLOCKTIME",
    "TF_ENABLE_ONEDNN_OPTS",
)
MODELS = ("translator", "wrapper", "keras_builtin")
MEMORY_MODELS = ("attention_decoder_full", "attention_decoder_projected", "wrapper")


# ------------------------------------------------------------------ threads


def configure_threads(backend, threads, interop_threads):
    """Pins the backend's thread pools before any op runs; returns what it set."""
    info = {"cpu_count": os.cpu_count()}
    if backend == "tensorflow":
        import tensorflow as tf

        if threads:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
        if interop_threads:
            tf.config.threading.set_inter_op_parallelism_threads(interop_threads)
        info["threads"] = tf.config.threading.get_intra_op_parallelism_threads()
        info["interop_threads"] = tf.config.threading.get_inter_op_parallelism_threads()
    elif backend == "torch":
        import torch

        if threads:
            torch.set_num_threads(threads)
        if interop_threads:
            torch.set_num_interop_threads(interop_threads)
        info["threads"] = torch.get_num_threads()
        info["interop_threads"] = torch.get_num_interop_threads()
    else:
        # XLA:CPU has no run-time knob: its pool has one thread per core unless
        # XLA_FLAGS says otherwise (the driver sets it for --threads 1).
        flags = os.environ.get("XLA_FLAGS", "")
        single = "intra_op_parallelism_threads=1" in flags
        info["threads"] = 1 if single else os.cpu_count()
        info["interop_threads"] = None
    return info


def seed_everything(backend, seed):
    """`keras.utils.set_random_seed` without importing TensorFlow elsewhere.

    Keras' own function imports TensorFlow to seed it on every backend, which
    would add TensorFlow's few hundred MiB to the peak RSS of JAX and torch.
    """
    import random

    import keras
    import numpy as np

    if backend == "tensorflow":
        keras.utils.set_random_seed(seed)
        return
    from keras.src.backend.common import global_state
    from keras.src.random import seed_generator
    from keras.src.utils import rng_utils

    global_state.set_global_attribute(rng_utils.GLOBAL_RANDOM_SEED, seed)
    global_state.set_global_attribute(seed_generator.GLOBAL_SEED_GENERATOR, None)
    random.seed(seed)
    np.random.seed(seed)
    if backend == "torch":
        import torch

        torch.manual_seed(seed)


def versions(backend):
    import keras

    found = {"keras": keras.__version__, "python": platform.python_version()}
    import importlib.metadata as metadata

    names = {"tensorflow": "tensorflow-cpu", "jax": "jax", "torch": "torch"}
    for name in (backend,):
        try:
            found[name] = metadata.version(names[name])
        except metadata.PackageNotFoundError:
            found[name] = metadata.version(name)
    if backend == "jax":
        found["jaxlib"] = metadata.version("jaxlib")
    return found


# ------------------------------------------------------------------- models


def build_translator(args):
    from keras_seq2seq.translate.model import Translator

    model = Translator(
        args.vocab,
        args.vocab,
        embedding_dim=args.embed,
        rnn_type="gru",
        bidirectional=False,
        encoder_layers=1,
        encoder_units=args.units,
        decoder_units=args.units,
        attention="bahdanau",
        attention_layer_size=args.units,
        dropout=0.0,
    )
    model.build()
    return model


def make_wrapper_class():
    """The tfa peer's model, with `import keras_seq2seq as tfa` on Keras 3."""
    import keras
    from keras import ops

    import keras_seq2seq as tfa

    class WrapperSeq2Seq(keras.Model):
        def __init__(self, vocab, embed, units, tgt_len, beam, alpha, **kwargs):
            super().__init__(**kwargs)
            self.src_embedding = keras.layers.Embedding(vocab, embed)
            self.tgt_embedding = keras.layers.Embedding(vocab, embed)
            self.encoder = keras.layers.GRU(
                units, return_sequences=True, return_state=True
            )
            self.attention = tfa.seq2seq.BahdanauAttention(units, memory=None)
            self.cell = tfa.seq2seq.AttentionWrapper(
                keras.layers.GRUCell(units),
                self.attention,
                attention_layer_size=units,
            )
            self.output_layer = keras.layers.Dense(vocab)
            self.training_decoder = tfa.seq2seq.BasicDecoder(
                self.cell,
                tfa.seq2seq.TrainingSampler(),
                output_layer=self.output_layer,
                maximum_iterations=tgt_len,
            )
            self.greedy_decoder = tfa.seq2seq.BasicDecoder(
                self.cell,
                tfa.seq2seq.GreedyEmbeddingSampler(),
                output_layer=self.output_layer,
                maximum_iterations=tgt_len,
            )
            self.beam_width = beam
            self.beam_decoder = tfa.seq2seq.BeamSearchDecoder(
                self.cell,
                beam_width=beam,
                output_layer=self.output_layer,
                length_penalty_weight=alpha,
                maximum_iterations=tgt_len,
            )

        def build(self, input_shape=None):
            # The layers are built by a first call on real data (build_wrapper).
            self.built = True

        def encode(self, src, multiplier=1):
            """Sets up the attention memory; returns the decoder's initial state."""
            mask = ops.not_equal(src, PAD)
            src_lengths = ops.sum(ops.cast(mask, "int32"), axis=1)
            memory, state = self.encoder(self.src_embedding(src), mask=mask)
            if multiplier > 1:
                memory, state, src_lengths = (
                    tfa.seq2seq.tile_batch(x, multiplier)
                    for x in (memory, state, src_lengths)
                )
            self.attention.setup_memory(memory, memory_sequence_length=src_lengths)
            batch = ops.shape(src)[0] * multiplier
            initial = self.cell.get_initial_state(batch_size=batch, dtype="float32")
            return initial.clone(cell_state=state)

        def call(self, inputs):
            src, tgt_in = inputs
            initial_state = self.encode(src)
            batch, length = ops.shape(tgt_in)[0], ops.shape(tgt_in)[1]
            outputs, _, _ = self.training_decoder(
                self.tgt_embedding(tgt_in),
                initial_state=initial_state,
                sequence_length=ops.full((batch,), length, "int32"),
            )
            return outputs.rnn_output

        def greedy(self, src):
            initial_state = self.encode(src)
            start = ops.full((ops.shape(src)[0],), START, "int32")
            outputs, _, lengths = self.greedy_decoder(
                self.tgt_embedding.embeddings,
                start_tokens=start,
                end_token=END,
                initial_state=initial_state,
            )
            return outputs.sample_id, lengths

        def beam(self, src):
            initial_state = self.encode(src, self.beam_width)
            start = ops.full((ops.shape(src)[0],), START, "int32")
            outputs, _, lengths = self.beam_decoder(
                self.tgt_embedding.embeddings,
                start_tokens=start,
                end_token=END,
                initial_state=initial_state,
            )
            return outputs.predicted_ids, lengths

    return WrapperSeq2Seq


def build_wrapper(args):
    import numpy as np

    model = make_wrapper_class()(
        args.vocab, args.embed, args.units, args.tgt_len, args.beam, args.alpha
    )
    # Builds every layer on real data, outside any compiled function.
    src = np.full((2, args.src_len), 3, "int32")
    model([src, np.full((2, args.tgt_len), 3, "int32")])
    return model


def build_keras_builtin(args):
    import keras

    layers = keras.layers
    src = keras.Input((None,), dtype="int32", name="source_ids")
    tgt = keras.Input((None,), dtype="int32", name="decoder_input_ids")
    embedded = layers.Embedding(
        args.vocab, args.embed, mask_zero=True, name="source_embedding"
    )(src)
    memory, state = layers.GRU(
        args.units, return_sequences=True, return_state=True, name="encoder"
    )(embedded)
    decoder_inputs = layers.Embedding(args.vocab, args.embed, name="target_embedding")(
        tgt
    )
    decoded, _ = layers.GRU(
        args.units, return_sequences=True, return_state=True, name="decoder"
    )(decoder_inputs, initial_state=state)
    context = layers.AdditiveAttention(name="attention")([decoded, memory])
    joined = layers.Concatenate(name="join")([decoded, context])
    logits = layers.Dense(args.vocab, name="output_layer")(joined)
    return keras.Model([src, tgt], logits, name="keras_builtin")


def builtin_greedy(model, src, steps):
    """Greedy decoding with the built-in layers, one step at a time."""
    from keras import ops

    layer = model.get_layer
    mask = ops.not_equal(src, PAD)
    memory, state = layer("encoder")(layer("source_embedding")(src), mask=mask)
    tokens = ops.full((ops.shape(src)[0],), START, "int32")
    outputs = []
    for _ in range(steps):
        embedded = layer("target_embedding")(tokens[:, None])
        decoded, state = layer("decoder")(embedded, initial_state=state)
        context = layer("attention")([decoded, memory], mask=[None, mask])
        logits = layer("output_layer")(ops.concatenate([decoded, context], axis=-1))
        tokens = ops.cast(ops.argmax(logits[:, 0], axis=-1), "int32")
        outputs.append(tokens)
    return ops.stack(outputs, axis=1), None


def build_model(args):
    return {
        "translator": build_translator,
        "wrapper": build_wrapper,
        "keras_builtin": build_keras_builtin,
    }[args.model](args)


def output_bias(model, name):
    if name == "translator":
        return model.output_projection.bias
    if name == "wrapper":
        return model.output_layer.bias
    return model.get_layer("output_layer").bias


def compile_mode(backend, compile_on, mode):
    if backend == "tensorflow":
        return "tf.function(jit_compile=True)" if compile_on else "tf.function"
    if backend == "jax":
        return "jax.jit" if compile_on else "eager"
    return "torch.compile (inductor)" if compile_on else "eager"


# ---------------------------------------------------------------- measuring


def timed(fn, warmup, steps):
    """Runs fn warmup + steps times; returns (first call s, timed step seconds)."""
    start = time.perf_counter()
    fn()
    first = time.perf_counter() - start
    for _ in range(warmup - 1):
        fn()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return first, times


def summary(times, work):
    """Throughput (work per second) at the median, slowest and fastest step."""
    median = statistics.median(times)
    return {
        "step_times_s": [round(x, 6) for x in times],
        "median_s": median,
        "min_s": min(times),
        "max_s": max(times),
        "median": work / median,
        "min": work / max(times),
        "max": work / min(times),
    }


def random_data(args, rng, count=4):
    """`count` batches of (source, decoder input, target) ids in [3, vocab)."""
    import numpy as np

    sources = rng.integers(3, args.vocab, (count, args.batch, args.src_len))
    targets = rng.integers(3, args.vocab, (count, args.batch, args.tgt_len))
    start = np.full((count, args.batch, 1), START)
    tgt_in = np.concatenate([start, targets[:, :, :-1]], axis=2)
    return (
        sources.astype("int32"),
        tgt_in.astype("int32"),
        targets.astype("int32"),
    )


def proc_status_mib(field):
    """A memory field of /proc/self/status (VmRSS: now, VmHWM: peak) in MiB.

    The peak is read there, not from `ru_maxrss`: Linux carries the parent's
    peak into `ru_maxrss` across fork and exec, so every worker would report
    at least the driver's resident set.
    """
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return None


def current_rss_mib():
    return proc_status_mib("VmRSS")


def peak_rss_mib():
    return proc_status_mib("VmHWM")


def fit_steps(model, args, rng, jit_compile, steps):
    """Trains with `model.fit` for `args.warmup + steps` batches.

    Returns (seconds of each step, losses, tokens per step).
    """
    import keras
    import numpy as np

    sources, tgt_in, targets = random_data(args, rng)
    total = args.warmup + steps
    order = np.arange(total) % len(sources)
    x = [
        sources[order].reshape(-1, args.src_len),
        tgt_in[order].reshape(-1, args.tgt_len),
    ]
    y = targets[order].reshape(-1, args.tgt_len)
    weights = np.ones_like(y, dtype="float32")  # the target mask (full length)

    class StepTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.times, self.losses = [], []

        def on_train_batch_begin(self, batch, logs=None):
            self.start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            # Reading the loss waits for the step (JAX dispatches asynchronously).
            self.losses.append(float(keras.ops.convert_to_numpy(logs["loss"])))
            self.times.append(time.perf_counter() - self.start)

    optimizer = keras.optimizers.Adam(learning_rate=1e-3)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    if args.model == "translator":  # what `keras-seq2seq train` compiles with
        from keras_seq2seq.optimizers import FusedAdam
        from keras_seq2seq.translate.distribute import token_mean_loss

        optimizer, loss = FusedAdam(learning_rate=1e-3), token_mean_loss()
    model.compile(
        optimizer=optimizer,
        loss=loss,
        jit_compile=jit_compile,
    )
    timer = StepTimer()
    model.fit(
        x,
        y,
        sample_weight=weights,
        batch_size=args.batch,
        epochs=1,
        shuffle=False,
        verbose=0,
        callbacks=[timer],
    )
    return timer.times, timer.losses, int(weights[: args.batch].sum())


def run_train(args, model, result, report):
    import numpy as np

    rng = np.random.default_rng(args.seed)
    jit = bool(args.compile)
    report["train_step"] = compile_mode(args.backend, jit, "train")
    try:
        times, losses, tokens = fit_steps(model, args, rng, jit, args.steps)
    except Exception as error:
        if not jit:
            raise
        record_error(report, "train_step", error, "jit_compile=False (compile failed)")
        times, losses, tokens = fit_steps(model, args, rng, False, args.steps)
    first, timed_steps = times[0], times[args.warmup :]
    stats = summary(timed_steps, tokens)
    result.update(
        tokens_per_step=tokens,
        tokens_per_s=stats.pop("median"),
        tokens_per_s_min=stats.pop("min"),
        tokens_per_s_max=stats.pop("max"),
        loss_first=losses[0],
        loss_last=losses[-1],
        first_call_s=first,
    )
    result.update(stats)


def record_error(report, name, error, fallback):
    message = f"{type(error).__name__}: {error}".strip()
    report[name] = fallback
    report.setdefault("errors", {})[name] = message[:4000]
    traceback.print_exc(file=sys.stderr)


class MaybeCompiled:
    """The compiled decode function; runs `plain` (error recorded) if it fails."""

    def __init__(self, compiled, plain, name, label, report):
        self.compiled, self.plain = compiled, plain
        self.name, self.report = name, report
        report[name] = label

    def __call__(self, *args):
        if self.compiled is not None:
            try:
                return self.compiled(*args)
            except Exception as error:  # record it, run uncompiled
                record_error(self.report, self.name, error, "uncompiled (failed)")
                self.compiled = None
        return self.plain(*args)


def decode_function(args, model):
    """(compiled or plain fn(source_ids) -> (tokens, lengths), its label)."""
    from keras_seq2seq.backend.compile import compile_function

    backend, on = args.backend, bool(args.compile)
    beam = args.mode == "beam"
    if args.model == "translator":
        width = args.beam if beam else 1
        options = dict(max_length=args.tgt_len, bos_id=START, eos_id=END)
        if beam:
            plain = functools.partial(
                model.beam, beam_width=width, length_penalty=args.alpha, **options
            )
        else:
            plain = functools.partial(model.greedy, **options)

        def translate(source_ids):
            out = plain(source_ids)
            return out.tokens, out.lengths

        # make_translate_function gives jax.jit, a tf.function graph, or eager
        # torch under no_grad: the default compiled path of each backend.
        if (backend, on) in (("jax", True), ("tensorflow", False), ("torch", False)):
            made = model.make_translate_function(
                args.tgt_len, START, END, beam_width=width, length_penalty=args.alpha
            )

            def compiled(source_ids):
                out = made(source_ids)
                return out.tokens, out.lengths

            return compiled, translate, "make_translate_function"
        fn = translate
    elif args.model == "wrapper":
        fn = model.beam if beam else model.greedy
    else:
        if beam:
            raise SystemExit("keras_builtin has no beam search")
        fn = functools.partial(builtin_greedy, model, steps=args.tgt_len)

    label = compile_mode(backend, on, args.mode)
    if backend == "tensorflow":
        return compile_function(fn, jit_compile=on), fn, label
    if backend == "jax":
        if on:
            return compile_function(fn, model.variables), fn, label
        return None, fn, label
    import torch

    def no_grad(*a):
        with torch.no_grad():
            return fn(*a)

    if on:
        return torch.compile(no_grad), no_grad, label
    return None, no_grad, "eager (torch.no_grad)"


def run_decode(args, model, result, report):
    import keras
    import numpy as np

    bias = output_bias(model, args.model)
    values = keras.ops.convert_to_numpy(bias.value).copy()
    values[END] = NEVER
    bias.assign(values)
    sentences = args.sentences or (256 if args.mode == "greedy" else 64)
    if sentences % args.batch:
        raise SystemExit("--sentences must be a multiple of --batch")
    rng = np.random.default_rng(args.seed)
    sources = random_data(args, rng)[0]
    compiled, plain, label = decode_function(args, model)
    decode = MaybeCompiled(compiled, plain, args.mode, label, report)
    steps_run = []

    def decode_all():
        for i in range(sentences // args.batch):
            tokens, _ = decode(sources[i % len(sources)])
            tokens = keras.ops.convert_to_numpy(tokens)  # waits for the result
            steps_run.append(int(tokens.shape[1]))

    first, times = timed(decode_all, args.warmup, args.steps)
    stats = summary(times, sentences)
    result.update(
        sentences=sentences,
        beam_width=args.beam if args.mode == "beam" else 1,
        length_penalty_alpha=args.alpha if args.mode == "beam" else None,
        decode_steps=sorted(set(steps_run)),
        sentences_per_s=stats.pop("median"),
        sentences_per_s_min=stats.pop("min"),
        sentences_per_s_max=stats.pop("max"),
        first_call_s=first,
    )
    result.update(stats)


def run_gemm(args):
    """Square GEMM GFLOP/s with the backend's matmul, the best of
    `--gemm-reps`: float32, or bfloat16 with `--dtype-policy mixed_bfloat16`."""
    import keras
    import numpy as np

    backend = args.backend
    dtype = keras.DTypePolicy(args.dtype_policy).compute_dtype
    points = []
    for size in args.gemm_sizes:
        rng = np.random.default_rng(size)
        a = rng.standard_normal((size, size), dtype=np.float32)
        b = rng.standard_normal((size, size), dtype=np.float32)
        if backend == "jax":
            import jax

            matmul = jax.jit(lambda x, y: x @ y)
            a, b = jax.device_put(a.astype(dtype)), jax.device_put(b.astype(dtype))

            def run(matmul=matmul, a=a, b=b):
                matmul(a, b).block_until_ready()
        elif backend == "tensorflow":
            import tensorflow as tf

            a, b = tf.constant(a, dtype), tf.constant(b, dtype)

            def run(a=a, b=b):
                tf.linalg.matmul(a, b).numpy()
        else:
            import torch

            torch_dtype = getattr(torch, dtype)
            a, b = (
                torch.from_numpy(a).to(torch_dtype),
                torch.from_numpy(b).to(torch_dtype),
            )

            def run(a=a, b=b):
                torch.matmul(a, b)

        _, times = timed(run, 1, args.gemm_reps)
        flops = 2.0 * size**3
        points.append(
            {
                "size": size,
                "times_s": times,
                "gflops_best": flops / min(times) / 1e9,
                "gflops_median": flops / statistics.median(times) / 1e9,
            }
        )
    return {
        "gemm": points,
        "gemm_gflops_best": max(p["gflops_best"] for p in points),
    }


def run_scaling(args):
    """Train-step time of the translator at each value of `args.axis`."""
    import keras
    import numpy as np

    points = []
    for value in args.values:
        keras.backend.clear_session()
        point_args = argparse.Namespace(**vars(args))
        setattr(point_args, args.axis, value)
        if args.axis == "src_len":  # translation: the target grows with the source
            point_args.tgt_len = value
        model = build_translator(point_args)
        rng = np.random.default_rng(args.seed)
        start_rss = current_rss_mib()
        times, losses, tokens = fit_steps(
            model, point_args, rng, bool(args.compile), args.steps
        )
        timed_steps = times[args.warmup :]
        points.append(
            {
                args.axis: value,
                "batch": point_args.batch,
                "src_len": point_args.src_len,
                "tgt_len": point_args.tgt_len,
                "vocab": point_args.vocab,
                "median_s": statistics.median(timed_steps),
                "min_s": min(timed_steps),
                "max_s": max(timed_steps),
                "tokens_per_s": tokens / statistics.median(timed_steps),
                "first_call_s": times[0],
                "parameters": int(model.count_params()),
                "rss_before_mib": start_rss,
                "rss_after_mib": current_rss_mib(),
                "loadavg": os.getloadavg()[0],
            }
        )
        print(json.dumps(points[-1]), file=sys.stderr)
        del model
    return {"axis": args.axis, "points": points}


def build_memory_model(args):
    """(model, x, y) of one training batch for the memory-vs-vocabulary runs."""
    import keras
    import numpy as np

    from keras_seq2seq import AttentionDecoder

    rng = np.random.default_rng(args.seed)
    src = rng.integers(3, args.vocab, (args.batch, args.src_len)).astype("int32")
    tgt = rng.integers(3, args.vocab, (args.batch, args.tgt_len)).astype("int32")
    tgt_in = np.concatenate([np.full_like(tgt[:, :1], START), tgt[:, :-1]], 1)
    if args.model == "wrapper":
        return build_wrapper(args), [src, tgt_in], tgt
    # The tutorial's model: embedded source, a GRU encoder, then the decoder fed
    # the one-hot of the previous target (teacher forcing on one-hot targets).
    feedback = "full" if args.model == "attention_decoder_full" else "projected"
    source = keras.Input((args.src_len,), dtype="int32")
    shifted = keras.Input((args.tgt_len, args.vocab))
    encoded = keras.layers.GRU(args.units, return_sequences=True)(
        keras.layers.Embedding(args.vocab, args.embed)(source)
    )
    outputs = AttentionDecoder(
        args.units,
        args.vocab,
        output_activation=None,
        feedback=feedback,
        # Orthogonal initialisation of a vocab x vocab matrix takes minutes (a
        # QR); the memory is the same with glorot.
        recurrent_initializer="glorot_uniform",
    )([encoded, shifted])
    model = keras.Model([source, shifted], outputs)
    # (np.eye(vocab)[ids] would build a vocab x vocab matrix: 10 GB at 50k.)
    one_hot = np.zeros(tgt_in.shape + (args.vocab,), "float32")
    np.put_along_axis(one_hot, tgt_in[..., None], 1.0, axis=-1)
    one_hot[:, 0] = 0.0  # zeros before the first step, as in the tutorial
    return model, [src, one_hot], tgt


def run_memory(args):
    """Parameters and peak RSS of building the model and one training step."""
    import keras

    before = current_rss_mib()
    model, x, y = build_memory_model(args)
    built = current_rss_mib()
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=bool(args.compile),
    )
    start = time.perf_counter()
    loss = model.train_on_batch(x, y)
    return {
        "parameters": int(model.count_params()),
        "parameter_mib": model.count_params() * 4 / 2**20,
        "rss_before_mib": before,
        "rss_built_mib": built,
        "rss_after_mib": current_rss_mib(),
        "train_step_s": time.perf_counter() - start,
        "loss": float(loss if not isinstance(loss, list) else loss[0]),
    }


# --------------------------------------------------------------------- main


def run(args):
    import numpy as np

    report = {}
    thread_info = configure_threads(args.backend, args.threads, args.interop_threads)
    seed_everything(args.backend, args.seed)
    result = {
        "peer": args.model,
        "backend": args.backend,
        "mode": args.mode,
        "compile": int(args.compile),
        "compile_mode": compile_mode(args.backend, bool(args.compile), args.mode),
        "versions": versions(args.backend),
        "python": platform.python_version(),
        "env": {name: os.environ.get(name) for name in THREAD_ENV},
        "loadavg_start": os.getloadavg()[0],
        **thread_info,
        "batch": args.batch,
        "src_len": args.src_len,
        "tgt_len": args.tgt_len,
        "vocab": args.vocab,
        "embed": args.embed,
        "units": args.units,
        "warmup": args.warmup,
        "steps": args.steps,
        "seed": args.seed,
        "dtype_policy": args.dtype_policy,
    }
    if args.mode == "gemm":
        result.update(run_gemm(args))
    elif args.mode == "scaling":
        result.update(axis=args.axis, compile_mode=compile_mode(args.backend, True, ""))
        result.update(run_scaling(args))
    elif args.mode == "memory":
        result.update(run_memory(args))
    else:
        import keras

        keras.config.set_dtype_policy(args.dtype_policy)
        model = build_model(args)
        if args.mode == "train":
            run_train(args, model, result, report)
        else:
            run_decode(args, model, result, report)
        result["parameters"] = int(
            sum(np.prod(v.shape) for v in model.trainable_variables)
        )
    result["compiled_parts"] = {k: v for k, v in report.items() if k != "errors"}
    result["compile_errors"] = report.get("errors", {})
    result["loadavg_end"] = os.getloadavg()[0]  # 1-minute load: a noisy machine
    result["peak_rss_mib"] = peak_rss_mib()
    return result


def int_list(text):
    return [int(x) for x in text.split(",") if x]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["tensorflow", "jax", "torch"])
    parser.add_argument("--model", choices=MODELS + MEMORY_MODELS, default="translator")
    parser.add_argument(
        "--mode",
        choices=["train", "greedy", "beam", "gemm", "scaling", "memory"],
        default="train",
    )
    parser.add_argument("--compile", type=int, choices=[0, 1], default=1)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--src-len", type=int, default=12)
    parser.add_argument("--tgt-len", type=int, default=12, help="also decode steps")
    parser.add_argument("--vocab", type=int, default=5000)
    parser.add_argument("--embed", type=int, default=256)
    parser.add_argument("--units", type=int, default=512)
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--alpha", type=float, default=0.0, help="length penalty")
    parser.add_argument(
        "--sentences",
        type=int,
        default=0,
        help="sentences per timed step (default 256 greedy, 64 beam)",
    )
    parser.add_argument("--steps", type=int, default=20, help="timed steps")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="0: backend default")
    parser.add_argument("--interop-threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--dtype-policy",
        default="float32",
        choices=["float32", "mixed_bfloat16"],
        help="Keras dtype policy of the model (train, greedy, beam)",
    )
    parser.add_argument("--gemm-sizes", type=int_list, default=[1024, 2048, 4096])
    parser.add_argument("--gemm-reps", type=int, default=5)
    parser.add_argument("--axis", choices=["src_len", "batch", "vocab"])
    parser.add_argument("--values", type=int_list, default=[])
    parser.add_argument("--json", default=None, help="write the result here")
    args = parser.parse_args(argv)
    if args.warmup < 1 or args.steps < 1:
        parser.error("--warmup and --steps must be >= 1")
    if args.mode == "scaling" and not (args.axis and args.values):
        parser.error("--mode scaling needs --axis and --values")
    if args.mode == "memory" and args.model not in MEMORY_MODELS:
        parser.error(f"--mode memory takes --model in {MEMORY_MODELS}")
    if args.mode in ("train", "greedy", "beam") and args.model not in MODELS:
        parser.error(f"--mode {args.mode} takes --model in {MODELS}")
    if args.model == "keras_builtin" and args.mode == "beam":
        parser.error("keras_builtin has no beam search")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.backend:
        os.environ["KERAS_BACKEND"] = args.backend
    args.backend = os.environ.setdefault("KERAS_BACKEND", "jax")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    warnings.filterwarnings("ignore")
    result = run(args)
    result["command"] = " ".join([os.path.basename(sys.argv[0]), *sys.argv[1:]])
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as handle:
            handle.write(text + "\n")
    return result


if __name__ == "__main__":
    main()
