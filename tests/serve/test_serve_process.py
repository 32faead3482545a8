"""`serve` in a real uvicorn process on a free loopback port: it answers, and
on SIGTERM a request in flight finishes while new connections are refused."""

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx

# Runs `serve` with a translate that announces, then delays, the sentences
# marked "slow", so the test can signal the server mid-request.
SERVER = """
import sys, time
from keras_seq2seq.translate.inference import TrainedTranslator
original = TrainedTranslator.hypotheses
def hypotheses(self, sentences, **options):
    if any("slow" in s for s in sentences):
        print("decoding slow", flush=True)
        time.sleep(3)
    return original(self, sentences, **options)
TrainedTranslator.hypotheses = hypotheses
from keras_seq2seq.serve import serve
serve(sys.argv[1], port=int(sys.argv[2]), batch_wait_ms=0)
"""


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def lines_of(stream):
    """A queue that receives the lines of `stream` as they come."""
    lines = queue.Queue()

    def read():
        for line in stream:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    return lines


def wait_for_line(lines, text, seen, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            continue
        seen.append(line)
        if text in line:
            return
    raise AssertionError(f"no line with {text!r} in {timeout} s:\n{''.join(seen)}")


def test_server_answers_and_shuts_down_gracefully(trained, translator):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(trained[0]), str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    seen = []
    try:
        lines = lines_of(process.stdout)
        wait_for_line(lines, f"Uvicorn running on {url}", seen, 300)
        sentences = trained[1][:4]
        answer = httpx.post(f"{url}/translate", json={"text": sentences}, timeout=60)
        assert [t["text"] for t in answer.json()["translations"]] == (
            translator.translate(sentences)
        )
        assert httpx.get(f"{url}/health").json() == {"status": "ok"}

        in_flight = {}

        def slow_request():
            in_flight["answer"] = httpx.post(
                f"{url}/translate", json={"text": ["a slow one"]}, timeout=60
            )

        client = threading.Thread(target=slow_request)
        client.start()
        wait_for_line(lines, "decoding slow", seen, 60)
        process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        try:
            refused = httpx.get(f"{url}/health", timeout=5)
        except httpx.TransportError as error:
            refused = error
        assert isinstance(refused, httpx.ConnectError), refused
        client.join(60)
        assert in_flight["answer"].status_code == 200
        assert (
            in_flight["answer"].json()["translations"][0]["text"]
            == (translator.translate(["a slow one"])[0])
        )
        # After its graceful shutdown uvicorn raises the signal it caught
        # again, so the exit status reports SIGTERM.
        assert process.wait(60) in (0, -signal.SIGTERM)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    output = "".join(seen) + "".join(lines.queue)
    assert "Waiting for connections to close" in output, output
    assert "Finished server process" in output, output
