"""Start-up time of the command line: `keras-seq2seq --help` and
`keras-seq2seq info`, each run cold (a new process) `--runs` times.

Reports, per command, the median wall time and the median user+system CPU
time of the process and its children (on a shared machine the CPU time is
the steadier figure), and whether anything was written to stderr (backend
log lines)::

    .venv/bin/python benchmarks/cli_startup.py --runs 10
    KERAS_BACKEND=jax .venv/bin/python benchmarks/cli_startup.py --runs 10

The command is `python -m keras_seq2seq.cli` with this interpreter, so the
`keras_seq2seq` on `PYTHONPATH` (or installed) is the one measured.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

COMMANDS = {"--help": ["--help"], "info": ["info"]}


def run_once(arguments):
    """One cold run: (wall seconds, CPU seconds, stderr text)."""
    command = [sys.executable, "-m", "keras_seq2seq.cli", *arguments]
    start = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"{' '.join(command)} failed: {stderr[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, stderr


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="cold runs per command")
    parser.add_argument("--json", metavar="PATH", help="also write the figures here")
    args = parser.parse_args()
    results = {
        "keras_backend_env": os.environ.get("KERAS_BACKEND"),
        "runs": args.runs,
        "commands": {},
    }
    for name, arguments in COMMANDS.items():
        runs = [run_once(arguments) for _ in range(args.runs)]
        figures = {
            "median_wall_s": statistics.median(r[0] for r in runs),
            "median_cpu_s": statistics.median(r[1] for r in runs),
            "stderr_lines": max(len(r[2].splitlines()) for r in runs),
        }
        results["commands"][name] = figures
        print(
            f"keras-seq2seq {name}: median wall {figures['median_wall_s']:.2f} s, "
            f"median user+sys {figures['median_cpu_s']:.2f} s, "
            f"at most {figures['stderr_lines']} stderr lines "
            f"({args.runs} cold runs, KERAS_BACKEND={results['keras_backend_env']})"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
