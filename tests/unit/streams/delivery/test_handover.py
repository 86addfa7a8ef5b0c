"""Handovers: a transfer reaches the receiving locality's subscriptions (whatever the
severity, within their rules), signed, with a delivery id of its own, the note and the
alert in the body; and reads at a terminal in Vietnamese and English."""

from __future__ import annotations

import asyncio
import json

import pytest
from pydantic import ValidationError

from schemas import Rule, load_registry
from streams.delivery import verify
from streams.delivery.cli import render_handover
from streams.delivery.dispatcher import Delivery, RetryPolicy, WebhookDispatcher
from streams.delivery.signing import HEADER
from tests.factories import case_step
from tests.unit.streams.delivery.test_dispatcher import _alert, _sub

REG = load_registry()
FAST = RetryPolicy(max_tries=2, base_s=0.001, cap_s=0.002)


def test_a_transfer_goes_to_the_receiving_locality_only_and_whatever_the_severity():
    alert = _alert(1, localities=("LS", "HN"))  # severity 60
    step = case_step(
        alert, "transfer", to_locality="HP", from_locality="LS", note="Hàng về cảng", alert=alert
    )
    hp_team = _sub("hp").model_copy(update={"locality": "HP", "min_severity": 90})
    hp_other_rules = _sub("hpw").model_copy(
        update={"locality": "HP", "rules": [Rule.WEIGHT_CHANGE]}
    )
    ls_team = _sub("ls")  # LS had it: an alert's own subscriptions get no handover
    got: list[Delivery] = []

    async def send(delivery: Delivery) -> None:
        verify(delivery.subscription.secret, delivery.headers()[HEADER], delivery.body)
        got.append(delivery)

    async def dead(*_):
        raise AssertionError("nothing should be dead-lettered")

    async def scenario():
        d = WebhookDispatcher([hp_team, hp_other_rules, ls_team], send, dead, FAST)
        futures = await d.submit_handover(step)
        assert len(futures) == 1
        await asyncio.gather(*futures)
        # an acknowledgement or a close hands nothing over; nor a transfer without its alert
        assert await d.submit_handover(step.model_copy(update={"alert": None})) == []
        await d.close()

    asyncio.run(scenario())
    (delivery,) = got
    assert delivery.subscription.id == "SUB-hp" and delivery.kind == "handover"
    headers = delivery.headers()
    assert headers["X-Goodsflow-Kind"] == "handover"
    assert headers["X-Goodsflow-Alert-Id"] == alert.alert_id
    as_alert = Delivery(hp_team, alert, b"")
    assert delivery.delivery_id != as_alert.delivery_id  # a repeat of neither hides the other
    assert delivery.delivery_id == Delivery(hp_team, alert, b"", step.step_id).delivery_id
    body = json.loads(delivery.body)
    assert body["kind"] == "handover" and "alert" not in body["step"]
    assert body["step"]["note"] == "Hàng về cảng" and body["step"]["to_locality"] == "HP"
    assert body["alert"] == json.loads(alert.model_dump_json())


def test_a_step_that_carries_another_alert_is_refused():
    with pytest.raises(ValidationError, match="the alert carried is"):
        case_step(_alert(1), "transfer", alert=_alert(2))


def test_a_handover_at_a_terminal():
    alert = _alert(1, localities=("LS", "HN"))
    step = case_step(alert, "transfer", to_locality="HP", note="Hàng về cảng", alert=alert)
    vi = render_handover(step, REG, "vi").splitlines()
    assert vi[0] == "==> 25/11/2026 09:00 (UTC+7) CHUYỂN GIAO LS, HN -> Hải Phòng: Nguyễn Văn An"
    assert vi[1] == "    Hàng về cảng" and alert.alert_id in vi[2]
    moved_on = step.model_copy(update={"from_locality": "HP", "to_locality": "QN"})
    en = render_handover(moved_on, REG, "en").splitlines()
    assert en[0] == "==> 25/11/2026 09:00 (UTC+7) HANDOVER Hai Phong -> Quang Ninh: Nguyễn Văn An"
