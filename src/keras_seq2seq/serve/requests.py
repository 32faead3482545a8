"""The `POST /translate` request: its limits and its checks. Every problem is an
`ApiError` whose message names the field, what it expects and what it got."""

import dataclasses
import json
import math


@dataclasses.dataclass(frozen=True)
class Limits:
    """What one server accepts, and how it batches.

    Attributes:
        max_sentences: sentences in one request (default 64).
        max_sentence_pieces: source pieces in one sentence (default 200).
        max_beam: the widest beam a request may ask for (default 10).
        max_body_bytes: bytes in one request body (default 65536).
        batch_sentences: the most sentences decoded in one batch (default 64).
        batch_tokens: the most source pieces decoded in one batch (default 4096).
        batch_wait_ms: how long a batch waits for more requests (default 5).
    """

    max_sentences: int = 64
    max_sentence_pieces: int = 200
    max_beam: int = 10
    max_body_bytes: int = 65536
    batch_sentences: int = 64
    batch_tokens: int = 4096
    batch_wait_ms: float = 5.0

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            kinds = (int, float) if field.type is float else int
            if isinstance(value, bool) or not isinstance(value, kinds) or value < 0:
                raise ValueError(
                    f"`{field.name}` must be a non-negative {field.type.__name__}. "
                    f"Received: {field.name}={value!r}"
                )


class ApiError(Exception):
    """A request the server refuses: `status` is the HTTP status code."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclasses.dataclass(frozen=True)
class TranslateRequest:
    """A checked `POST /translate` body."""

    text: list
    beam: int
    length_penalty: float
    n_best: int
    attention: bool


FIELDS = ("text", "beam", "length_penalty", "n_best", "attention")


def parse_translate(body, limits, beam, length_penalty):
    """Checks a `POST /translate` body (bytes) against `limits`; `beam` and
    `length_penalty` are the defaults for fields the body leaves out.

    Returns:
        A `TranslateRequest`.

    Raises:
        ApiError: malformed JSON, an unknown field, a wrong type or a value
            out of its limits.

    Example:
    >>> parse_translate(b'{"text": ["Hi."], "beam": 2}', Limits(), 1, 0.0)
    TranslateRequest(text=['Hi.'], beam=2, length_penalty=0.0, n_best=1, attention=False)
    >>> parse_translate(b'{"text": []}', Limits(), 1, 0.0)
    Traceback (most recent call last):
    ...
    keras_seq2seq.serve.requests.ApiError: `text` must be a non-empty list of strings. Received: text=[]
    """
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ApiError(400, f"The request body is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise ApiError(
            422,
            "The request body must be a JSON object like "
            f'{{"text": ["..."]}}. Received: {_short(data)}',
        )
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise ApiError(
            422,
            f"Unknown field {', '.join(map(repr, unknown))}: the fields are "
            f"{', '.join(FIELDS)}.",
        )
    text = _text(data.get("text"), limits)
    beam = data.get("beam", beam)
    if not _is_int(beam) or not 1 <= beam <= limits.max_beam:
        raise ApiError(
            422,
            f"`beam` must be an integer from 1 to {limits.max_beam}. "
            f"Received: beam={_short(beam)}",
        )
    n_best = data.get("n_best", 1)
    if not _is_int(n_best) or not 1 <= n_best <= beam:
        raise ApiError(
            422,
            f"`n_best` must be an integer from 1 to the beam width ({beam}). "
            f"Received: n_best={_short(n_best)}",
        )
    penalty = data.get("length_penalty", length_penalty)
    if (
        isinstance(penalty, bool)
        or not isinstance(penalty, (int, float))
        or not math.isfinite(penalty)
        or penalty < 0
    ):
        raise ApiError(
            422,
            "`length_penalty` must be a number >= 0. "
            f"Received: length_penalty={_short(penalty)}",
        )
    attention = data.get("attention", False)
    if not isinstance(attention, bool):
        raise ApiError(
            422,
            f"`attention` must be true or false. Received: attention={_short(attention)}",
        )
    return TranslateRequest(text, beam, float(penalty), n_best, attention)


def check_lengths(text, pieces, limits):
    """Raises `ApiError` if a sentence has more than `max_sentence_pieces`
    source pieces; `pieces` holds the piece count of each sentence."""
    for index, (sentence, count) in enumerate(zip(text, pieces)):
        if count > limits.max_sentence_pieces:
            raise ApiError(
                422,
                f"`text[{index}]` is too long: at most {limits.max_sentence_pieces} "
                f"source pieces. Received: {count} pieces ({_short(sentence)})",
            )


def _text(text, limits):
    if (
        not isinstance(text, list)
        or not text
        or not all(isinstance(s, str) for s in text)
    ):
        raise ApiError(
            422,
            f"`text` must be a non-empty list of strings. Received: text={_short(text)}",
        )
    if len(text) > limits.max_sentences:
        raise ApiError(
            422,
            f"`text` has too many sentences: at most {limits.max_sentences}. "
            f"Received: {len(text)} sentences",
        )
    return text


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _short(value, width=60):
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= width else text[: width - 3] + "..."
