"""OpenNMT-py peer for the translator: trained on our split for a wall-clock
budget and scored with our sacreBLEU.

OpenNMT-py 3.5.1 runs from its own environment (build it once with
``bash benchmarks/peers/setup_opennmt.sh``); this script runs from the
library's environment, which supplies the data and the scores:

1. Data: the corpus is read and split with ``read_pairs`` and ``split_corpus``
   and one SentencePiece model per language is trained on the training split
   (``SubwordTokenizer.train``, the pipeline's vocabulary size), exactly as
   ``keras-seq2seq train`` does with the same ``--seed``; training pairs with
   a side longer than ``--max-length`` pieces (the target counted with its
   end token) are left out, as there. The pieces are written one sentence a
   line, so OpenNMT-py sees the same tokens as our model.
2. ``onmt_build_vocab -n_sample -1`` (every training pair) and ``onmt_train``
   with a generated ``config.yaml``. OpenNMT-py has no time limit: it saves a
   checkpoint every ``--checkpoint-steps`` steps and is stopped when
   ``--minutes`` have passed since it started; the newest complete
   checkpoint is the model. The training time reported runs from the start
   to that checkpoint's writing, start-up included.
3. ``onmt_translate`` decodes the test split's distinct sources with beam 5
   and greedily (its default length penalty); the pieces are turned back
   into text by our target tokenizer and the test pairs are scored with
   ``corpus_scores``, as ``keras-seq2seq evaluate`` does (BLEU 13a and chrF).

Configurations (``--arch``), both fp32 on the CPU, 2,048-token batches,
label smoothing 0.1, Adam, and OpenNMT-py's defaults elsewhere (dropout 0.3
for the RNN, 2 data-loading workers, ``avg`` length penalty):

- ``rnn``: a 1-layer bidirectional GRU encoder (2 x 256), a 1-layer GRU 512
  decoder with ``mlp`` (Bahdanau) attention and input feeding, embeddings
  256. The learning rate rises linearly to ``--learning-rate`` (2e-3) over
  ``--warmup`` (500) steps and then falls as the inverse square root of the
  step: OpenNMT-py's ``noam`` schedule, whose peak is
  ``learning_rate / sqrt(hidden_size * warmup_steps)``, so its
  ``learning_rate`` is set to the peak times that root.
- ``transformer``: 3 + 3 layers, model size 256, 4 heads, feed-forward 1024,
  dropout 0.1, shared decoder embeddings, loss normalised by tokens, the same
  schedule.

Threads: ``--threads`` sets ``OMP_NUM_THREADS`` and ``MKL_NUM_THREADS`` for
OpenNMT-py's processes. On a machine shared with other jobs, OpenMP's
spin-waiting slows multi-threaded torch several times over: run it with
``OMP_WAIT_POLICY=PASSIVE`` there. The JSON records these variables, the
versions, the load average before and after, the command and every figure of
the table.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/peers/opennmt_rnn.py \
        --minutes 15 --out runs/onmt-rnn-15 --threads 2
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import pathlib
import platform
import re
import signal
import subprocess
import sys
import time
import zipfile

from keras_seq2seq.translate.config import TrainingConfig
from keras_seq2seq.translate.corpus import default_corpus_path, read_pairs
from keras_seq2seq.translate.scores import corpus_scores
from keras_seq2seq.translate.split import split_corpus
from keras_seq2seq.translate.tokenizer import UNK_ID, SubwordTokenizer

HERE = pathlib.Path(__file__).resolve().parent
DEFAULT_VENV = HERE / ".venv-onmt"
# OpenNMT-py 3.5 loads its checkpoints with `torch.load`, whose default became
# weights-only in torch 2.6; its checkpoints hold its options as objects.
ONMT_ENV = {"TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}
ARCHS = ("rnn", "transformer")
THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY")
MODEL_OPTIONS = {
    "rnn": {
        "encoder_type": "brnn",
        "decoder_type": "rnn",
        "rnn_type": "GRU",
        "layers": 1,
        "hidden_size": 512,
        "word_vec_size": 256,
        "global_attention": "mlp",
        "input_feed": 1,
    },
    "transformer": {
        "encoder_type": "transformer",
        "decoder_type": "transformer",
        "layers": 3,
        "hidden_size": 256,
        "word_vec_size": 256,
        "heads": 4,
        "transformer_ff": 1024,
        "position_encoding": True,
        "dropout": [0.1],
        "attention_dropout": [0.1],
        "share_decoder_embeddings": True,
        "param_init": 0.0,
        "param_init_glorot": True,
        "normalization": "tokens",
    },
}
# An interval report of `onmt_train`: "... 1234/2345 tok/s;    60 sec;".
REPORT = re.compile(
    r"Step (\d+)(?:/\s*\d+)?;.*?([\d.]+)/\s*([\d.]+) tok/s;\s*(\d+) sec"
)
TRANSLATION_TIME = re.compile(r"Total translation time \(s\): ([\d.]+)")


def export_data(directory, corpus, seed, vocab_size, max_length):
    """Splits `corpus`, trains the tokenizers and writes OpenNMT-py's files.

    Files in `directory`: `src-train.txt`, `tgt-train.txt` (the training
    pairs short enough, pieces separated by spaces, one sentence a line), the
    split (`split.json`, `test.tsv`, `valid.tsv`) and `source.model`,
    `target.model`.

    Returns:
        `(split, (source tokenizer, target tokenizer), sizes)`: `sizes` holds
        the pairs of each split and `train_kept`, the training pairs written.

    Example:
    >>> import tempfile
    >>> from keras_seq2seq.translate.corpus import Corpus
    >>> words = [f"word{i} x" for i in range(40)]
    >>> corpus = Corpus(tuple(words), tuple(words), tuple(range(1, 41)))
    >>> _, _, sizes = export_data(tempfile.mkdtemp(), corpus, 0, 20, 64)
    >>> sizes
    {'train': 32, 'valid': 4, 'test': 4, 'train_kept': 32}
    """
    directory = pathlib.Path(directory)
    split = split_corpus(corpus, seed=seed)
    split.save(directory)
    tokenizers = (
        SubwordTokenizer.train(split.train.sources, vocab_size=vocab_size),
        SubwordTokenizer.train(split.train.targets, vocab_size=vocab_size),
    )
    for tokenizer, name in zip(tokenizers, ("source", "target")):
        tokenizer.save(directory, name)
    sources = to_pieces(tokenizers[0], split.train.sources)
    targets = to_pieces(tokenizers[1], split.train.targets)
    kept = [
        (s, t)
        for s, t in zip(sources, targets)
        if len(s) <= max_length and len(t) + 1 <= max_length
    ]
    _write_lines(directory / "src-train.txt", [" ".join(s) for s, _ in kept])
    _write_lines(directory / "tgt-train.txt", [" ".join(t) for _, t in kept])
    sizes = {name: len(getattr(split, name)) for name in ("train", "valid", "test")}
    sizes["train_kept"] = len(kept)
    return split, tokenizers, sizes


def to_pieces(tokenizer, sentences):
    """The SentencePiece pieces of each sentence, as lists of str."""
    return [tokenizer.id_to_piece(ids) for ids in tokenizer.encode(list(sentences))]


def detokenize(tokenizer, lines):
    """Text of OpenNMT-py output lines (pieces separated by spaces), decoded
    by `tokenizer`; a piece it does not know (OpenNMT-py's `<unk>`) decodes
    as its unknown piece.

    Example:
    >>> tokenizer = SubwordTokenizer.train(["ab ab ba"] * 10, vocab_size=7)
    >>> pieces = " ".join(to_pieces(tokenizer, ["ab ba"])[0])
    >>> detokenize(tokenizer, [pieces, "<unk>"])
    ['ab ba', '⁇']
    """
    ids = {tokenizer.id_to_piece([i])[0]: i for i in range(tokenizer.vocab_size)}
    return tokenizer.decode(
        [[ids.get(piece, UNK_ID) for piece in line.split()] for line in lines]
    )


def onmt_config(arch, data_dir, run_dir, seed, learning_rate, warmup, checkpoint_steps):
    """The `onmt_train` configuration of `arch` ("rnn" or "transformer"), as a
    dict (see `to_yaml`).

    Example:
    >>> config = onmt_config("rnn", "d", "r", 1, 2e-3, 500, 50)
    >>> config["encoder_type"], round(config["learning_rate"], 4)
    ('brnn', 1.0119)
    """
    if arch not in MODEL_OPTIONS:
        raise ValueError(f"`arch` must be one of {ARCHS}. Received: arch={arch!r}")
    data_dir, run_dir = pathlib.Path(data_dir), pathlib.Path(run_dir)
    model = MODEL_OPTIONS[arch]
    return {
        "save_data": str(run_dir / "onmt"),
        "src_vocab": str(run_dir / "vocab.src"),
        "tgt_vocab": str(run_dir / "vocab.tgt"),
        "overwrite": True,
        "data": {
            "corpus_1": {
                "path_src": str(data_dir / "src-train.txt"),
                "path_tgt": str(data_dir / "tgt-train.txt"),
            },
        },
        **model,
        "label_smoothing": 0.1,
        "batch_type": "tokens",
        "batch_size": 2048,
        "optim": "adam",
        "decay_method": "noam",
        # noam's peak is learning_rate / sqrt(hidden_size * warmup_steps).
        "learning_rate": learning_rate * math.sqrt(model["hidden_size"] * warmup),
        "warmup_steps": warmup,
        "train_steps": 10**7,
        "valid_steps": 10**7,
        "save_model": str(run_dir / "model"),
        "save_checkpoint_steps": checkpoint_steps,
        # The newest may be cut short by the stop; two complete ones remain.
        "keep_checkpoint": 3,
        "report_every": checkpoint_steps,
        "seed": seed,
        "log_file": str(run_dir / "train.log"),
    }


def to_yaml(mapping, indent=0):
    """`mapping` (str keys; dict, list, bool, number or str values) as YAML
    text; strings are written JSON-quoted, which YAML reads back unchanged.

    Example:
    >>> print(to_yaml({"a": 1, "b": {"c": "x y", "d": [0.3]}, "e": True}), end="")
    a: 1
    b:
      c: "x y"
      d: [0.3]
    e: true
    """
    lines = []
    for key, value in mapping.items():
        if isinstance(value, dict):
            lines.append(f"{' ' * indent}{key}:\n{to_yaml(value, indent + 2)}")
        else:
            lines.append(f"{' ' * indent}{key}: {json.dumps(value)}\n")
    return "".join(lines)


def parse_reports(log_text):
    """`(step, target tokens/s, seconds since the start)` of each interval
    report in an `onmt_train` log.

    Example:
    >>> line = "[INFO] Step 50/10000000; acc: 9.1; ppl: 900.2; xent: 6.8; lr: 0.00020; "
    >>> line += "sents: 3000; bsz: 500/600/60; 1000/1200 tok/s;     31 sec;"
    >>> parse_reports(line)
    [(50, 1200.0, 31)]
    """
    return [
        (int(step), float(target), int(seconds))
        for step, _, target, seconds in REPORT.findall(log_text)
    ]


def target_tokens_per_second(reports, last_step):
    """The mean training speed up to `last_step`: each interval's target
    tokens/s weighted by its duration."""
    kept = [r for r in reports if r[0] <= last_step]
    tokens, seconds, previous = 0.0, 0, 0
    for _, rate, elapsed in kept:
        tokens += rate * (elapsed - previous)
        seconds += elapsed - previous
        previous = elapsed
    return tokens / seconds if seconds else float("nan")


def newest_checkpoint(run_dir):
    """`(step, path)` of the newest complete checkpoint in `run_dir`, or None.

    torch writes the zip archive's central directory last, so a checkpoint
    cut short by the stop is not a zip file.
    """
    found = []
    for path in pathlib.Path(run_dir).glob("model_step_*.pt"):
        step = int(path.stem.rsplit("_", 1)[1])
        if zipfile.is_zipfile(path):
            found.append((step, path))
    return max(found) if found else None


def _write_lines(path, lines):
    pathlib.Path(path).write_text("".join(f"{line}\n" for line in lines), "utf-8")


def _onmt(venv, tool, args, env, log_path, **popen):
    """Starts the OpenNMT-py command `tool` of `venv` with `args`, its output
    to `log_path`."""
    command = [str(pathlib.Path(venv) / "bin" / tool), *map(str, args)]
    # The child keeps its own copy of the file descriptor.
    with open(log_path, "w") as output:
        return subprocess.Popen(
            command, env=env, stdout=output, stderr=subprocess.STDOUT, **popen
        )


def _run_onmt(venv, tool, args, env, log_path):
    process = _onmt(venv, tool, args, env, log_path)
    if process.wait():
        tail = pathlib.Path(log_path).read_text()[-3000:]
        raise RuntimeError(f"{tool} failed ({process.returncode}):\n{tail}")


def train_for(venv, config_path, run_dir, seconds, env):
    """Runs `onmt_train` for `seconds` of wall-clock time and stops it.

    Returns:
        A dict: `step` and `checkpoint` (the newest complete checkpoint),
        `seconds` (from the start to that checkpoint), `wall_seconds` (from
        the start to the stop), `target_tokens_per_s`, `reports` (the
        interval reports) and `stopped` (False if it ended by itself first).

    Raises:
        RuntimeError: `onmt_train` failed, or saved no checkpoint in time.
    """
    start = time.monotonic()
    process = _onmt(
        venv,
        "onmt_train",
        ["-config", config_path],
        env,
        run_dir / "train.out",
        start_new_session=True,
    )
    while process.poll() is None and time.monotonic() - start < seconds:
        time.sleep(1.0)
    stopped = process.poll() is None
    # The group holds its data-loading workers too.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    process.wait()
    stop = time.monotonic()
    wall_stop = time.time()
    newest = newest_checkpoint(run_dir)
    if newest is None or (not stopped and process.returncode):
        tail = (run_dir / "train.out").read_text()[-3000:]
        raise RuntimeError(
            f"onmt_train failed ({process.returncode}) or saved no checkpoint in "
            f"{seconds} s:\n{tail}"
        )
    step, path = newest
    reports = parse_reports((run_dir / "train.log").read_text())
    return {
        "step": step,
        "checkpoint": str(path),
        "seconds": (stop - start) - (wall_stop - path.stat().st_mtime),
        "wall_seconds": stop - start,
        "target_tokens_per_s": target_tokens_per_second(reports, step),
        "reports": reports,
        "stopped": stopped,
    }


def translate(venv, checkpoint, run_dir, beam, env, tokenizers, test):
    """Decodes the distinct sources of `test` (sentence pairs) with
    `onmt_translate` and scores the translations against every pair."""
    name = "greedy" if beam == 1 else f"beam{beam}"
    sources = list(dict.fromkeys(test.sources))
    source_file = run_dir / "test.src.pieces"
    _write_lines(source_file, [" ".join(p) for p in to_pieces(tokenizers[0], sources)])
    output = run_dir / f"test.{name}.pieces"
    args = [
        "-model", checkpoint, "-src", source_file, "-output", output,
        "-beam_size", beam, "-report_time",
    ]  # fmt: skip
    start = time.monotonic()
    _run_onmt(venv, "onmt_translate", args, env, run_dir / f"translate.{name}.out")
    wall = time.monotonic() - start
    timed = TRANSLATION_TIME.search((run_dir / f"translate.{name}.out").read_text())
    hypotheses = detokenize(tokenizers[1], output.read_text("utf-8").splitlines())
    if len(hypotheses) != len(sources):
        raise RuntimeError(
            f"onmt_translate wrote {len(hypotheses)} lines for {len(sources)} sources"
        )
    _write_lines(run_dir / f"test.{name}.txt", hypotheses)
    translated = dict(zip(sources, hypotheses))
    scores = corpus_scores([translated[s] for s in test.sources], test.targets)
    seconds = float(timed.group(1)) if timed else wall
    return {
        "beam": beam,
        **scores,
        "sentences": len(test),
        "distinct_sources": len(sources),
        "seconds": seconds,
        "wall_seconds": wall,
        "sentences_per_s": len(sources) / seconds,
    }


def _versions(venv):
    code = (
        "import importlib.metadata as m, torch; "
        "print(m.version('OpenNMT-py'), torch.__version__)"
    )
    python = pathlib.Path(venv) / "bin" / "python"
    onmt, torch = subprocess.check_output([str(python), "-c", code], text=True).split()
    return {"opennmt_py": onmt, "torch": torch}


def table(result):
    """The result as a Markdown table row with its header."""
    rows = [
        "| system | steps | training speed | test BLEU beam 5 / greedy | chrF beam 5 "
        "| beam-5 / greedy sent/s |",
        "|---|---|---|---|---|---|",
    ]
    train, beam, greedy = (result[k] for k in ("training", "beam5", "greedy"))
    rows.append(
        f"| OpenNMT-py {result['versions']['opennmt_py']} {result['arch']}, "
        f"{result['minutes']:g} min | {train['step']:,} "
        f"| {train['target_tokens_per_s']:,.0f} target tok/s "
        f"| {beam['bleu']:.1f} / {greedy['bleu']:.1f} | {beam['chrf']:.1f} "
        f"| {beam['sentences_per_s']:.1f} / {greedy['sentences_per_s']:.1f} |"
    )
    return "\n".join(rows)


def run(args):
    out = pathlib.Path(args.out).resolve()
    data_dir, run_dir = out / "data", out / args.arch
    run_dir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        **ONMT_ENV,
        "OMP_NUM_THREADS": str(args.threads),
        "MKL_NUM_THREADS": str(args.threads),
    }
    load_before = os.getloadavg()
    corpus = read_pairs(args.corpus, reverse=args.reverse)
    split, tokenizers, sizes = export_data(
        data_dir, corpus, args.seed, args.vocab_size, args.max_length
    )
    config = onmt_config(
        args.arch,
        data_dir,
        run_dir,
        args.seed,
        args.learning_rate,
        args.warmup,
        args.checkpoint_steps,
    )
    config_path = run_dir / "config.yaml"
    config_path.write_text(to_yaml(config), encoding="utf-8")
    vocab_args = ["-config", config_path, "-n_sample", -1]
    _run_onmt(args.venv, "onmt_build_vocab", vocab_args, env, run_dir / "vocab.out")
    training = train_for(args.venv, config_path, run_dir, args.minutes * 60, env)
    test = split.test
    if args.max_sentences:
        test = test.subset(range(min(args.max_sentences, len(test))))
    beam5, greedy = (
        translate(
            args.venv, training["checkpoint"], run_dir, beam, env, tokenizers, test
        )
        for beam in (5, 1)
    )
    return {
        "arch": args.arch,
        "minutes": args.minutes,
        "direction": "reverse" if args.reverse else "forward",
        "corpus": str(args.corpus),
        "corpus_sha256": corpus.sha256,
        "seed": args.seed,
        "sizes": sizes,
        "vocab_size": [t.vocab_size for t in tokenizers],
        "config": config,
        "training": training,
        "beam5": beam5,
        "greedy": greedy,
        "threads": args.threads,
        "environment": {name: env.get(name) for name in THREAD_ENV},
        "versions": _versions(args.venv),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "load_average": {"before": load_before, "after": os.getloadavg()},
    }


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", choices=ARCHS, default="rnn")
    parser.add_argument("--minutes", type=float, default=15.0, help="training budget")
    parser.add_argument("--out", required=True, help="directory for every file")
    parser.add_argument("--corpus", default=str(default_corpus_path()))
    parser.add_argument(
        "--reverse", action="store_true", help="source: the corpus's 2nd column"
    )
    parser.add_argument("--seed", type=int, default=0, help="split and training seed")
    defaults = TrainingConfig()
    parser.add_argument("--vocab-size", type=int, default=defaults.vocab_size)
    parser.add_argument("--max-length", type=int, default=defaults.max_length)
    parser.add_argument("--learning-rate", type=float, default=2e-3, help="peak")
    parser.add_argument("--warmup", type=int, default=500, help="steps")
    parser.add_argument("--checkpoint-steps", type=int, default=50)
    parser.add_argument(
        "--max-sentences", type=int, help="score the first N test pairs (default: all)"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--venv", default=str(DEFAULT_VENV), help="OpenNMT-py's env")
    parser.add_argument("--json", help="default: OUT/ARCH/result.json")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if not (pathlib.Path(args.venv) / "bin" / "onmt_train").exists():
        sys.exit(
            f"No OpenNMT-py in '{args.venv}': run bash benchmarks/peers/setup_opennmt.sh"
        )
    result = run(args)
    result["command"] = " ".join([os.path.basename(sys.argv[0]), *sys.argv[1:]])
    path = pathlib.Path(args.json or pathlib.Path(args.out) / args.arch / "result.json")
    path.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(table(result))
    print(f"wrote {path}")
    return result


if __name__ == "__main__":
    main()
