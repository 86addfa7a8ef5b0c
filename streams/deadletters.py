"""Dead-letter records: what could not be processed, why, the original bytes and where they
came from. Pure; the agents send the result to the dead-letter topic."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any


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
) -> bytes:
    """The JSON value sent to the dead-letter topic for one rejected message."""
    payload = payload or b""
    try:
        text: str | None = payload.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    record: dict[str, Any] = {
        "reason": reason,
        "problems": problems,
        "source": {
            "topic": topic,
            "partition": partition,
            "offset": offset,
            "key": None if key is None else key.decode("utf-8", errors="replace"),
        },
        "payload_base64": base64.b64encode(payload).decode("ascii"),
        "payload_text": text,
        "dead_lettered_at": (received_at or datetime.now(UTC)).isoformat(),
    }
    return json.dumps(record, ensure_ascii=False).encode("utf-8")
