import base64
import hashlib
import json

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from streams.deadletters import (
    DEFAULT_MAX_BYTES,
    MIN_MAX_BYTES,
    PROBLEMS_MAX,
    REASON_MAX_CHARS,
    dead_letter_record,
)


def _record(**overrides):
    fields = {
        "reason": "not JSON: bad",
        "problems": [],
        "payload": b"{",
        "key": b"SHP-1",
        "topic": "alerts",
        "partition": 3,
        "offset": 42,
    }
    return dead_letter_record(**{**fields, **overrides})


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
    assert record["payload_size"] == len(payload)
    assert record["payload_sha256"] == hashlib.sha256(payload).hexdigest()
    assert record["payload_truncated"] is False
    assert "stage" not in record and "problems_omitted" not in record


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
    assert record["problems"] == [{"field": "direction", "error": "Field required"}]


def test_a_record_without_a_value_and_the_stage():
    record = json.loads(_record(payload=None, stage="read"))
    assert record["payload_base64"] == "" and record["payload_size"] == 0
    assert record["payload_sha256"] == hashlib.sha256(b"").hexdigest()
    assert record["stage"] == "read"


def test_a_payload_over_the_limit_is_cut_to_a_prefix_that_fits():
    payload = bytes(range(256)) * 12_000  # about 3 MB
    encoded = _record(payload=payload)
    record = json.loads(encoded)
    assert len(encoded) <= DEFAULT_MAX_BYTES
    assert record["payload_truncated"] is True and record["payload_text"] is None
    kept = base64.b64decode(record["payload_base64"])
    assert payload.startswith(kept) and len(kept) > 700_000  # as much as fits
    assert record["payload_size"] == len(payload)
    assert record["payload_sha256"] == hashlib.sha256(payload).hexdigest()
    assert record["reason"] == "not JSON: bad" and record["source"]["offset"] == 42


def test_a_hostile_reason_and_problems_are_capped():
    huge = "x" * 5_000_000
    problems = [{"field": huge, "error": huge}] * 1000
    record = json.loads(_record(reason=f"invalid alert: {huge}", problems=problems))
    assert len(record["reason"]) < REASON_MAX_CHARS + 50
    assert record["reason"].endswith("more characters)")
    assert len(record["problems"]) == PROBLEMS_MAX
    assert record["problems_omitted"] == 1000 - PROBLEMS_MAX
    assert record["payload_truncated"] is False  # the payload itself was small: kept whole


def test_with_a_large_payload_a_long_reason_keeps_its_usual_cap():
    reason = "invalid alert: " + "y" * 10_000
    record = json.loads(_record(reason=reason, payload=b"z" * 2_000_000))
    assert record["payload_truncated"] is True
    assert record["reason"].startswith(reason[:REASON_MAX_CHARS])


def test_a_budget_too_small_for_any_record_is_refused():
    with pytest.raises(ValueError, match="max_bytes"):
        _record(max_bytes=200)


def _big(chunk: bytes, times: int) -> bytes:
    return chunk * times


PAYLOADS = st.one_of(
    st.none(),
    st.binary(max_size=2000),
    st.text(max_size=500).map(str.encode),  # UTF-8: kept as text too
    # multi-megabyte: random bytes, or text whose JSON escapes make it grow (control
    # characters take 6 bytes each, Vietnamese letters 2 or 3)
    st.builds(
        lambda rnd, n: rnd.randbytes(n),
        st.randoms(use_true_random=False),
        st.integers(0, 3_000_000),
    ),
    st.builds(
        _big,
        st.sampled_from(["\x00\x1f", "Lạng Sơn ", '"\\', "𝔾"]).map(str.encode),
        st.integers(1, 1_500_000),
    ),
)
LONG_TEXT = st.builds(lambda s, n: s * n, st.text(min_size=1, max_size=20), st.integers(1, 200_000))
TEXTS = st.one_of(st.text(max_size=200), LONG_TEXT)
KEYS = st.one_of(st.none(), st.binary(max_size=100), LONG_TEXT.map(str.encode))
PROBLEMS = st.lists(st.fixed_dictionaries({"field": TEXTS, "error": TEXTS}), max_size=80)
TOPICS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._-", min_size=1, max_size=249)
MAX_BYTES = st.one_of(st.just(DEFAULT_MAX_BYTES), st.integers(MIN_MAX_BYTES, 2_000_000))


@settings(max_examples=150, deadline=None)
@given(
    payload=PAYLOADS, key=KEYS, reason=TEXTS, problems=PROBLEMS, topic=TOPICS,
    partition=st.integers(0, 10_000), offset=st.integers(0, 2**63 - 1), max_bytes=MAX_BYTES,
)  # fmt: skip
def test_every_record_fits_and_names_its_payload(
    payload, key, reason, problems, topic, partition, offset, max_bytes
):
    encoded = dead_letter_record(
        reason=reason, problems=problems, payload=payload, key=key, topic=topic,
        partition=partition, offset=offset, max_bytes=max_bytes,
    )  # fmt: skip
    assert len(encoded) <= max_bytes
    record = json.loads(encoded.decode("utf-8"))  # valid UTF-8 JSON
    original = payload or b""
    assert record["payload_size"] == len(original)
    assert record["payload_sha256"] == hashlib.sha256(original).hexdigest()
    kept = base64.b64decode(record["payload_base64"], validate=True)
    if record["payload_truncated"]:
        assert original.startswith(kept) and len(kept) < len(original)
        assert record["payload_text"] is None
    else:
        assert kept == original
        if record["payload_text"] is not None:
            assert record["payload_text"].encode() == original
    source = record["source"]
    assert (source["topic"], source["partition"], source["offset"]) == (topic, partition, offset)
    assert isinstance(record["reason"], str) and isinstance(record["problems"], list)
    event("truncated" if record["payload_truncated"] else "whole")
    event(f"payload of {len(original) // 1_000_000} MB or more")
