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


def test_the_readme_example_receiver_takes_what_goodsflow_sends(capsys):
    """The README's whole receiver, on a real local port, fed by goodsflow's own deliveries:
    alerts and handovers verified and read once each, anything unsigned or altered refused."""
    import re
    import threading
    import urllib.error
    import urllib.request
    from http.server import HTTPServer
    from pathlib import Path

    from streams.delivery.dispatcher import Delivery, handover_body
    from tests.factories import case_step
    from tests.unit.streams.delivery.test_dispatcher import _alert, _sub

    readme = (Path(__file__).parents[4] / "README.md").read_text(encoding="utf-8")
    (snippet,) = [b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if "def verify" in b]
    namespace: dict = {"__name__": "readme_receiver"}
    exec(snippet, namespace)
    subscription = _sub("hp", locality="HP")
    namespace["SECRET"] = subscription.secret
    server = HTTPServer(("127.0.0.1", 0), namespace["Receiver"])
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"

    def post(body: bytes, headers: dict[str, str]) -> int:
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    alert = _alert(7, localities=("LS",))
    as_alert = Delivery(subscription, alert, alert.model_dump_json().encode())
    step = case_step(alert, "transfer", to_locality="HP", note="Nhờ Hải Phòng", alert=alert)
    handover = Delivery(subscription, alert, handover_body(step), handover=step.step_id)
    try:
        assert post(as_alert.body, as_alert.headers()) == 204
        assert post(as_alert.body, as_alert.headers()) == 204  # a repeat: accepted, read once
        assert post(handover.body, handover.headers()) == 204
        assert post(as_alert.body + b" ", as_alert.headers()) == 401  # altered
        unsigned = {k: v for k, v in as_alert.headers().items() if k != "X-Goodsflow-Signature"}
        assert post(as_alert.body, unsigned) == 401
        garbled = {**as_alert.headers(), "X-Goodsflow-Signature": "nonsense"}
        assert post(as_alert.body, garbled) == 401
    finally:
        server.shutdown()
    printed = capsys.readouterr().out.splitlines()
    assert printed == ["60 vi", "handed over: Nhờ Hải Phòng | vi"]
