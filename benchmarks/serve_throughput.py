"""Serving throughput: sentences/s and p50/p95 latency of `POST /translate` at
several numbers of concurrent clients, with dynamic batching on and off.

Each setting starts `keras_seq2seq.serve.serve` in its own process on a free
loopback port; clients send one sentence per request (the model directory's
test sentences, in order). Each concurrency level runs its requests
`--warmup` times untimed (batches of new sizes compile new shapes, which is
not what is measured), then once timed.
With batching off (`batch_sentences=1`) requests are decoded one at a time,
the baseline.

Usage:
    python benchmarks/serve_throughput.py --model run/model [--requests 96]
        [--clients 1,8,32] [--beam 1] [--warmup 2]
"""

import argparse
import asyncio
import os
import pathlib
import socket
import statistics
import subprocess
import sys
import time

import httpx

SERVER = (
    "import sys, json; from keras_seq2seq.serve import serve; "
    "serve(sys.argv[1], port=int(sys.argv[2]), log_level='warning', "
    "**json.loads(sys.argv[3]))"
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a trained model directory")
    parser.add_argument(
        "--requests", type=int, default=96, help="timed requests per level"
    )
    parser.add_argument("--clients", default="1,8,32", help="concurrency levels")
    parser.add_argument("--beam", type=int, default=1)
    parser.add_argument(
        "--warmup", type=int, default=2, help="untimed rounds per level"
    )
    return parser.parse_args(argv)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(model, options):
    import json

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(model), str(port), json.dumps(options)],
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    url = f"http://127.0.0.1:{port}"
    end = time.monotonic() + 600
    while time.monotonic() < end:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"the server did not start: {options}")


async def run_level(url, sentences, clients, beam):
    """Sends each sentence once with `clients` concurrent clients; returns the
    wall time and each request's latency."""
    latencies = []
    pending = iter(sentences)
    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=600, limits=limits) as client:

        async def worker():
            for sentence in pending:
                start = time.perf_counter()
                answer = await client.post(
                    "/translate", json={"text": [sentence], "beam": beam}
                )
                answer.raise_for_status()
                latencies.append(time.perf_counter() - start)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        return time.perf_counter() - start, latencies


def percentile(values, q):
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def main(argv=None):
    args = parse_args(argv)
    model = pathlib.Path(args.model)
    lines = (model / "test.tsv").read_text(encoding="utf-8").splitlines()
    sentences = [line.split("\t")[0] for line in lines if line.strip()]
    sentences = (sentences * (args.requests // max(len(sentences), 1) + 1))[
        : args.requests
    ]
    levels = [int(n) for n in args.clients.split(",")]
    print(f"{len(sentences)} requests of one sentence each, beam {args.beam}\n")
    print("| batching | clients | sentences/s | p50 latency (ms) | p95 latency (ms) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    settings = [("on", {}), ("off", {"batch_sentences": 1, "batch_wait_ms": 0})]
    for name, options in settings:
        process, url = start_server(model, options)
        try:
            for clients in levels:
                for _ in range(args.warmup):
                    asyncio.run(run_level(url, sentences, clients, args.beam))
                wall, latencies = asyncio.run(
                    run_level(url, sentences, clients, args.beam)
                )
                print(
                    f"| {name} | {clients} | {len(sentences) / wall:.1f} | "
                    f"{1000 * percentile(latencies, 50):.1f} | "
                    f"{1000 * percentile(latencies, 95):.1f} |",
                    flush=True,
                )
        finally:
            process.terminate()
            process.wait(60)


if __name__ == "__main__":
    main()
