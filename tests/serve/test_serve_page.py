"""The web page in a real headless Chromium (Debian's `chromium`, driven by
playwright): type a sentence, translate, read the output and the attention
heatmap, hover a cell, take a screenshot."""

import shutil
import threading
import time

import pytest
import uvicorn

from keras_seq2seq.serve import create_app

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def live_server(translator):
    """The app on a uvicorn server in a thread, on a free loopback port."""
    config = uvicorn.Config(
        create_app(translator), host="127.0.0.1", port=0, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    end = time.monotonic() + 60
    while not server.started and time.monotonic() < end:
        time.sleep(0.05)
    assert server.started, "the server did not start in 60 s"
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/"
    server.should_exit = True
    thread.join(30)


@pytest.mark.skipif(
    CHROMIUM is None,
    reason="no chromium on PATH (Debian: apt-get install -y chromium)",
)
def test_page_translates_and_draws_the_attention(
    trained, translator, live_server, tmp_path
):
    from playwright.sync_api import sync_playwright

    sentence = max(trained[1], key=len)
    expected = translator.attention(sentence, beam=2)
    best, second = translator.hypotheses([sentence], beam=2, n_best=2)[0]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox"]
        )
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 800})
            errors = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(live_server)
            page.fill("#source", sentence)
            page.fill("#beam", "2")
            page.fill("#nbest", "2")
            page.click("#submit")
            page.wait_for_selector(
                "body[data-state=done], body[data-state=failed]", timeout=60_000
            )
            assert page.text_content("#output") == best.text
            assert page.text_content("#error") == ""
            # The page gets the scores rounded to 5 decimals.
            assert page.text_content("#score") == f"score {round(best.score, 5):.3f}"
            assert page.locator("#alternatives li").all_text_contents() == [
                f"{h.text} ({round(h.score, 5):.3f})" for h in (best, second)
            ]
            cells = page.locator("#heatmap rect.cell")
            rows, columns = len(expected.target_tokens), len(expected.source_tokens)
            assert cells.count() == rows * columns
            labels = page.locator("#heatmap text").all_text_contents()
            assert labels == expected.source_tokens + expected.target_tokens
            # The last cell: the last output piece against the last source piece.
            cells.nth(rows * columns - 1).hover()
            # The page gets the weights rounded to 5 decimals.
            weight = round(float(expected.weights[-1, -1]), 5)
            hover = page.text_content("#weight")
            assert hover == (
                f"{expected.target_tokens[-1]} \u2190 "
                f"{expected.source_tokens[-1]}: {weight:.3f}"
            )
            path = tmp_path / "serve.png"
            page.screenshot(path=str(path), full_page=True)
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            assert errors == []
        finally:
            browser.close()
