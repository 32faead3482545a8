"""TensorFlow Addons peer for the seq2seq benchmarks (issues 6 and 8).

The reference workload the way a tfa user writes it (TensorFlow 2.15, Keras 2,
tensorflow-addons 0.23), run from its own environment ``.venv-tfa`` (build it
with ``bash benchmarks/peers/make_tfa_venv.sh``)::

    .venv-tfa/bin/python benchmarks/peers/tfa_seq2seq.py --mode train \
        --compile 1 --batch 64 --src-len 12 --tgt-len 12 --vocab 5000 \
        --steps 20 --warmup 3 --threads 2 --json out.json

Model: ``Embedding(5000, 256)`` and a Keras ``GRU(512, return_sequences=True,
return_state=True)`` encoder (given the source mask, so its final state is
each row's state at its last real token); the decoder cell is
``tfa.seq2seq.AttentionWrapper(tf.keras.layers.GRUCell(512),
tfa.seq2seq.BahdanauAttention(512), attention_layer_size=512)`` whose memory
is set per batch with ``setup_memory(encoder outputs,
memory_sequence_length=source lengths)`` and whose initial state is
``get_initial_state(...).clone(cell_state=encoder final state)`` (the tfa NMT
tutorial's flow); output layer ``Dense(5000)``.

- train: ``BasicDecoder`` + ``TrainingSampler`` (teacher forcing),
  ``tfa.seq2seq.sequence_loss`` with the target mask as weights (mean over the
  real target tokens), Adam; one ``tf.function`` per training step.
- greedy: ``BasicDecoder`` + ``GreedyEmbeddingSampler``.
- beam: ``BeamSearchDecoder`` (width ``--beam``, GNMT length penalty
  ``--alpha``), memory, lengths and encoder state tiled with ``tile_batch``.

``--compile 0`` runs each of these in ``tf.function``; ``--compile 1`` in
``tf.function(jit_compile=True)`` (XLA). If XLA cannot compile a part, the
error is recorded in the JSON and that part runs in a plain ``tf.function``.

As in the PyTorch peer: random ids from a fixed seed, every sequence at full
length, and for decoding the output layer's bias on the end token (id 2) is
set to -1e9 so it is never produced and both decoders run exactly
``maximum_iterations = --tgt-len`` steps (tfa has no option to disable the
end token).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import traceback
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_addons as tfa  # noqa: E402

PAD, START, END = 0, 1, 2
NEVER = -1e9
THREAD_ENV = (
    "OMP_NUM_THREADS",
    "OMP_WAIT_POLICY",
    "MKL_NUM_THREADS",
    "KMP_BLOCKTIME",
    "TF_ENABLE_ONEDNN_OPTS",
)


class TfaSeq2Seq(tf.keras.Model):
    """The reference model, as in the tfa NMT tutorial (GRU instead of LSTM)."""

    def __init__(self, src_vocab, tgt_vocab, embed, units, tgt_len, beam, alpha):
        super().__init__()
        self.src_embedding = tf.keras.layers.Embedding(src_vocab, embed)
        self.tgt_embedding = tf.keras.layers.Embedding(tgt_vocab, embed)
        self.encoder = tf.keras.layers.GRU(
            units, return_sequences=True, return_state=True
        )
        self.attention = tfa.seq2seq.BahdanauAttention(units, memory=None)
        self.cell = tfa.seq2seq.AttentionWrapper(
            tf.keras.layers.GRUCell(units), self.attention, attention_layer_size=units
        )
        self.output_layer = tf.keras.layers.Dense(tgt_vocab)
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

    def encode(self, src, src_lengths, multiplier=1):
        """Sets up the attention memory; returns the decoder's initial state."""
        # The mask makes the final state each row's state at its last real token.
        mask = tf.sequence_mask(src_lengths, tf.shape(src)[1])
        memory, state = self.encoder(self.src_embedding(src), mask=mask)
        if multiplier > 1:
            memory, state, src_lengths = (
                tfa.seq2seq.tile_batch(x, multiplier)
                for x in (memory, state, src_lengths)
            )
        self.attention.setup_memory(memory, memory_sequence_length=src_lengths)
        batch = tf.shape(src)[0] * multiplier
        initial = self.cell.get_initial_state(batch_size=batch, dtype=memory.dtype)
        return initial.clone(cell_state=state)

    def call(self, src, src_lengths, tgt_in, tgt_lengths):
        """Teacher-forced logits (B, T, vocab)."""
        initial_state = self.encode(src, src_lengths)
        outputs, _, _ = self.training_decoder(
            self.tgt_embedding(tgt_in),
            initial_state=initial_state,
            sequence_length=tgt_lengths,
        )
        return outputs.rnn_output

    def greedy(self, src, src_lengths):
        initial_state = self.encode(src, src_lengths)
        start = tf.fill([tf.shape(src)[0]], START)
        outputs, _, lengths = self.greedy_decoder(
            self.tgt_embedding.embeddings,
            start_tokens=start,
            end_token=END,
            initial_state=initial_state,
        )
        return outputs.sample_id, lengths

    def beam(self, src, src_lengths):
        initial_state = self.encode(src, src_lengths, self.beam_width)
        start = tf.fill([tf.shape(src)[0]], START)
        outputs, _, lengths = self.beam_decoder(
            self.tgt_embedding.embeddings,
            start_tokens=start,
            end_token=END,
            initial_state=initial_state,
        )
        return outputs.predicted_ids, lengths


def keras_version():
    try:
        from importlib.metadata import version

        return version("keras")
    except Exception:  # the version is informative only
        return "unknown"


def masked_loss(model, src, src_lengths, tgt_in, tgt_out, tgt_mask):
    tgt_lengths = tf.reduce_sum(tf.cast(tgt_mask, tf.int32), axis=1)
    logits = tf.cast(model(src, src_lengths, tgt_in, tgt_lengths), tf.float32)
    return tfa.seq2seq.sequence_loss(logits, tgt_out, tf.cast(tgt_mask, logits.dtype))


class MaybeJit:
    """tf.function(fn, jit_compile=jit); falls back to a plain tf.function if XLA fails."""

    def __init__(self, fn, name, jit, report):
        self.fn, self.name, self.report = fn, name, report
        self.function = tf.function(fn, jit_compile=jit)
        self.jit = jit
        report[name] = "tf.function(jit_compile=True)" if jit else "tf.function"

    def __call__(self, *args):
        if self.jit:
            try:
                return self.function(*args)
            except Exception as error:  # record it, run without XLA
                message = f"{type(error).__name__}: {error}".strip()
                self.report[self.name] = "tf.function (XLA failed)"
                self.report.setdefault("errors", {})[self.name] = message[:4000]
                traceback.print_exc(file=sys.stderr)
                self.jit = False
                self.function = tf.function(self.fn)
        return self.function(*args)


def peak_rss_mib():
    """This process's peak resident set (VmHWM; `ru_maxrss` would include the
    driver's, which Linux carries across fork and exec)."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return None


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


def run(args):
    tf.keras.utils.set_random_seed(args.seed)
    tf.keras.mixed_precision.set_global_policy(args.dtype_policy)
    rng = np.random.default_rng(args.seed)
    model = TfaSeq2Seq(
        args.vocab,
        args.vocab,
        args.embed,
        args.units,
        args.tgt_len,
        args.beam,
        args.alpha,
    )
    report = {}
    jit = bool(args.compile)

    def ids(length):
        return tf.constant(rng.integers(3, args.vocab, (args.batch, length)), tf.int32)

    sources = [ids(args.src_len) for _ in range(4)]
    source_lengths = tf.fill([args.batch], args.src_len)
    targets = [ids(args.tgt_len) for _ in range(4)]
    start = tf.fill([args.batch, 1], START)
    tgt_in = [tf.concat([start, y[:, :-1]], axis=1) for y in targets]
    tgt_mask = tf.ones([args.batch, args.tgt_len], tf.bool)
    # Build every variable eagerly once, so the compiled functions create none.
    masked_loss(model, sources[0], source_lengths, tgt_in[0], targets[0], tgt_mask)

    result = {
        "peer": "tfa",
        "mode": args.mode,
        "compile": int(jit),
        "compile_mode": "tf.function(jit_compile=True)" if jit else "tf.function",
        "tensorflow_version": tf.__version__,
        "tfa_version": tfa.__version__,
        "keras_version": keras_version(),
        "python": platform.python_version(),
        "versions": {
            "tensorflow": tf.__version__,
            "tensorflow_addons": tfa.__version__,
            "keras": keras_version(),
            "python": platform.python_version(),
        },
        "env": {name: os.environ.get(name) for name in THREAD_ENV},
        "loadavg_start": os.getloadavg()[0],
        "threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "interop_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        "batch": args.batch,
        "src_len": args.src_len,
        "tgt_len": args.tgt_len,
        "vocab": args.vocab,
        "embed": args.embed,
        "units": args.units,
        "parameters": int(sum(np.prod(v.shape) for v in model.trainable_variables)),
        "warmup": args.warmup,
        "steps": args.steps,
        "seed": args.seed,
        "dtype_policy": args.dtype_policy,
    }

    if args.mode == "train":
        optimizer = tf.keras.optimizers.Adam(learning_rate=1e-3)
        optimizer.build(model.trainable_variables)

        def train_step(src, src_lengths, tgt_in, tgt_out, tgt_mask):
            with tf.GradientTape() as tape:
                loss = masked_loss(model, src, src_lengths, tgt_in, tgt_out, tgt_mask)
            variables = model.trainable_variables
            gradients = tape.gradient(loss, variables)
            optimizer.apply_gradients(zip(gradients, variables))
            return loss

        step = MaybeJit(train_step, "train_step", jit, report)
        losses, counter = [], [0]

        def one_step():
            i = counter[0] % len(sources)
            counter[0] += 1
            loss = step(sources[i], source_lengths, tgt_in[i], targets[i], tgt_mask)
            losses.append(float(loss))

        first, times = timed(one_step, args.warmup, args.steps)
        tokens = int(tf.reduce_sum(tf.cast(tgt_mask, tf.int32)))
        stats = summary(times, tokens)
        result.update(
            tokens_per_step=tokens,
            tokens_per_s=stats.pop("median"),
            tokens_per_s_min=stats.pop("min"),
            tokens_per_s_max=stats.pop("max"),
            loss_first=losses[0],
            loss_last=losses[-1],
        )
    else:
        bias = model.output_layer.bias
        bias.assign(tf.tensor_scatter_nd_update(bias, [[END]], [NEVER]))
        sentences = args.sentences or (256 if args.mode == "greedy" else 64)
        if sentences % args.batch:
            raise SystemExit("--sentences must be a multiple of --batch")
        fn = model.greedy if args.mode == "greedy" else model.beam
        decode = MaybeJit(fn, args.mode, jit, report)
        steps_run = []

        def decode_all():
            for i in range(sentences // args.batch):
                ids, _ = decode(sources[i % len(sources)], source_lengths)
                steps_run.append(int(ids.numpy().shape[1]))

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
        )
    result.update(stats)
    result["first_call_s"] = first  # includes tracing (and XLA compilation)
    result["compiled_parts"] = {k: v for k, v in report.items() if k != "errors"}
    result["compile_errors"] = report.get("errors", {})
    result["loadavg_end"] = os.getloadavg()[0]  # 1-minute load: a noisy machine
    result["peak_rss_mib"] = peak_rss_mib()
    return result


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=["train", "greedy", "beam"], default="train")
    parser.add_argument("--compile", type=int, choices=[0, 1], default=0)
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
    parser.add_argument("--threads", type=int, default=0, help="0: TF default")
    parser.add_argument("--interop-threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--dtype-policy",
        default="float32",
        choices=["float32", "mixed_bfloat16"],
        help="Keras 2 global dtype policy (mixed_bfloat16: bfloat16 compute)",
    )
    parser.add_argument("--json", default=None, help="write the result here")
    args = parser.parse_args(argv)
    if args.warmup < 1 or args.steps < 1:
        parser.error("--warmup and --steps must be >= 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    if args.interop_threads:
        tf.config.threading.set_inter_op_parallelism_threads(args.interop_threads)
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
