"""Dead-letter records: what could not be processed, why, the original bytes and where they
came from. Pure; the agents and the delivery process send the result to a dead-letter
topic.

A record always fits the broker: Kafka refuses a record over the topic's
``max.message.bytes`` (1,048,588 bytes by default; the producers' request limit is 1 MiB),
and a dead letter that cannot be sent is no dead letter at all. So a record is at most
``max_bytes`` of UTF-8 JSON, whatever the payload, key, reason or problems: the reason and
the problems are capped to sizes a person can read, and a payload too large to keep whole
is cut to a prefix (``payload_truncated``), its size and SHA-256 still naming the original.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime
from typing import Any

DEFAULT_MAX_BYTES = 1_000_000  # under Kafka's default max.message.bytes, with room for a key
MIN_MAX_BYTES = 4096  # the smallest budget every record is guaranteed to fit

# What a person can read, and what a hostile payload cannot inflate (a validation message
# may quote the input: one huge field name makes a huge problem).
REASON_MAX_CHARS = 2000
PROBLEMS_MAX = 50
FIELD_MAX_CHARS = 200
ERROR_MAX_CHARS = 500
KEY_MAX_CHARS = 500
# Tighter still when the payload already had to be cut and the rest is too large.
TIGHT_REASON_MAX_CHARS = 200
TIGHT_KEY_MAX_CHARS = 100


def dead_letter_record(
    *,
    reason: str,
    problems: list[dict[str, str]],
    payload: bytes | None,
    key: bytes | None,
    topic: str,
    partition: int,
    offset: int,
    received_at: datetime | None = None,
    stage: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> bytes:
    """The JSON value sent to a dead-letter topic for one rejected message, at most
    ``max_bytes`` long (UTF-8).

    Fields: ``reason`` (one line), ``problems`` (``[{"field", "error"}]``), ``source``
    (``topic``, ``partition``, ``offset``, ``key`` as text; ``key_truncated`` when cut),
    ``payload_base64`` (the original bytes, or a prefix of them), ``payload_text`` (the
    bytes as text; null when they are not UTF-8 or the text would not fit),
    ``payload_size`` (bytes), ``payload_sha256`` (hex, of the whole original),
    ``payload_truncated`` (``payload_base64`` holds only a prefix),
    ``dead_lettered_at``; ``problems_omitted`` when problems were left out, and ``stage``
    (where processing gave up, e.g. ``read``) when given. A reason that was cut ends with
    how many characters were left off.

    Args:
        payload: the record's value as received (None: a record without a value).
        key: the record's key as received.
        topic, partition, offset: where the record was read.
        received_at: the time stamped on the dead letter (default: now).
        stage: where processing gave up, kept as ``stage`` (omitted when None).
        max_bytes: the most the encoded record may take.

    Raises:
        ValueError: ``max_bytes`` is below :data:`MIN_MAX_BYTES` and even the shortest form
            of the record does not fit.

    Example:
        >>> record = dead_letter_record(reason="not JSON: EOF", problems=[], payload=b"{",
        ...     key=None, topic="alerts", partition=0, offset=7)
        >>> json.loads(record)["payload_text"]
        '{'
    """
    payload = payload or b""
    try:
        text: str | None = payload.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    key_text = None if key is None else key.decode("utf-8", errors="replace")
    record: dict[str, Any] = {
        "reason": _cut(reason, REASON_MAX_CHARS),
        "problems": [],
        "source": _source(topic, partition, offset, key_text, KEY_MAX_CHARS),
        "payload_base64": base64.b64encode(payload).decode("ascii"),
        "payload_text": text,
        "payload_size": len(payload),
        "payload_sha256": hashlib.sha256(payload).hexdigest(),
        "payload_truncated": False,
        "dead_lettered_at": (received_at or datetime.now(UTC)).isoformat(),
    }
    if stage is not None:
        record["stage"] = _cut(stage, 100)
    _set_problems(record, problems, PROBLEMS_MAX)
    encoded = _encode(record)
    if len(encoded) <= max_bytes:
        return encoded

    # Too large: first without the text (escaped, it can take six times the bytes); then,
    # if the rest takes over half the budget, with a tighter reason and key and without the
    # problems; last, with a prefix of the payload (whole base64 quanta, so it decodes).
    record["payload_text"] = None
    whole = record["payload_base64"]
    record["payload_base64"] = ""
    rest = len(_encode(record))
    if rest > max_bytes // 2 and rest + len(whole) > max_bytes:
        record["reason"] = _cut(reason, TIGHT_REASON_MAX_CHARS)
        record["source"] = _source(topic, partition, offset, key_text, TIGHT_KEY_MAX_CHARS)
        _set_problems(record, problems, 0)
    record["payload_base64"] = whole
    encoded = _encode(record)
    if len(encoded) <= max_bytes:
        return encoded
    record["payload_truncated"] = True
    record["payload_base64"] = ""
    room = max_bytes - len(_encode(record))  # base64 is ASCII: a byte a character in JSON
    if room < 0:
        raise ValueError(
            f"a dead-letter record needs more than max_bytes={max_bytes} bytes "
            f"(at least {MIN_MAX_BYTES} always suffice)"
        )
    # strictly a prefix: "true" is a byte shorter than "false", room for one more byte
    keep = min(room // 4 * 3, (len(payload) - 1) // 3 * 3)
    record["payload_base64"] = base64.b64encode(payload[:keep]).decode("ascii")
    return _encode(record)


def _encode(record: dict[str, Any]) -> bytes:
    return json.dumps(record, ensure_ascii=False).encode("utf-8")


def _cut(text: Any, max_chars: int) -> str:
    """``text`` as valid Unicode (lone surrogates replaced), at most about ``max_chars``
    characters, saying how many were left off."""
    text = str(text).encode("utf-8", errors="replace").decode("utf-8")
    if len(text) <= max_chars:
        return text
    return f"{text[:max_chars]}… ({len(text) - max_chars} more characters)"


def _source(
    topic: str, partition: int, offset: int, key: str | None, key_max_chars: int
) -> dict[str, Any]:
    source: dict[str, Any] = {
        "topic": _cut(topic, 300),  # Kafka allows 249
        "partition": partition,
        "offset": offset,
        "key": None if key is None else key[:key_max_chars],
    }
    if key is not None and len(key) > key_max_chars:
        source["key_truncated"] = True
    return source


def _set_problems(record: dict[str, Any], problems: list[dict[str, str]], most: int) -> None:
    record["problems"] = [
        {
            _cut(name, FIELD_MAX_CHARS): _cut(
                value, FIELD_MAX_CHARS if name == "field" else ERROR_MAX_CHARS
            )
            for name, value in list(problem.items())[:4]  # "field", "error"
        }
        for problem in problems[:most]
    ]
    record.pop("problems_omitted", None)
    if len(problems) > most:
        record["problems_omitted"] = len(problems) - most
