"""Factories for events with sensible defaults and unique ids (tests share one stack)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from schemas import (
    VIETNAM_TZ,
    Alert,
    CaseAction,
    CaseOutcome,
    CaseStep,
    CheckpointScanned,
    CorrectionReason,
    Direction,
    EventCorrected,
    GoodsCategory,
    GoodsLine,
    Party,
    SeizureReason,
    SeizureRecorded,
    ShipmentDeclared,
)

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=VIETNAM_TZ)
ROUTE = ["LS-HUUNGHI", "LS-CHILANG", "BN-BACGIANG", "BN-TUSON", "HN-DONGXUAN"]


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def unique(prefix: str = "T") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def declaration(**overrides: Any) -> ShipmentDeclared:
    fields: dict[str, Any] = {
        "event_id": unique("EV"),
        "occurred_at": T0,
        "checkpoint_id": ROUTE[0],
        "shipment_id": unique("SHP"),
        # parties, vehicle and driver of their own: a seizure in one test links no other
        "shipper": Party(party_id=unique("P"), name="Công ty TNHH Thương mại Biên Giới"),
        "consignee": Party(
            party_id=unique("P"), name="Hộ kinh doanh Đồng Xuân", tax_code="0101234567"
        ),
        "origin_country": "CN",
        "vehicle_plate": f"12C-{uuid.uuid4().hex[:10]}",
        "driver_id": unique("D"),
        "goods": [
            GoodsLine(
                hs_code="2106",
                description="Thực phẩm chức năng",
                category=GoodsCategory.DIETARY_SUPPLEMENTS,
                quantity=Decimal(120),
                unit="thùng",
                weight_kg=Decimal(1800),
                value_vnd=Decimal(540_000_000),
            )
        ],
        "declared_route": ROUTE,
        "destination_locality": "HN",
    }
    fields.update(overrides)
    return ShipmentDeclared(**fields)


def scan(
    shipment_id: str, checkpoint_id: str, minutes: int = 60, **overrides: Any
) -> CheckpointScanned:
    fields: dict[str, Any] = {
        "event_id": unique("EV"),
        "occurred_at": T0 + timedelta(minutes=minutes),
        "checkpoint_id": checkpoint_id,
        "shipment_id": shipment_id,
        "direction": Direction.PASSING,
        # no plate read: tests of vehicle_swap give the plate they mean
    }
    fields.update(overrides)
    return CheckpointScanned(**fields)


def correction(target: Any, minutes: int = 400, **overrides: Any) -> EventCorrected:
    fields: dict[str, Any] = {
        "event_id": unique("EV"),
        "occurred_at": T0 + timedelta(minutes=minutes),
        "checkpoint_id": target.checkpoint_id,
        "shipment_id": target.shipment_id,
        "corrected_event_id": target.event_id,
        "reason": CorrectionReason.DID_NOT_OCCUR,
    }
    fields.update(overrides)
    return EventCorrected(**fields)


def seizure(of: ShipmentDeclared, minutes: int = 120, **overrides: Any) -> SeizureRecorded:
    """A seizure of the shipment ``of`` declared, implicating its parties, vehicle and
    driver, ``minutes`` after T0 at its first declared checkpoint."""
    fields: dict[str, Any] = {
        "event_id": unique("EV"),
        "occurred_at": T0 + timedelta(minutes=minutes),
        "checkpoint_id": of.declared_route[0],
        "shipment_id": of.shipment_id,
        "seizure_id": unique("BB"),
        "reason": SeizureReason.COUNTERFEIT,
        "goods": [{"category": GoodsCategory.MEDICINE, "quantity": 10, "unit": "thùng"}],
        "parties_implicated": [of.shipper, of.consignee],
        "vehicle_plate": of.vehicle_plate,
        "driver_id": of.driver_id,
    }
    fields.update(overrides)
    return SeizureRecorded(**fields)


# Case steps happen in wall-clock time; a fixed one keeps tests reproducible.
CASE_T0 = datetime(2026, 11, 25, 9, 0, tzinfo=VIETNAM_TZ)


def case_step(
    of: Alert, action: CaseAction | str, minutes: float = 0, **overrides: Any
) -> CaseStep:
    """A task force's step on the alert ``of``, ``minutes`` after CASE_T0 (a close is confirmed,
    a transfer goes to Hai Phong with a note, unless told otherwise)."""
    action = CaseAction(action)
    fields: dict[str, Any] = {
        "step_id": unique("CASE"),
        "alert_id": of.alert_id,
        "shipment_id": of.shipment_id,
        "rule": of.rule,
        "action": action,
        "actor": "Nguyễn Văn An",
        "via": "cli:test",
        "at": CASE_T0 + timedelta(minutes=minutes),
    }
    if action == CaseAction.CLOSE:
        fields["outcome"] = CaseOutcome.CONFIRMED
    if action == CaseAction.TRANSFER:
        fields |= {"to_locality": "HP", "note": "Hàng đi tiếp về cảng Hải Phòng"}
    fields.update(overrides)
    return CaseStep(**fields)
