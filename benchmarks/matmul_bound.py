"""The matmul lower bound of the reference training step (issue 8).

Times every weight matmul of one training step of the reference model (the
forward product and the two of the backward pass: the input gradient
`g @ W.T` and the weight gradient `x.T @ g`) the way the step runs it: a
recurrent layer's products as a loop over the time steps (`[batch, in] x
[in, out]` products in `keras_seq2seq.backend.decoding.scan`, the loop of
`AttentionCell.unroll`; the weight gradient summed over the steps), the others as one product over every position. The sum is the step
time if nothing but these matmuls ran, each as fast as it runs alone
("as run"). The same FLOPs as one product per matmul over all positions
give a second sum ("batched"): what a step could reach if every loop matmul
were moved out of its loop.

The attention scores and context (0.3% of the FLOPs at the reference size)
are not counted. Compiled with `keras_seq2seq.backend.compile_function`:
`jax.jit`, XLA on TensorFlow, eager torch.

    KERAS_BACKEND=jax python benchmarks/matmul_bound.py --json out.json
"""

import argparse
import importlib
import json
import os
import statistics
import sys
import time

import keras
import numpy as np
from keras import ops

from keras_seq2seq.backend.compile import compile_function
from keras_seq2seq.backend.scan import scan

KINDS = ("forward", "input_grad", "weight_grad")
SIZES = ("batch", "src_len", "tgt_len", "vocab", "embed", "units")


def step_matmuls(batch, src_len, tgt_len, vocab, embed, units):
    """(name, rows, in, out, loop steps or 0) of each weight matmul of a step.

    A loop matmul runs `rows`-row products once per step; the others one
    product of `rows` rows. The attention depth and vector size are `units`.
    """
    b, h = batch, units
    return [
        ("encoder_gru_input", b, embed, 3 * h, src_len),
        ("encoder_gru_recurrent", b, h, 3 * h, src_len),
        ("attention_keys", b * src_len, h, h, 0),
        ("decoder_gru_input", b, embed + h, 3 * h, tgt_len),
        ("decoder_gru_recurrent", b, h, 3 * h, tgt_len),
        ("attention_query", b, h, h, tgt_len),
        ("attention_layer", b, 2 * h, h, tgt_len),
        ("output_projection", b * tgt_len, h, vocab, 0),
    ]


def products(kind, steps):
    """fn(x, w, g) for one kind of product, looped over `steps` or not."""
    if kind == "forward":
        one = lambda x, w, g: ops.matmul(x, w)  # noqa: E731
    elif kind == "input_grad":
        one = lambda x, w, g: ops.matmul(g, ops.transpose(w))  # noqa: E731
    else:
        one = lambda x, w, g: ops.matmul(ops.transpose(x), g)  # noqa: E731
    if not steps:
        return one

    def looped(x, w, g):
        def step(total, xg):
            out = one(xg[0], w, xg[1])
            if kind == "weight_grad":
                return total + out, ()
            return total, out

        # The weight gradient is summed in the carry; the others are stacked.
        shape = ops.shape(w) if kind == "weight_grad" else ()
        total, outs = scan(step, ops.zeros(shape, w.dtype), (x, g))
        return total if kind == "weight_grad" else outs

    return looped


def median_seconds(fn, args, reps):
    for _ in range(2):  # compiles, then warms up
        ops.convert_to_numpy(ops.ravel(fn(*args))[:1])
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        ops.convert_to_numpy(ops.ravel(fn(*args))[:1])  # waits for the result
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(args):
    rng = np.random.default_rng(0)
    rows = []
    sizes = {name: getattr(args, name) for name in SIZES}
    for name, m, k, n, steps in step_matmuls(**sizes):
        lead = (steps,) if steps else ()
        w = ops.convert_to_tensor(rng.standard_normal((k, n), dtype="float32"))
        x = ops.convert_to_tensor(rng.standard_normal(lead + (m, k), dtype="float32"))
        g = ops.convert_to_tensor(rng.standard_normal(lead + (m, n), dtype="float32"))
        flop = 2 * (steps or 1) * m * k * n
        row = {"matmul": name, "rows": m, "in": k, "out": n, "loop_steps": steps}
        row["gflop"] = 3 * flop / 1e9
        for kind in KINDS:
            run = compile_function(products(kind, steps), jit_compile=True)
            row[f"{kind}_ms"] = 1e3 * median_seconds(run, (x, w, g), args.reps)
            if steps:  # the same FLOPs as one product over every position
                flat = [ops.reshape(t, (steps * m, -1)) for t in (x, g)]
                once = compile_function(products(kind, 0), jit_compile=True)
                seconds = median_seconds(once, (flat[0], w, flat[1]), args.reps)
                row[f"{kind}_batched_ms"] = 1e3 * seconds
        row["ms"] = sum(row[f"{kind}_ms"] for kind in KINDS)
        row["batched_ms"] = sum(
            row.get(f"{kind}_batched_ms", row[f"{kind}_ms"]) for kind in KINDS
        )
        rows.append(row)
    gflop = sum(r["gflop"] for r in rows)
    bound = sum(r["ms"] for r in rows)
    batched = sum(r["batched_ms"] for r in rows)
    backend = keras.backend.backend()
    return {
        "backend": backend,
        "versions": {
            "keras": keras.__version__,
            backend: importlib.import_module(backend).__version__,
        },
        "cpu_count": os.cpu_count(),
        "sizes": sizes,
        "reps": args.reps,
        "loadavg_start": os.getloadavg()[0],
        "matmuls": rows,
        "gflop": gflop,
        "bound_ms": bound,
        "bound_gflops": gflop / bound * 1e3,
        "batched_bound_ms": batched,
        "batched_gflops": gflop / batched * 1e3,
    }


def table(result):
    lines = [
        "| matmul | loop steps | GFLOP (3 products) | forward ms | input grad ms "
        "| weight grad ms | GFLOP/s | batched GFLOP/s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in result["matmuls"]:
        lines.append(
            f"| {r['matmul']} | {r['loop_steps'] or '-'} | {r['gflop']:.3f} "
            f"| {r['forward_ms']:.2f} | {r['input_grad_ms']:.2f} "
            f"| {r['weight_grad_ms']:.2f} | {r['gflop'] / r['ms'] * 1e3:.0f} "
            f"| {r['gflop'] / r['batched_ms'] * 1e3:.0f} |"
        )
    lines.append(
        f"\n{result['backend']}: {result['gflop']:.2f} GFLOP of weight matmuls per "
        f"step; as run {result['bound_ms']:.1f} ms ({result['bound_gflops']:.0f} "
        f"GFLOP/s), batched {result['batched_bound_ms']:.1f} ms "
        f"({result['batched_gflops']:.0f} GFLOP/s)"
    )
    return "\n".join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for flag, default in [
        ("--batch", 64),
        ("--src-len", 12),
        ("--tgt-len", 12),
        ("--vocab", 5000),
        ("--embed", 256),
        ("--units", 512),
        ("--reps", 20),
    ]:
        parser.add_argument(flag, type=int, default=default)
    parser.add_argument("--json", default=None, help="write the result here")
    args = parser.parse_args(argv)
    for name in (*SIZES, "reps"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    result = measure(args)
    result["command"] = " ".join([os.path.basename(sys.argv[0]), *sys.argv[1:]])
    print(table(result))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=2)


if __name__ == "__main__":
    main()
