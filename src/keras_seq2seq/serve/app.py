"""The HTTP server of a trained translator: a JSON API and a web page.

- `POST /translate` `{"text": [...], "beam": 5, "length_penalty": 0.0,
  "n_best": 1, "attention": false}` returns `{"translations": [{"text": ...,
  "score": ..., "n_best": [{"text": ..., "score": ...}, ...], "attention":
  {"source": [...], "target": [...], "weights": [[...]]}}], "beam": ...,
  "length_penalty": ...}` (`n_best` when more than 1 is asked, at most the
  beam width; `attention`, of the best translation, only when asked; null for
  a blank sentence);
- `GET /health` returns `{"status": "ok"}`;
- `GET /info` returns the model's config, the server's settings and limits
  and the package version;
- `GET /` is a page to type a sentence and see its translation and attention.

Refused requests get a 4xx status and `{"error": message}`.
"""

import contextlib
import dataclasses
import importlib.resources
import json

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

import keras_seq2seq
from keras_seq2seq.serve.batching import DynamicBatcher, Settings
from keras_seq2seq.serve.requests import (
    ApiError,
    Limits,
    check_lengths,
    parse_translate,
)

STATIC_FILES = {"app.js": "text/javascript", "index.html": "text/html"}


def create_app(translator, beam=1, length_penalty=0.0, **limits):
    """A Starlette app serving `translator`.

    Args:
        translator: a `TrainedTranslator` (from `keras_seq2seq.translate.load`).
        beam: the beam width of requests that name none (1: greedy).
        length_penalty: the length penalty of requests that name none.
        **limits: the fields of `Limits` (request sizes and batching).

    Example:
    >>> import asyncio, httpx
    >>> from keras_seq2seq.translate import Hypothesis
    >>> class Echo:
    ...     def hypotheses(self, sentences, beam=1, length_penalty=0.0, n_best=1):
    ...         return [[Hypothesis(s, -1.0, True)] for s in sentences]
    >>> async def ask():
    ...     transport = httpx.ASGITransport(app=create_app(Echo()))
    ...     async with httpx.AsyncClient(transport=transport,
    ...                                  base_url="http://localhost") as client:
    ...         answer = await client.post("/translate", json={"text": ["Hi."]})
    ...     return answer.json()["translations"]
    >>> asyncio.run(ask())
    [{'text': 'Hi.', 'score': -1.0}]
    """
    limits = Limits(**limits)
    # The defaults obey the rules of a request's fields.
    body = {"text": [""], "beam": beam, "length_penalty": length_penalty}
    try:
        defaults = parse_translate(json.dumps(body).encode(), limits, 1, 0.0)
    except ApiError as error:
        raise ValueError(error.message) from None
    batcher = DynamicBatcher(
        translator,
        max_sentences=limits.batch_sentences,
        max_tokens=limits.batch_tokens,
        max_wait=limits.batch_wait_ms / 1000,
    )

    async def translate(request):
        body = await _read_body(request, limits.max_body_bytes)
        parsed = parse_translate(body, limits, defaults.beam, defaults.length_penalty)
        pieces = _piece_counts(translator, parsed.text)
        check_lengths(parsed.text, pieces, limits)
        settings = Settings(
            parsed.beam, parsed.length_penalty, parsed.n_best, parsed.attention
        )
        found, maps = await batcher.submit(parsed.text, sum(pieces), settings)
        translations = [_translation(hypotheses, parsed.n_best) for hypotheses in found]
        if maps is not None:
            for item, found in zip(translations, maps):
                item["attention"] = None if found is None else _attention(found)
        return JSONResponse(
            {
                "translations": translations,
                "beam": parsed.beam,
                "length_penalty": parsed.length_penalty,
            }
        )

    async def health(request):
        return JSONResponse({"status": "ok"})

    async def info(request):
        config = getattr(translator, "config", {}) or {}
        return JSONResponse(
            {
                "version": keras_seq2seq.__version__,
                "model": config.get("model", {}),
                "tokenizers": config.get("tokenizers", {}),
                "data": {
                    k: v
                    for k, v in config.get("data", {}).items()
                    if k in ("reverse", "sizes")
                },
                "defaults": {
                    "beam": defaults.beam,
                    "length_penalty": defaults.length_penalty,
                },
                "limits": dataclasses.asdict(limits),
            }
        )

    async def page(request):
        return HTMLResponse(_static("index.html"))

    async def script(request):
        return Response(_static("app.js"), media_type=STATIC_FILES["app.js"])

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        batcher.close()

    app = Starlette(
        routes=[
            Route("/translate", translate, methods=["POST"]),
            Route("/health", health),
            Route("/info", info),
            Route("/", page),
            Route("/app.js", script),
        ],
        exception_handlers={ApiError: _api_error, HTTPException: _http_error},
        lifespan=lifespan,
    )
    app.state.batcher = batcher
    return app


def serve(
    model_dir,
    host="127.0.0.1",
    port=8000,
    beam=1,
    length_penalty=0.0,
    log_level="info",
    **limits,
):
    """Loads the trained model in `model_dir` and serves it over HTTP until
    SIGINT or SIGTERM (requests in flight then finish; new ones are refused).

    Args:
        model_dir: a model directory written by `keras_seq2seq.translate.train`.
        host: the address to listen on; the default answers this machine only.
        port: the TCP port.
        beam, length_penalty: the decoding of requests that name none.
        log_level: uvicorn's log level ("info" logs each request).
        **limits: the fields of `Limits` (request sizes and batching).

    Raises:
        PipelineError: `model_dir` holds no readable trained model.
        ValueError: a bad `beam`, `length_penalty` or limit.
    """
    import uvicorn

    from keras_seq2seq.translate import load

    # Bad settings are refused before the model is loaded.
    Limits(**limits)
    app = create_app(
        load(model_dir), beam=beam, length_penalty=length_penalty, **limits
    )
    uvicorn.run(app, host=host, port=port, log_level=log_level)


async def _read_body(request, max_bytes):
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes, f"{declared} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise _too_large(max_bytes, "more")
    return bytes(body)


def _too_large(max_bytes, received):
    return ApiError(
        413,
        f"The request body is too large: at most {max_bytes} bytes. Received: {received}",
    )


def _piece_counts(translator, text):
    tokenizer = getattr(translator, "source_tokenizer", None)
    if tokenizer is None:
        return [len(s.split()) for s in text]
    return [len(ids) for ids in tokenizer.encode(text)]


def _translation(hypotheses, n_best):
    """The best hypothesis's text and score, and the n-best list if asked."""
    item = {"text": hypotheses[0].text, "score": round(float(hypotheses[0].score), 5)}
    if n_best > 1:
        item["n_best"] = [
            {"text": h.text, "score": round(float(h.score), 5)} for h in hypotheses
        ]
    return item


def _attention(found):
    return {
        "source": list(found.source_tokens),
        "target": list(found.target_tokens),
        "weights": [[round(float(w), 5) for w in row] for row in found.weights],
    }


def _static(name):
    return (
        importlib.resources.files("keras_seq2seq.serve")
        .joinpath("static", name)
        .read_text(encoding="utf-8")
    )


async def _api_error(request, error):
    return JSONResponse({"error": error.message}, status_code=error.status)


async def _http_error(request, error):
    return JSONResponse({"error": error.detail}, status_code=error.status_code)
