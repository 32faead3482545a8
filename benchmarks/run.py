"""The seq2seq benchmark driver (issues 6 and 8): every peer, one command.

Runs each peer / backend / compile mode / benchmark mode in its own process,
interleaved across peers for ``--rounds`` rounds (the machine is shared and
noisy: only ratios within one run mean anything), with the thread pools of
every process pinned by environment variables (recorded). Then it measures
this machine's float32 GEMM throughput with each backend's matmul, scales the
training step of ours on the fastest backend with the source length, the batch
and the vocabulary, measures memory against the vocabulary for
``AttentionDecoder`` and ``AttentionWrapper``, prints a table and writes JSON,
a Markdown table and PNG plots into ``--out-dir``::

    .venv/bin/python benchmarks/run.py --rounds 3            # the reference run
    .venv/bin/python benchmarks/run.py --quick               # a smoke run (seconds)
    .venv/bin/python benchmarks/run.py --configs \\
        tfa:tensorflow:0,torch:torch:0,translator:jax:1 --modes train

Peers (``--configs``: comma-separated ``peer:backend:compile``, each
optionally followed by ``:bf16`` for the ``mixed_bfloat16`` dtype policy, or
a preset: ``standard`` (default) or ``all``):

- ``tfa``: ``benchmarks/peers/tfa_seq2seq.py`` in ``.venv-tfa`` (TensorFlow
  2.15, tensorflow-addons 0.23); compile 0 = ``tf.function``, 1 = XLA.
- ``torch``: ``benchmarks/peers/torch_seq2seq.py``, plain PyTorch; 0 = eager,
  1 = ``torch.compile``.
- ``translator``, ``wrapper``, ``keras_builtin``:
  ``benchmarks/workers/keras_worker.py`` on the Keras backend named (ours:
  the translation model and the tfa namespace; the Keras 3 built-ins).

Every peer trains and decodes the same reference model (vocabulary 5000,
embedding 256, GRU-512 encoder, GRU-512 decoder with Bahdanau attention and
input feeding; the built-ins have no input feeding), batch 64, source and
target length 12, with the end token's output bias at -1e9 so every decoder
runs exactly 12 steps.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from keras_seq2seq.backend import glibc_malloc

ROOT = Path(__file__).resolve().parents[1]
PEERS = ROOT / "benchmarks" / "peers"
WORKER = ROOT / "benchmarks" / "workers" / "keras_worker.py"
TFA_PYTHON = ROOT / ".venv-tfa" / "bin" / "python"
KERAS_MODELS = ("translator", "wrapper", "keras_builtin")
KERAS_BACKENDS = ("jax", "tensorflow", "torch")
MODES = ("train", "greedy", "beam")
PRESETS = {
    "standard": (
        "tfa:tensorflow:0,torch:torch:0,torch:torch:1,"
        "translator:jax:1,translator:tensorflow:0,translator:tensorflow:1,"
        "translator:torch:0,wrapper:jax:1,keras_builtin:jax:1"
    ),
    "all": ",".join(
        ["tfa:tensorflow:0", "tfa:tensorflow:1", "torch:torch:0", "torch:torch:1"]
        + [
            f"{model}:{backend}:{flag}"
            for model in KERAS_MODELS
            for backend, flag in (
                ("jax", 1),
                ("tensorflow", 0),
                ("tensorflow", 1),
                ("torch", 0),
                ("torch", 1),
            )
        ]
    ),
}
MEMORY_MODELS = ("attention_decoder_full", "attention_decoder_projected", "wrapper")


# -------------------------------------------------------------- FLOP count


def train_flops(
    batch=64,
    src_len=12,
    tgt_len=12,
    vocab=5000,
    embed=256,
    units=512,
    input_feeding=True,
    attention_projections=True,
):
    """Analytic FLOPs of one training step, by part (a multiply-add is 2 FLOPs).

    Forward, per part (B batch, S source and T target length, V vocabulary,
    E embedding, H units; attention depth and attention-vector size = H):

    - encoder GRU: B*S * 3 gates * 2 * (E + H) * H (input and recurrent matmuls);
    - attention keys (memory layer, once per sequence): B*S * 2*H*H;
    - decoder GRU cell: B*T * 3 * 2 * (E + H + H) * H (input feeding: the
      previous attention vector is concatenated to the embedding);
    - attention query layer: B*T * 2*H*H;
    - scores ``v . tanh(keys + query)``: B*T*S * 4*H (add, tanh, multiply-add);
    - context ``alignments @ memory``: B*T*S * 2*H;
    - attention layer ``W [h; context]``: B*T * 2 * 2H * H;
    - output projection: B*T * 2*H*V.

    Backward is counted as twice the forward (gradients for the inputs and
    for the weights), so a step is 3x the forward. Element-wise work (gate
    nonlinearities, softmax, loss, Adam) is not counted: it is small beside
    the matmuls. ``input_feeding=False, attention_projections=False`` gives
    the Keras built-ins' model (decoder GRU over the embeddings only;
    ``AdditiveAttention`` has no query/key layers; output from ``[h; context]``).
    """
    b, s, t, v, e, h = batch, src_len, tgt_len, vocab, embed, units
    parts = {
        "encoder_gru": b * s * 3 * 2 * (e + h) * h,
        "attention_keys": b * s * 2 * h * h if attention_projections else 0,
        "decoder_gru_cell": b * t * 3 * 2 * (e + (h if input_feeding else 0) + h) * h,
        "attention_query": b * t * 2 * h * h if attention_projections else 0,
        "attention_scores": b * t * s * 4 * h,
        "attention_context": b * t * s * 2 * h,
        "attention_layer": b * t * 2 * 2 * h * h if input_feeding else 0,
        "output_projection": b * t * 2 * (h if input_feeding else 2 * h) * v,
    }
    forward = sum(parts.values())
    return {"forward_parts": parts, "forward": forward, "train_step": 3 * forward}


ENCODER_PARTS = ("encoder_gru", "attention_keys")


def decode_flops(beam=1, **sizes):
    """Analytic FLOPs of decoding one sentence for `tgt_len` steps: the
    forward of `train_flops` at batch 1, the decoder's parts once per beam
    (the encoder and the keys once per sentence)."""
    parts = train_flops(**{**sizes, "batch": 1})["forward_parts"]
    return sum(
        flops if name in ENCODER_PARTS else beam * flops
        for name, flops in parts.items()
    )


def peer_flops(peer, sizes):
    builtin = peer == "keras_builtin"
    return train_flops(
        sizes["batch"],
        sizes["src_len"],
        sizes["tgt_len"],
        sizes["vocab"],
        sizes["embed"],
        sizes["units"],
        input_feeding=not builtin,
        attention_projections=not builtin,
    )["train_step"]


def gru_parameters(inputs, units):
    """Keras GRU (reset_after=True): kernel, recurrent kernel, two biases."""
    return 3 * (inputs * units + units * units + 2 * units)


def memory_model_parameters(model, vocab, embed, units):
    """Parameters of the memory-vs-vocabulary models (`keras_worker --mode memory`)."""
    u, v, e = units, vocab, embed
    if model == "wrapper":  # tfa-style model: attention depth and size = units
        return (
            2 * v * e
            + gru_parameters(e, u)
            + gru_parameters(e + u, u)
            + 2 * u * u
            + u  # memory and query layers, v
            + 2 * u * u  # attention layer [h; context] -> u
            + u * v
            + v  # output layer
        )
    fed = v if model == "attention_decoder_full" else u
    decoder = (
        u
        + u * u
        + u * u
        + u  # V_a, W_a, U_a, b_a (input depth = units)
        + 3 * (u * u + u * u + fed * u + u)  # C, U, W, b of r, z, p
        + u * v
        + u * v
        + fed * v
        + v  # C_o, U_o, W_o, b_o
        + u * u  # W_s
        + (v * u if model == "attention_decoder_projected" else 0)  # W_y
    )
    return v * e + gru_parameters(e, u) + decoder


# ------------------------------------------------------------ configurations


def parse_configs(text):
    """`peer:backend:compile[:bf16]` items (or a preset name) -> list of dicts;
    `:bf16` runs the config under the `mixed_bfloat16` dtype policy (Keras'
    policy for ours and tfa, `torch.autocast` for the torch peer)."""
    text = PRESETS.get(text, text)
    configs = []
    for item in text.split(","):
        peer, backend, flag, *precision = item.strip().split(":")
        if peer == "tfa" and backend != "tensorflow":
            raise ValueError(f"tfa runs on tensorflow only: {item}")
        if peer == "torch" and backend != "torch":
            raise ValueError(f"the torch peer runs on torch only: {item}")
        if peer in KERAS_MODELS and backend not in KERAS_BACKENDS:
            raise ValueError(f"unknown backend in {item}")
        if peer not in KERAS_MODELS + ("tfa", "torch"):
            raise ValueError(f"unknown peer in {item}")
        if precision not in ([], ["bf16"]):
            raise ValueError(f"the 4th field can only be bf16: {item}")
        configs.append(
            {
                "peer": peer,
                "backend": backend,
                "compile": int(flag),
                "dtype_policy": "mixed_bfloat16" if precision else "float32",
            }
        )
    return configs


def config_key(config):
    key = f"{config['peer']}:{config['backend']}:{config['compile']}"
    return key + (":bf16" if config["dtype_policy"] == "mixed_bfloat16" else "")


def supports(config, mode):
    return not (config["peer"] == "keras_builtin" and mode == "beam")


def process_env(threads, malloc="keep"):
    """Environment variables of every worker: every library's thread pools
    pinned and, with `malloc="keep"`, glibc's malloc keeping freed memory
    (`keras_seq2seq.backend.glibc_malloc.ENVIRONMENT`, what the command line
    sets for itself), for ours and the peers alike."""
    env = {
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "OPENBLAS_NUM_THREADS": str(threads),
        "TF_NUM_INTRAOP_THREADS": str(threads),
        "TF_NUM_INTEROP_THREADS": "1",
        # Spin-waiting OpenMP threads collapse on an oversubscribed machine.
        "OMP_WAIT_POLICY": "PASSIVE",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    if threads == 1:  # XLA:CPU has no knob between 1 and one thread per core
        env["XLA_FLAGS"] = (
            "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        )
    if malloc == "keep":
        env.update(glibc_malloc.ENVIRONMENT)
    return env


def sizes_from(args):
    return {
        "batch": args.batch,
        "src_len": args.src_len,
        "tgt_len": args.tgt_len,
        "vocab": args.vocab,
        "embed": args.embed,
        "units": args.units,
    }


def size_flags(args):
    return [
        f"--batch={args.batch}",
        f"--src-len={args.src_len}",
        f"--tgt-len={args.tgt_len}",
        f"--vocab={args.vocab}",
        f"--embed={args.embed}",
        f"--units={args.units}",
        f"--threads={args.threads}",
        "--interop-threads=1",
        f"--seed={args.seed}",
    ]


def mode_flags(args, mode):
    if mode == "train":
        return ["--mode=train", f"--steps={args.steps}", f"--warmup={args.warmup}"]
    sentences = args.greedy_sentences if mode == "greedy" else args.beam_sentences
    return [
        f"--mode={mode}",
        f"--steps={args.decode_steps}",
        f"--warmup={args.decode_warmup}",
        f"--sentences={sentences}",
        f"--beam={args.beam}",
        f"--alpha={args.alpha}",
    ]


def worker_command(backend, *flags):
    """The command line of one Keras worker process on `backend`."""
    return [sys.executable, str(WORKER), f"--backend={backend}", *flags]


def command_for(config, mode, args, json_path):
    peer = config["peer"]
    flags = size_flags(args) + mode_flags(args, mode)
    flags += [
        f"--compile={config['compile']}",
        f"--dtype-policy={config['dtype_policy']}",
        f"--json={json_path}",
    ]
    if peer == "tfa":
        return [str(args.tfa_python), str(PEERS / "tfa_seq2seq.py"), *flags]
    if peer == "torch":
        return [sys.executable, str(PEERS / "torch_seq2seq.py"), *flags]
    return worker_command(config["backend"], f"--model={peer}", *flags)


def run_process(command, env_extra, json_path, timeout, backend=None, log=None):
    """Runs one worker; returns its JSON result, or a failure record."""
    env = {**os.environ, **env_extra}
    if backend:
        env["KERAS_BACKEND"] = backend
    start = time.perf_counter()
    try:
        completed = subprocess.run(
            command,
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        returncode, stderr = completed.returncode, completed.stderr
    except subprocess.TimeoutExpired as error:
        returncode = "timeout"
        stderr = (error.stderr or b"").decode(errors="replace")
    wall = time.perf_counter() - start
    if returncode == 0 and Path(json_path).exists():
        result = json.loads(Path(json_path).read_text())
    else:
        result = {"failed": True, "returncode": returncode, "stderr": stderr[-3000:]}
    result["wall_s"] = wall
    if log:
        status = "ok" if not result.get("failed") else f"FAILED ({returncode})"
        log(f"    {status} in {wall:.1f} s")
    return result


# ---------------------------------------------------------------- aggregate


def throughput_key(mode):
    return "tokens_per_s" if mode == "train" else "sentences_per_s"


def summarize(results, configs, modes):
    """Per config and mode: min/median/max over rounds of each round's median."""
    rows = {}
    for config in configs:
        key = config_key(config)
        row = {**config, "modes": {}, "peak_rss_mib": None, "versions": None}
        for mode in modes:
            runs = [
                r
                for r in results
                if r["config"] == key and r["mode"] == mode and not r.get("failed")
            ]
            failures = [r for r in results if r["config"] == key and r["mode"] == mode]
            if not runs:
                if failures:
                    row["modes"][mode] = {"failed": len(failures)}
                continue
            values = [r[throughput_key(mode)] for r in runs]
            row["modes"][mode] = {
                "per_round": values,
                "median": statistics.median(values),
                "min": min(values),
                "max": max(values),
                "median_step_s": statistics.median(r["median_s"] for r in runs),
                "peak_rss_mib": max(r["peak_rss_mib"] for r in runs),
                "compile_errors": [r.get("compile_errors") for r in runs],
                "failed_rounds": len(failures) - len(runs),
            }
            rss = row["modes"][mode]["peak_rss_mib"]
            row["peak_rss_mib"] = max(row["peak_rss_mib"] or 0, rss)
            row["versions"] = runs[0].get("versions")
            row["compile_mode"] = runs[0].get("compile_mode")
        rows[key] = row
    return rows


def best_config(rows, peer, mode, dtype_policy="float32"):
    """The config of `peer` with the highest median throughput in `mode`,
    among its configs under `dtype_policy`."""
    candidates = [
        (row["modes"][mode]["median"], key)
        for key, row in rows.items()
        if row["peer"] == peer
        and row["dtype_policy"] == dtype_policy
        and "median" in row["modes"].get(mode, {})
    ]
    return max(candidates)[1] if candidates else None


def paired_ratios(results, key, reference, mode):
    """Median over rounds of (this config / reference) within each round."""
    by_round = {}
    for r in results:
        if r["mode"] == mode and not r.get("failed"):
            by_round.setdefault(r["round"], {})[r["config"]] = r[throughput_key(mode)]
    ratios = [
        found[key] / found[reference]
        for found in by_round.values()
        if key in found and reference in found
    ]
    return statistics.median(ratios) if ratios else None


def add_ratios(rows, results, modes):
    """Each row's paired ratios to the fastest float32 config of tfa and of
    the torch peer (`ratios`, the issue's references) and, under bfloat16, to
    their fastest bfloat16 config (`ratios_same_policy`)."""
    references = {}
    for mode in modes:
        for peer in ("tfa", "torch"):
            for policy, suffix in (("float32", ""), ("mixed_bfloat16", ":bf16")):
                best = best_config(rows, peer, mode, policy)
                if best:
                    references[f"{peer}:{mode}{suffix}"] = best
    for key, row in rows.items():
        row["ratios"], row["ratios_same_policy"] = {}, {}
        suffixes = {"ratios": ""}
        if row["dtype_policy"] == "mixed_bfloat16":
            suffixes["ratios_same_policy"] = ":bf16"
        for mode, found in row["modes"].items():
            if "median" not in found:
                continue
            for peer in ("tfa", "torch"):
                for name, suffix in suffixes.items():
                    reference = references.get(f"{peer}:{mode}{suffix}")
                    if reference:
                        row[name][f"{mode}_vs_{peer}"] = paired_ratios(
                            results, key, reference, mode
                        )
    return references


def add_flop_efficiency(rows, sizes, gemm_peaks):
    """GFLOP/s of each row's training step and its fraction of the GEMM peak
    of its dtype policy (`gemm_peaks`: policy -> GFLOP/s)."""
    for row in rows.values():
        train = row["modes"].get("train", {})
        if "median_step_s" not in train:
            continue
        flops = peer_flops(row["peer"], sizes)
        train["flops_per_step"] = flops
        train["gflops_per_s"] = flops / train["median_step_s"] / 1e9
        peak = gemm_peaks.get(row["dtype_policy"])
        if peak:
            train["flop_efficiency"] = train["gflops_per_s"] / peak


def add_decode_gflops(rows, decode_flops_per_sentence):
    """Analytic GFLOP/s of each row's greedy and beam decoding (sentences/s
    x FLOPs per sentence; the built-ins' model is smaller, so not theirs)."""
    for row in rows.values():
        for mode, flops in decode_flops_per_sentence.items():
            found = row["modes"].get(mode, {})
            if "median" in found and row["peer"] != "keras_builtin":
                found["gflops_per_s"] = found["median"] * flops / 1e9


# ------------------------------------------------------------------ output


def versions_text(versions):
    if not versions:
        return ""
    order = ("tensorflow", "tensorflow_addons", "keras", "jax", "torch")
    return " ".join(f"{name} {versions[name]}" for name in order if name in versions)


def fmt(value, digits=0):
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def mode_cell(modes, mode):
    found = modes.get(mode)
    if found is None:
        return "n/a"
    if "median" not in found:
        return "failed"
    return fmt(found["median"], 1)


def ratio_cell(ratios, mode, peer):
    value = ratios.get(f"{mode}_vs_{peer}")
    return "-" if value is None else f"{value:.2f}"


def table_rows(rows):
    lines = []
    for row in rows.values():
        if not row["modes"]:  # not run (e.g. --modes "" for the scaling only)
            continue
        modes, ratios = row["modes"], row.get("ratios", {})
        same = row.get("ratios_same_policy", {})
        train = modes.get("train", {})
        if "median" in train:
            train_cell = " / ".join(fmt(train[k]) for k in ("min", "median", "max"))
        else:
            train_cell = "failed" if train else "n/a"
        efficiency = train.get("flop_efficiency")
        lines.append(
            [
                row["peer"],
                row["backend"],
                row.get("compile_mode") or str(row["compile"]),
                row["dtype_policy"],
                train_cell,
                "-" if efficiency is None else f"{100 * efficiency:.1f}",
                mode_cell(modes, "greedy"),
                mode_cell(modes, "beam"),
                fmt(row["peak_rss_mib"]),
                " / ".join(ratio_cell(ratios, m, "tfa") for m in MODES),
                " / ".join(ratio_cell(ratios, m, "torch") for m in MODES),
                " / ".join(ratio_cell(same, m, "tfa") for m in MODES) if same else "-",
                versions_text(row["versions"]),
            ]
        )
    return lines


HEADER = [
    "peer",
    "backend",
    "compile mode",
    "dtype policy",
    "train tokens/s min / median / max",
    "% GEMM peak",
    "greedy sent/s",
    "beam-5 sent/s",
    "peak RSS MiB",
    "x tfa (train / greedy / beam)",
    "x torch peer (train / greedy / beam)",
    "x bfloat16 tfa (train / greedy / beam)",
    "versions",
]


def text_table(rows):
    lines = [HEADER] + table_rows(rows)
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(HEADER))]
    out = []
    for number, line in enumerate(lines):
        out.append("  ".join(str(c).ljust(w) for c, w in zip(line, widths)).rstrip())
        if number == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def markdown_table(rows):
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for line in table_rows(rows):
        lines.append("| " + " | ".join(str(c) for c in line) + " |")
    return "\n".join(lines)


def machine_info():
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return {
        "cpu_model": model,
        "cpu_count": os.cpu_count(),
        "memory_gib": memory,
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


# ------------------------------------------------------------------- plots


def plot_scaling(scaling, sizes, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    axes_found = [a for a in ("src_len", "batch", "vocab") if a in scaling]
    if not axes_found:
        return None
    figure, axes = plt.subplots(1, len(axes_found), figsize=(5 * len(axes_found), 4))
    axes = axes if len(axes_found) > 1 else [axes]
    labels = {"src_len": "source length", "batch": "batch", "vocab": "vocabulary"}
    for ax, axis in zip(axes, axes_found):
        points = [p for p in scaling[axis]["points"]]
        xs = [p[axis] for p in points]
        median = [1000 * p["median_s"] for p in points]
        low = [1000 * (p["median_s"] - p["min_s"]) for p in points]
        high = [1000 * (p["max_s"] - p["median_s"]) for p in points]
        ax.errorbar(
            xs, median, yerr=[low, high], marker="o", capsize=3, label="measured"
        )
        # What the step would take if time followed the FLOP count from the
        # reference point (or the first point).
        anchor = next((p for p in points if p[axis] == sizes[axis]), points[0])
        base = train_flops(
            anchor["batch"],
            anchor["src_len"],
            anchor["src_len"],
            anchor["vocab"],
            sizes["embed"],
            sizes["units"],
        )["train_step"]
        predicted = [
            1000
            * anchor["median_s"]
            * train_flops(
                p["batch"],
                p["src_len"],
                p["src_len"],
                p["vocab"],
                sizes["embed"],
                sizes["units"],
            )["train_step"]
            / base
            for p in points
        ]
        ax.plot(xs, predicted, "--", color="gray", label="proportional to FLOPs")
        ax.set_xscale("log", base=2 if axis != "vocab" else 10)
        ax.set_yscale("log")
        ax.set_xlabel(labels[axis])
        ax.set_ylabel("train step (ms)")
        ax.set_title(f"step time vs {labels[axis]}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    backend = next(iter(scaling.values()))["config"]
    figure.suptitle(f"keras-seq2seq Translator training step ({backend})")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return str(path)


def plot_memory(memory, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not memory:
        return None
    figure, ax = plt.subplots(figsize=(6.5, 4.5))
    names = {
        "attention_decoder_full": "AttentionDecoder (original, full feedback)",
        "attention_decoder_projected": 'AttentionDecoder(feedback="projected")',
        "wrapper": "AttentionWrapper model (tfa namespace)",
    }
    for number, model in enumerate(MEMORY_MODELS):
        points = [p for p in memory if p["model"] == model]
        if not points:
            continue
        color = f"C{number}"
        xs = [p["vocab"] for p in points]
        weights = [p["analytic_parameters"] * 4 / 2**20 for p in points]
        ax.plot(xs, weights, "--", color=color, label=f"{names[model]}: weights")
        measured = [p for p in points if p.get("measured")]
        if measured:
            ax.plot(
                [p["vocab"] for p in measured],
                [p["training_rss_mib"] for p in measured],
                "o-",
                color=color,
                label=f"{names[model]}: training RSS",
            )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("vocabulary (output_dim)")
    ax.set_ylabel("MiB")
    ax.set_title("memory vs vocabulary (weights; RSS of one training step)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return str(path)


# -------------------------------------------------------------------- main


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", default="standard", help="preset or list")
    parser.add_argument(
        "--modes", default="train,greedy,beam", help='"" runs no peer (scaling only)'
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="tiny smoke sizes")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--src-len", type=int, default=12)
    parser.add_argument("--tgt-len", type=int, default=12)
    parser.add_argument("--vocab", type=int, default=5000)
    parser.add_argument("--embed", type=int, default=256)
    parser.add_argument("--units", type=int, default=512)
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--alpha", type=float, default=0.0)
    parser.add_argument("--greedy-sentences", type=int, default=256)
    parser.add_argument("--beam-sentences", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20, help="timed train steps")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--decode-steps", type=int, default=5, help="timed decodes")
    parser.add_argument("--decode-warmup", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gemm", type=int, choices=[0, 1], default=1)
    parser.add_argument("--gemm-sizes", default="1024,2048,4096")
    parser.add_argument("--scaling", type=int, choices=[0, 1], default=1)
    parser.add_argument(
        "--scaling-config",
        default=None,
        help="translator:backend:compile for the scaling and memory runs "
        "(default: the translator's fastest training config in this run)",
    )
    parser.add_argument("--scaling-src-len", default="8,16,32,64,128")
    parser.add_argument("--scaling-batch", default="16,32,64,128,256")
    parser.add_argument("--scaling-vocab", default="1000,5000,10000,20000,50000")
    parser.add_argument("--scaling-steps", type=int, default=5)
    parser.add_argument("--memory", type=int, choices=[0, 1], default=1)
    parser.add_argument("--memory-vocab", default="1000,2000,5000,10000,20000,50000")
    parser.add_argument("--memory-units", type=int, default=512)
    parser.add_argument("--memory-batch", type=int, default=16)
    parser.add_argument(
        "--memory-cap-gib",
        type=float,
        default=4.0,
        help="skip measuring points whose weights, gradients and Adam state "
        "(4x the weights) would exceed this; their weights are still plotted",
    )
    parser.add_argument(
        "--malloc",
        choices=("keep", "default"),
        default="keep",
        help="keep: glibc's malloc keeps freed memory in every worker (as the "
        "command line does); default: glibc's own settings",
    )
    parser.add_argument("--timeout", type=int, default=900, help="per process, s")
    parser.add_argument("--tfa-python", default=str(TFA_PYTHON))
    parser.add_argument("--out-dir", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument("--name", default=None, help="file stem of the outputs")
    args = parser.parse_args(argv)
    if args.quick:
        quick = dict(
            batch=4,
            src_len=5,
            tgt_len=6,
            vocab=50,
            embed=8,
            units=16,
            greedy_sentences=8,
            beam_sentences=8,
            steps=2,
            warmup=1,
            decode_steps=2,
            gemm_sizes="64,128",
            scaling_src_len="4,8",
            scaling_batch="2,4",
            scaling_vocab="50,100",
            scaling_steps=2,
            memory_vocab="50,100",
            memory_units=16,
            memory_batch=2,
        )
        for name, value in quick.items():
            if getattr(args, name) == parser.get_default(name):
                setattr(args, name, value)
    if args.rounds < 1:
        parser.error("--rounds must be >= 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    configs = parse_configs(args.configs)
    modes = [m for m in args.modes.split(",") if m]
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    name = args.name or ("quick-" if args.quick else "run-") + stamp
    scratch = out_dir / f".{name}-workers"
    scratch.mkdir(exist_ok=True)
    env = process_env(args.threads, args.malloc)
    sizes = sizes_from(args)
    started = time.perf_counter()

    def log(message):
        print(message, file=sys.stderr, flush=True)

    if any(c["peer"] == "tfa" for c in configs) and not Path(args.tfa_python).exists():
        log(
            f"skipping tfa: {args.tfa_python} is missing (bash {PEERS}/make_tfa_venv.sh)"
        )
        configs = [c for c in configs if c["peer"] != "tfa"]
    report = {
        "name": name,
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "machine": machine_info(),
        "loadavg_start": os.getloadavg(),
        "process_env": env,
        "threads": args.threads,
        "sizes": sizes,
        "rounds": args.rounds,
        "modes": modes,
        "configs": [config_key(c) for c in configs],
        "settings": {
            k: v for k, v in vars(args).items() if k not in ("out_dir", "tfa_python")
        },
        "flops": train_flops(**sizes),
        "flops_keras_builtin": train_flops(
            **sizes, input_feeding=False, attention_projections=False
        ),
        "decode_flops_per_sentence": {
            "greedy": decode_flops(**sizes),
            "beam": decode_flops(beam=args.beam, **sizes),
        },
    }

    # GEMM throughput, once per Keras backend (each in its own process), and
    # in bfloat16 too when a config runs under mixed_bfloat16.
    policies = sorted({c["dtype_policy"] for c in configs} | {"float32"})
    gemm, peaks = {}, {}
    if args.gemm:
        backends = sorted({c["backend"] for c in configs} | {"jax", "torch"})
        for policy in policies:
            for backend in backends:
                suffix = "" if policy == "float32" else "-bf16"
                log(f"gemm on {backend}{suffix}")
                path = scratch / f"gemm-{backend}{suffix}.json"
                command = worker_command(
                    backend,
                    "--mode=gemm",
                    f"--gemm-sizes={args.gemm_sizes}",
                    f"--threads={args.threads}",
                    f"--dtype-policy={policy}",
                    f"--json={path}",
                )
                found = run_process(command, env, path, args.timeout, backend, log)
                gemm[backend + suffix] = found
                if not found.get("failed"):
                    peaks.setdefault(policy, {})[backend] = found["gemm_gflops_best"]
    report["gemm"] = gemm
    best = {policy: max(found, key=found.get) for policy, found in peaks.items()}
    report["gemm_peak_backend"] = best.get("float32")
    report["gemm_peak_gflops"] = peaks.get("float32", {}).get(best.get("float32"))
    report["gemm_peaks"] = {  # per dtype policy: the fastest backend's GFLOP/s
        policy: peaks[policy][backend] for policy, backend in best.items()
    }

    # Interleaved rounds: every config once per mode per round, the order
    # rotated from round to round so no peer always runs first.
    results = []
    for round_number in range(args.rounds):
        shift = round_number % len(configs)
        order = configs[shift:] + configs[:shift]
        for mode in modes:
            for config in order:
                if not supports(config, mode):
                    continue
                key = config_key(config)
                log(f"round {round_number + 1}/{args.rounds} {mode:6s} {key}")
                path = scratch / f"{key.replace(':', '-')}-{mode}-{round_number}.json"
                command = command_for(config, mode, args, path)
                backend = config["backend"] if config["peer"] in KERAS_MODELS else None
                result = run_process(command, env, path, args.timeout, backend, log)
                result.update(config=key, mode=mode, round=round_number)
                results.append(result)

    rows = summarize(results, configs, modes)
    report["references"] = add_ratios(rows, results, modes)
    add_flop_efficiency(rows, sizes, report["gemm_peaks"])
    add_decode_gflops(rows, report["decode_flops_per_sentence"])
    report["rows"] = rows

    # Scaling of ours on the fastest backend (the translator's best training).
    fastest = args.scaling_config or best_config(rows, "translator", "train")
    report["scaling_config"] = fastest
    scaling = {}
    if args.scaling and fastest:
        _, backend, flag = fastest.split(":")
        for axis in ("src_len", "batch", "vocab"):
            values = getattr(args, f"scaling_{axis}")
            log(f"scaling {axis} on {fastest}: {values}")
            path = scratch / f"scaling-{axis}.json"
            command = worker_command(
                backend,
                "--model=translator",
                "--mode=scaling",
                f"--compile={flag}",
                f"--axis={axis}",
                f"--values={values}",
                *size_flags(args),
                f"--steps={args.scaling_steps}",
                "--warmup=2",
                f"--json={path}",
            )
            result = run_process(command, env, path, args.timeout, backend, log)
            result["config"] = fastest
            scaling[axis] = result
    report["scaling"] = scaling

    # Memory vs vocabulary, a fresh process per point.
    memory = []
    if args.memory:
        backend = (fastest or "translator:jax:1").split(":")[1]
        for model in MEMORY_MODELS:
            for vocab in [int(v) for v in args.memory_vocab.split(",")]:
                analytic = memory_model_parameters(
                    model, vocab, args.embed, args.memory_units
                )
                point = {
                    "model": model,
                    "vocab": vocab,
                    "units": args.memory_units,
                    "backend": backend,
                    "analytic_parameters": analytic,
                    "measured": False,
                }
                estimate_gib = 4 * analytic * 4 / 2**30
                if estimate_gib > args.memory_cap_gib:
                    point["skipped"] = (
                        f"weights + gradients + Adam ~ {estimate_gib:.1f} GiB "
                        f"> --memory-cap-gib {args.memory_cap_gib}"
                    )
                    memory.append(point)
                    continue
                log(f"memory {model} vocab {vocab} on {backend}")
                path = scratch / f"memory-{model}-{vocab}.json"
                command = worker_command(
                    backend,
                    f"--model={model}",
                    "--mode=memory",
                    f"--vocab={vocab}",
                    f"--units={args.memory_units}",
                    f"--embed={args.embed}",
                    f"--batch={args.memory_batch}",
                    f"--src-len={args.src_len}",
                    f"--tgt-len={args.tgt_len}",
                    f"--threads={args.threads}",
                    f"--json={path}",
                )
                result = run_process(command, env, path, args.timeout, backend, log)
                point["result"] = result
                if not result.get("failed"):
                    point["measured"] = True
                    point["parameters"] = result["parameters"]
                    # Growth of the resident set over the imports: model and step.
                    point["training_rss_mib"] = (
                        result["peak_rss_mib"] - result["rss_before_mib"]
                    )
                memory.append(point)
    report["memory"] = memory

    report["plots"] = {}
    if scaling:
        usable = {a: s for a, s in scaling.items() if not s.get("failed")}
        report["plots"]["scaling"] = plot_scaling(
            usable, sizes, out_dir / f"{name}-scaling.png"
        )
    if memory:
        report["plots"]["memory"] = plot_memory(
            memory, out_dir / f"{name}-memory-vs-vocab.png"
        )
    report["results"] = results
    report["loadavg_end"] = os.getloadavg()
    report["wall_s"] = time.perf_counter() - started

    table = text_table(rows)
    print(table)
    print(
        f"\nGEMM peak {fmt(report['gemm_peak_gflops'], 1)} GFLOP/s "
        f"({report['gemm_peak_backend']}; per dtype policy: "
        f"{ {k: round(v, 1) for k, v in report['gemm_peaks'].items()} }); "
        "analytic train step "
        f"{report['flops']['train_step'] / 1e9:.2f} GFLOP; load average "
        f"{report['loadavg_start'][0]:.2f} -> {report['loadavg_end'][0]:.2f}; "
        f"{report['wall_s'] / 60:.1f} min"
    )
    json_path = out_dir / f"{name}.json"
    json_path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    if modes:
        (out_dir / f"{name}.md").write_text(markdown_table(rows) + "\n")
    for path in scratch.iterdir():
        path.unlink()
    scratch.rmdir()
    print(f"wrote {json_path}")
    return report


if __name__ == "__main__":
    main()
