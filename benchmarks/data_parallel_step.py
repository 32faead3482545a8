"""Training step time of a `Translator` under `keras.distribution.DataParallel`
over 1, 2 and 4 virtual JAX CPU devices (issue 9).

    .venv/bin/python benchmarks/data_parallel_step.py --json data_parallel_step.json

The devices are virtual (`XLA_FLAGS=--xla_force_host_platform_device_count=4`,
set here before JAX starts): they all run on the same CPU cores, so these
figures show what splitting the batch costs or saves in scheduling on one
machine, not a speed-up from more hardware. Every row trains the same model
on the same global batch (rows x length) with `fit`, compiled by JAX; "none"
is the same step without any distribution. The step time is the median
interval between consecutive `on_train_batch_end` calls after the warm-up
steps (which include compilation).
"""

import os

os.environ["KERAS_BACKEND"] = "jax"
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_seq2seq.translate.distribute import (  # noqa: E402
    GlobalBatches,
    token_mean_loss,
)
from keras_seq2seq.translate.model import Translator  # noqa: E402

FULL = dict(
    vocab=2000,
    embedding_dim=64,
    encoder_units=64,
    decoder_units=128,
    rows=64,
    length=16,
)
TINY = dict(
    vocab=40, embedding_dim=8, encoder_units=8, decoder_units=16, rows=8, length=6
)


class _SameBatch(keras.utils.PyDataset):
    def __init__(self, batch, steps):
        super().__init__()
        self.batch, self.steps = batch, steps

    def __len__(self):
        return self.steps

    def __getitem__(self, index):
        return self.batch


class _StepTimer(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.ends = []

    def on_train_batch_end(self, batch, logs=None):
        jax.block_until_ready(logs)
        self.ends.append(time.perf_counter())


def _batch(sizes, seed=0):
    rng = np.random.default_rng(seed)
    shape = (sizes["rows"], sizes["length"])
    source = rng.integers(4, sizes["vocab"], shape).astype("int32")
    decoder_input = rng.integers(4, sizes["vocab"], shape).astype("int32")
    target = rng.integers(4, sizes["vocab"], shape).astype("int32")
    weight = np.ones(shape, "float32")
    return (source, decoder_input), target, weight


def measure(settings=("none", 1, 2, 4), steps=20, warmup=3, tiny=False):
    """Returns one dict per setting ("none": no distribution, or a device
    count): rows per device, the median and fastest step time in ms, and the
    loss of the first step (the same in every setting).

    The first steps are not timed: under a distribution Keras compiles the
    step twice (the second call sees the variables with the shardings the
    first one returned)."""
    sizes = TINY if tiny else FULL
    batch = _batch(sizes)
    devices = keras.distribution.list_devices()
    rows = []
    for count in settings:
        if count != "none" and count > len(devices):
            raise ValueError(
                f"Asked for {count} devices, {len(devices)} exist. "
                f"Received: settings={settings}"
            )
        distribution = None
        if count != "none":
            distribution = keras.distribution.DataParallel(devices=devices[:count])
        keras.distribution.set_distribution(distribution)
        try:
            keras.utils.set_random_seed(0)
            model = Translator(
                sizes["vocab"],
                sizes["vocab"],
                embedding_dim=sizes["embedding_dim"],
                encoder_units=sizes["encoder_units"],
                decoder_units=sizes["decoder_units"],
                encoder_layers=1,
                dropout=0.0,
            )
            model.compile(optimizer="adam", loss=token_mean_loss())
            timer = _StepTimer()
            history = model.fit(
                GlobalBatches(_SameBatch(batch, warmup + steps)),
                epochs=1,
                shuffle=False,
                verbose=0,
                callbacks=[timer],
            )
        finally:
            keras.distribution.set_distribution(None)
        intervals = np.diff(timer.ends[warmup - 1 :]) * 1000.0
        rows.append(
            {
                "devices": count,
                "rows_per_device": sizes["rows"] // (1 if count == "none" else count),
                "step_ms": float(statistics.median(intervals)),
                "step_ms_min": float(np.min(intervals)),
                "first_loss": float(history.history["loss"][0]),
            }
        )
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--devices",
        nargs="+",
        default=["none", "1", "2", "4"],
        help='"none" (no distribution) or device counts',
    )
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--tiny", action="store_true", help="smoke-test sizes")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    settings = [d if d == "none" else int(d) for d in args.devices]
    rows = measure(settings, args.steps, args.warmup, args.tiny)
    sizes = TINY if args.tiny else FULL
    report = {
        "benchmark": "data_parallel_step",
        "backend": "jax",
        "versions": {"keras": keras.__version__, "jax": jax.__version__},
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "virtual_devices": len(keras.distribution.list_devices()),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "sizes": sizes,
        "steps": args.steps,
        "warmup": args.warmup,
        "rows": rows,
        "note": "virtual devices share the same CPU cores: not a speed-up claim",
    }
    print(
        f"global batch {sizes['rows']} x {sizes['length']}, vocab {sizes['vocab']}; "
        f"{os.cpu_count()} cores shared by {report['virtual_devices']} virtual devices"
    )
    print(
        f"{'devices':>8} {'rows/device':>12} {'step ms':>9} {'min ms':>8} {'loss':>8}"
    )
    for row in rows:
        print(
            f"{row['devices']!s:>8} {row['rows_per_device']:>12} "
            f"{row['step_ms']:>9.1f} {row['step_ms_min']:>8.1f} {row['first_loss']:>8.4f}"
        )
    if args.json:
        with open(args.json, "w") as file:
            json.dump(report, file, indent=1)


if __name__ == "__main__":
    main()
