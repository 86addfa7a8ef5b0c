"""How an alert reads at a terminal."""

from datetime import UTC, datetime

from schemas import Alert, AlertStatus, Evidence, Rule, load_registry
from streams.delivery.cli import render

REG = load_registry()


AT = datetime(2026, 11, 25, 1, tzinfo=UTC)


def _alert(status=AlertStatus.OPEN):
    evidence = [
        Evidence(
            event_id="E1", checkpoint_id="LS-HUUNGHI", occurred_at=AT,
            detail="nearest declared checkpoint LS-CHILANG", late=True,
        )
    ]  # fmt: skip
    return Alert(
        alert_id="ALR-1", revision=2, status=status, rule=Rule.ROUTE_DEVIATION, severity=70,
        severity_factors={"off_route_scan": 70}, shipment_id="SHP-1", localities=["LS", "HN"],
        evidence=evidence if status == AlertStatus.OPEN else [],
        explanation_vi="Lô hàng lệch tuyến", explanation_en="Shipment off route", raised_at=AT,
    )  # fmt: skip


def test_vietnamese_with_diacritics_in_vietnam_time():
    text = render(_alert(), REG, "vi")
    assert "25/11/2026 08:00 (UTC+7)" in text  # 01:00 UTC
    assert "Lạng Sơn, Hà Nội" in text and "Lô hàng lệch tuyến" in text
    assert "Cửa khẩu quốc tế Hữu Nghị (muộn)" in text and "ALR-1 r2" in text


def test_english_unaccented_and_a_withdrawal_says_so():
    text = render(_alert(), REG, "en")
    assert "Lang Son, Ha Noi" in text and "Shipment off route" in text and "(late)" in text
    assert "WITHDRAWN" in render(_alert(AlertStatus.WITHDRAWN), REG, "en")
    assert "RÚT LẠI" in render(_alert(AlertStatus.WITHDRAWN), REG, "vi")
