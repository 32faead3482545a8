"""The JSON API in process (httpx over ASGI): translations equal
`TrainedTranslator.translate`, attention maps, every refused request, and
dynamic batching of concurrent requests."""

import asyncio
import json
import threading

import httpx
import numpy as np
import pytest

import keras_seq2seq
from keras_seq2seq.serve import create_app


def call(app, *requests):
    """Sends `requests` (`(method, path, json or bytes)`) concurrently;
    returns the responses in order."""

    async def send_all():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://localhost"
        ) as client:

            async def send(method, path, body=None):
                if isinstance(body, bytes):
                    return await client.request(method, path, content=body)
                return await client.request(method, path, json=body)

            return await asyncio.gather(*(send(*r) for r in requests))

    return asyncio.run(send_all())


class Counting:
    """A translator that counts and records its `hypotheses` calls."""

    def __init__(self, translator, gate=None):
        self.translator = translator
        self.source_tokenizer = translator.source_tokenizer
        self.config = translator.config
        self.calls = []
        self.gate = gate

    def hypotheses(self, sentences, **options):
        self.calls.append(list(sentences))
        if self.gate is not None:
            self.gate.wait(30)
        return self.translator.hypotheses(sentences, **options)

    def attention(self, sentence, **options):
        return self.translator.attention(sentence, **options)


@pytest.mark.parametrize("beam", [1, 3])
def test_translations_equal_translate(trained, translator, beam):
    sentences = trained[1]
    app = create_app(translator)
    (answer,) = call(
        app, ("POST", "/translate", {"text": sentences, "beam": beam, "n_best": 1})
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [t["text"] for t in body["translations"]] == translator.translate(
        sentences, beam=beam
    )
    best = [found[0] for found in translator.hypotheses(sentences, beam=beam)]
    np.testing.assert_allclose(
        [t["score"] for t in body["translations"]], [h.score for h in best], atol=1e-4
    )
    assert body["beam"] == beam and body["length_penalty"] == 0.0
    assert all("attention" not in t for t in body["translations"])
    assert all("n_best" not in t for t in body["translations"])


def test_n_best(trained, translator):
    sentences = trained[1][:5]
    (answer,) = call(
        create_app(translator),
        ("POST", "/translate", {"text": sentences, "beam": 3, "n_best": 3}),
    )
    assert answer.status_code == 200, answer.text
    want = translator.hypotheses(sentences, beam=3, n_best=3)
    for item, found in zip(answer.json()["translations"], want):
        assert [h["text"] for h in item["n_best"]] == [h.text for h in found]
        scores = [h["score"] for h in item["n_best"]]
        np.testing.assert_allclose(scores, [h.score for h in found], atol=1e-4)
        assert scores == sorted(scores, reverse=True)
        assert (item["text"], item["score"]) == (
            item["n_best"][0]["text"],
            item["n_best"][0]["score"],
        )


def test_attention(trained, translator):
    sentences = [trained[1][0], "", trained[1][1]]
    app = create_app(translator, beam=2, length_penalty=0.5)
    (answer,) = call(
        app, ("POST", "/translate", {"text": sentences, "attention": True})
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["beam"], body["length_penalty"]) == (2, 0.5)
    first, blank, last = body["translations"]
    assert blank == {"text": "", "score": 0.0, "attention": None}
    for item, sentence in ((first, sentences[0]), (last, sentences[2])):
        expected = translator.attention(sentence, beam=2, length_penalty=0.5)
        found = item["attention"]
        assert found["source"] == expected.source_tokens
        assert found["target"] == expected.target_tokens
        weights = np.array(found["weights"])
        assert weights.shape == (len(found["target"]), len(found["source"]))
        np.testing.assert_allclose(weights, expected.weights, atol=1e-4)
    assert (
        first["text"]
        == translator.translate([sentences[0]], beam=2, length_penalty=0.5)[0]
    )


def test_health_info_and_page(translator):
    app = create_app(translator, max_sentences=8)
    health, info, page, script = call(
        app, ("GET", "/health"), ("GET", "/info"), ("GET", "/"), ("GET", "/app.js")
    )
    assert health.json() == {"status": "ok"}
    info = info.json()
    assert info["version"] == keras_seq2seq.__version__
    assert info["model"]["source_vocab_size"] == 300
    assert info["limits"]["max_sentences"] == 8
    assert info["defaults"] == {"beam": 1, "length_penalty": 0.0}
    assert page.headers["content-type"].startswith("text/html")
    assert '<script src="app.js">' in page.text
    assert script.headers["content-type"].startswith("text/javascript")
    assert "drawHeatmap" in script.text


LIMITS = dict(max_sentences=4, max_sentence_pieces=12, max_beam=4, max_body_bytes=400)
BAD = [
    (b'{"text": ["a"', 400, "The request body is not valid JSON"),
    (b"\xff\xfe", 400, "not valid JSON"),
    (["a"], 422, 'must be a JSON object like {"text": ["..."]}. Received: ["a"]'),
    (
        {"text": "a"},
        422,
        '`text` must be a non-empty list of strings. Received: text="a"',
    ),
    (
        {"text": []},
        422,
        "`text` must be a non-empty list of strings. Received: text=[]",
    ),
    ({"text": ["a", 3]}, 422, 'Received: text=["a", 3]'),
    (
        {"beam": 2},
        422,
        "`text` must be a non-empty list of strings. Received: text=null",
    ),
    ({"text": ["a"] * 5}, 422, "`text` has too many sentences: at most 4. Received: 5"),
    (
        {"text": ["a", "x " * 20]},
        422,
        "`text[1]` is too long: at most 12 source pieces",
    ),
    (
        {"text": ["a"], "beam": 5},
        422,
        "`beam` must be an integer from 1 to 4. Received: beam=5",
    ),
    ({"text": ["a"], "beam": 0}, 422, "Received: beam=0"),
    ({"text": ["a"], "beam": "2"}, 422, 'Received: beam="2"'),
    ({"text": ["a"], "beam": True}, 422, "Received: beam=true"),
    (
        {"text": ["a"], "beam": 2, "n_best": 3},
        422,
        "`n_best` must be an integer from 1 to the beam width (2). Received: n_best=3",
    ),
    (
        {"text": ["a"], "attention": 1},
        422,
        "`attention` must be true or false. Received: attention=1",
    ),
    (
        {"text": ["a"], "length_penalty": -1},
        422,
        "`length_penalty` must be a number >= 0. Received: length_penalty=-1",
    ),
    (
        {"text": ["a"], "beams": 2},
        422,
        "Unknown field 'beams': the fields are text, beam",
    ),
    (
        {"text": ["word " * 100]},
        413,
        "The request body is too large: at most 400 bytes. Received: 5",
    ),
]


@pytest.mark.parametrize("body, status, message", BAD, ids=range(len(BAD)))
def test_bad_requests(translator, body, status, message):
    app = create_app(translator, **LIMITS)
    bad, good = call(
        app,
        ("POST", "/translate", body),
        ("POST", "/translate", {"text": ["Hello."]}),
    )
    assert bad.status_code == status
    assert message in bad.json()["error"]
    assert good.status_code == 200
    assert good.json()["translations"][0]["text"] == translator.translate(["Hello."])[0]


def test_body_over_the_limit_without_a_length_header(translator):
    app = create_app(translator, max_body_bytes=100)

    async def chunks():
        yield b'{"text": ["' + b"a " * 200 + b'"]}'

    async def send():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://localhost"
        ) as client:
            return await client.post("/translate", content=chunks())

    answer = asyncio.run(send())
    assert answer.status_code == 413
    assert "at most 100 bytes" in answer.json()["error"]


@pytest.mark.parametrize(
    "options, message",
    [
        ({"beam": 0}, "`beam` must be an integer from 1 to 10. Received: beam=0"),
        (
            {"max_beam": -1},
            "`max_beam` must be a non-negative int. Received: max_beam=-1",
        ),
        ({"batch_wait_ms": "5"}, "Received: batch_wait_ms='5'"),
    ],
)
def test_bad_server_options(translator, options, message):
    with pytest.raises(ValueError, match=message):
        create_app(translator, **options)


def test_concurrent_requests_are_merged(trained, translator):
    counting = Counting(translator)
    app = create_app(counting, batch_wait_ms=500)
    sentences = trained[1][:8]
    requests = [("POST", "/translate", {"text": [s]}) for s in sentences]
    answers = call(app, *requests)
    assert [a.json()["translations"][0]["text"] for a in answers] == (
        translator.translate(sentences)
    )
    assert counting.calls == [sentences]
    assert app.state.batcher.batches == 1


def test_different_settings_and_budgets_are_not_merged(trained, translator):
    counting = Counting(translator)
    app = create_app(counting, batch_wait_ms=300, batch_sentences=3)
    s = trained[1]
    answers = call(
        app,
        ("POST", "/translate", {"text": [s[0]]}),
        ("POST", "/translate", {"text": [s[1]], "beam": 2}),
        ("POST", "/translate", {"text": [s[2], s[3]]}),
        ("POST", "/translate", {"text": [s[4]]}),
    )
    assert all(a.status_code == 200 for a in answers)
    assert sorted(counting.calls) == sorted([[s[0], s[2], s[3]], [s[1]], [s[4]]])
    assert (
        answers[1].json()["translations"][0]["text"]
        == translator.translate([s[1]], beam=2)[0]
    )


def test_requests_that_queue_while_the_model_decodes_are_merged(trained, translator):
    gate = threading.Event()
    counting = Counting(translator, gate)
    app = create_app(counting, batch_wait_ms=0)
    s = trained[1]

    async def scenario():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://localhost"
        ) as client:
            first = asyncio.create_task(
                client.post("/translate", json={"text": [s[0]]})
            )
            await asyncio.sleep(0.2)
            queued = [
                asyncio.create_task(client.post("/translate", json={"text": [text]}))
                for text in s[1:4]
            ]
            await asyncio.sleep(0.2)
            gate.set()
            return await asyncio.gather(first, *queued)

    answers = asyncio.run(scenario())
    assert [a.json()["translations"][0]["text"] for a in answers] == (
        translator.translate(s[:4])
    )
    assert counting.calls == [[s[0]], s[1:4]]


def test_event_loop_answers_while_the_model_decodes(translator):
    gate = threading.Event()
    app = create_app(Counting(translator, gate))

    async def scenario():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://localhost"
        ) as client:
            slow = asyncio.create_task(
                client.post("/translate", json={"text": ["Hello."]})
            )
            await asyncio.sleep(0.2)
            health = await asyncio.wait_for(client.get("/health"), 10)
            done_before = slow.done()
            gate.set()
            return health, done_before, await slow

    health, done_before, slow = asyncio.run(scenario())
    assert health.status_code == 200 and not done_before
    assert slow.status_code == 200


def test_translation_errors_reach_the_client_and_the_server_goes_on(translator):
    class Failing(Counting):
        def hypotheses(self, sentences, **options):
            if "boom" in sentences:
                raise RuntimeError("decoder failed")
            return super().hypotheses(sentences, **options)

    app = create_app(Failing(translator), batch_wait_ms=0)

    async def scenario():
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://localhost"
        ) as client:
            bad = await client.post("/translate", json={"text": ["boom"]})
            good = await client.post("/translate", json={"text": ["Hello."]})
            return bad, good

    bad, good = asyncio.run(scenario())
    assert bad.status_code == 500
    assert good.status_code == 200
    assert json.loads(good.text)["translations"][0]["text"]
