"""Webhook signatures: what a receiver checks."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.delivery import SignatureError, sign, verify

SECRET = "a" * 64
BODY = '{"alert_id": "ALR-1", "explanation_vi": "Lô hàng"}'.encode()
NOW = 1_800_000_000


def test_a_signed_body_verifies():
    verify(SECRET, sign(SECRET, BODY, now=NOW), BODY, now=NOW + 10)


@given(st.binary(min_size=1), st.integers(0, 1_000))
def test_any_change_to_the_body_fails(body, flip):
    header = sign(SECRET, body, now=NOW)
    tampered = bytearray(body)
    tampered[flip % len(body)] ^= 0x01
    with pytest.raises(SignatureError, match="does not match"):
        verify(SECRET, header, bytes(tampered), now=NOW)


def test_another_secret_fails():
    with pytest.raises(SignatureError, match="does not match"):
        verify("b" * 64, sign(SECRET, BODY, now=NOW), BODY, now=NOW)


@pytest.mark.parametrize("skew", [-301, 301])
def test_a_timestamp_outside_the_tolerance_is_refused(skew):
    with pytest.raises(SignatureError, match="tolerance 300 s"):
        verify(SECRET, sign(SECRET, BODY, now=NOW), BODY, now=NOW + skew)


def test_a_forged_timestamp_breaks_the_signature():
    header = sign(SECRET, BODY, now=NOW)
    forged = header.replace(f"t={NOW}", f"t={NOW + 100}")
    with pytest.raises(SignatureError, match="does not match"):
        verify(SECRET, forged, BODY, now=NOW + 100)


@pytest.mark.parametrize("header", [None, "", "v1=abc", "t=x,v1=abc", "nonsense"])
def test_missing_or_malformed_headers_are_named(header):
    with pytest.raises(SignatureError, match="X-Goodsflow-Signature"):
        verify(SECRET, header, BODY, now=NOW)


def test_the_readme_receiver_snippet_agrees_with_the_sender():
    """The few lines the README gives receivers verify what goodsflow signs."""
    import re
    import time
    from pathlib import Path

    readme = (Path(__file__).parents[4] / "README.md").read_text(encoding="utf-8")
    (snippet,) = [
        block for block in re.findall(r"```python\n(.*?)```", readme, re.S) if "def verify" in block
    ]
    namespace: dict = {}
    exec(snippet, namespace)
    readme_verify = namespace["verify"]
    header = sign(SECRET, BODY, now=time.time())
    assert readme_verify(SECRET, header, BODY) is True
    assert readme_verify(SECRET, header, BODY + b" ") is False
    replayed = sign(SECRET, BODY, now=time.time() - 400)  # beyond the 300 s tolerance
    assert readme_verify(SECRET, replayed, BODY) is False
