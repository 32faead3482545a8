"""Training speed of the translation pipeline's default model on real batches.

The model `keras-seq2seq train` builds by default (`Translator`, 13.5M
parameters with 8k SentencePiece vocabularies), compiled as `train` compiles
it, on the bucketed batches `train` feeds it from the bundled English-French
corpus. Each backend runs in its own process, rounds interleaved; the figure
is real (unpadded) target tokens per second, the median over timed steps that
cycle through real batches of the most common bucket shapes, after one
warm-up step per shape (the compile time of each shape is reported apart).
This is the measurement behind the CLI's default backend (README,
"Performance")::

    .venv/bin/python benchmarks/pipeline_step.py --backends jax,tensorflow,torch \
        --rounds 2 --json benchmarks/results/pipeline.json
"""

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time


def measure(args):
    """One backend (this process's `KERAS_BACKEND`): a dict of figures."""
    import keras
    import numpy as np

    from keras_seq2seq.backend.compile import training_jit_compile
    from keras_seq2seq.backend.glibc_malloc import keep_freed_memory
    from keras_seq2seq.optimizers import FusedAdam
    from keras_seq2seq.translate import distribute
    from keras_seq2seq.translate.batching import BucketedBatches
    from keras_seq2seq.translate.config import TrainingConfig
    from keras_seq2seq.translate.corpus import default_corpus_path, read_pairs
    from keras_seq2seq.translate.model import Translator
    from keras_seq2seq.translate.split import split_corpus
    from keras_seq2seq.translate.tokenizer import SubwordTokenizer

    defaults = TrainingConfig()

    train = split_corpus(read_pairs(args.pairs or default_corpus_path())).train
    tokenizers = [
        SubwordTokenizer.train(side, vocab_size=args.vocab_size or defaults.vocab_size)
        for side in (train.sources, train.targets)
    ]
    ids = [
        tok.encode(list(side))
        for tok, side in zip(tokenizers, (train.sources, train.targets))
    ]
    batches = BucketedBatches(
        *ids, **defaults.batching(), max_length=defaults.max_length
    )
    by_shape = {}
    for index in range(len(batches)):
        (source, _), _, _ = item = batches[index]
        by_shape.setdefault(source.shape, []).append(item)
    common = sorted(by_shape, key=lambda shape: -len(by_shape[shape]))
    shapes = common[: args.shapes]

    kept = args.malloc == "keep" and keep_freed_memory()
    keras.utils.set_random_seed(0)
    model = Translator(
        *(tok.vocab_size for tok in tokenizers),
        **defaults.model_options(),
        dtype=args.dtype_policy,
    )
    model.build()
    model.compile(
        optimizer=FusedAdam(defaults.learning_rate, clipnorm=defaults.clipnorm),
        loss=distribute.token_mean_loss(),
        jit_compile={
            "train": training_jit_compile(),
            "auto": "auto",
            "on": True,
            "off": False,
        }[args.jit],
    )
    compile_s = {}
    for shape in shapes:
        inputs, target, weight = by_shape[shape][0]
        start = time.perf_counter()
        model.train_on_batch(inputs, target, sample_weight=weight)
        compile_s[f"{shape[0]}x{shape[1]}"] = round(time.perf_counter() - start, 2)
    rates = []
    for step in range(args.steps):
        shape = shapes[step % len(shapes)]
        inputs, target, weight = by_shape[shape][1 + step // len(shapes)]
        start = time.perf_counter()
        model.train_on_batch(inputs, target, sample_weight=weight)
        rates.append(float(np.sum(weight)) / (time.perf_counter() - start))
    return {
        "backend": keras.backend.backend(),
        "jit_compile": bool(model.jit_compile),
        "dtype_policy": args.dtype_policy,
        "malloc_keeps_freed_memory": kept,
        "parameters": int(model.count_params()),
        "shapes": [f"{rows}x{length}" for rows, length in shapes],
        "first_step_s": compile_s,
        "tokens_per_s": rates,
        "median_tokens_per_s": statistics.median(rates),
        "load_average": os.getloadavg()[0],
        "versions": {"keras": keras.__version__},
    }


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="jax,tensorflow,torch")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--steps", type=int, default=12, help="timed steps")
    parser.add_argument("--shapes", type=int, default=2, help="bucket shapes used")
    parser.add_argument("--pairs", default=None, help="corpus (the bundled one)")
    parser.add_argument(
        "--vocab-size", type=int, default=None, help="SentencePiece pieces (train's)"
    )
    parser.add_argument(
        "--jit",
        choices=("train", "auto", "on", "off"),
        default="train",
        help="Keras `jit_compile` (train: what `keras-seq2seq train` passes)",
    )
    parser.add_argument(
        "--dtype-policy",
        default="float32",
        help="Keras dtype policy of the model, e.g. mixed_bfloat16",
    )
    parser.add_argument(
        "--malloc",
        choices=("keep", "default"),
        default="keep",
        help="keep: glibc's malloc keeps freed memory, as in the command line "
        "(`keep_freed_memory`); default: glibc's own settings",
    )
    parser.add_argument("--json", default=None, help="write every run here")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(measure(args)))
        return
    backends = [name for name in args.backends.split(",") if name]
    runs = []
    for round_index in range(args.rounds):
        # Rotate the order so that no backend always runs first.
        shift = round_index % len(backends)
        for backend in backends[shift:] + backends[:shift]:
            command = [sys.executable, __file__, "--worker", *_forwarded(args)]
            env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
            done = subprocess.run(
                command, env=env, capture_output=True, text=True, check=False
            )
            if done.returncode:
                raise SystemExit(f"{backend} failed:\n{done.stderr[-3000:]}")
            run = json.loads(done.stdout.strip().splitlines()[-1])
            run["round"] = round_index
            runs.append(run)
            print(
                f"round {round_index} {backend:<10} jit_compile={run['jit_compile']!s:<5} "
                f"{run['dtype_policy']} malloc keeps freed memory: "
                f"{run['malloc_keeps_freed_memory']!s:<5} "
                f"{run['median_tokens_per_s']:7,.0f} target tokens/s  first steps "
                f"{run['first_step_s']}  load {run['load_average']:.1f}",
                flush=True,
            )
    if args.json:
        path = pathlib.Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"runs": runs}, indent=1) + "\n")


def _forwarded(args):
    flags = [f"--steps={args.steps}", f"--shapes={args.shapes}", f"--jit={args.jit}"]
    flags += [f"--dtype-policy={args.dtype_policy}", f"--malloc={args.malloc}"]
    flags += [f"--pairs={args.pairs}"] if args.pairs else []
    return flags + ([f"--vocab-size={args.vocab_size}"] if args.vocab_size else [])


if __name__ == "__main__":
    main()
