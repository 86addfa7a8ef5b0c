import base64
import json

from streams.deadletters import dead_letter_record


def test_record_keeps_reason_original_bytes_and_source():
    payload = b"\xff not utf-8"
    record = json.loads(
        dead_letter_record(
            reason="not JSON: bad",
            problems=[],
            payload=payload,
            key=b"SHP-1",
            topic="checkpoint-events",
            partition=3,
            offset=42,
        )
    )
    assert record["reason"] == "not JSON: bad"
    assert base64.b64decode(record["payload_base64"]) == payload
    assert record["payload_text"] is None
    assert record["source"] == {
        "topic": "checkpoint-events",
        "partition": 3,
        "offset": 42,
        "key": "SHP-1",
    }


def test_text_payload_is_kept_readable_with_diacritics():
    record = json.loads(
        dead_letter_record(
            reason="invalid event: direction: Field required",
            problems=[{"field": "direction", "error": "Field required"}],
            payload='{"ghi_chú": "Lạng Sơn"}'.encode(),
            key=None,
            topic="t",
            partition=0,
            offset=0,
        )
    )
    assert record["payload_text"] == '{"ghi_chú": "Lạng Sơn"}'
    assert record["problems"][0]["field"] == "direction"
