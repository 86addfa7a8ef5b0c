"""A small, seeded generator of checkpoint traffic with known answers, for the demo and the
tests. (The full traffic simulator with its scenario mix is issue #3.)

Each shipment follows one of the main corridors into Hanoi. A chosen share detours through
a checkpoint off its declared route; :class:`Traffic` records which, as ground truth.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from schemas import (
    VIETNAM_TZ,
    CheckpointScanned,
    Direction,
    GoodsCategory,
    GoodsLine,
    Party,
    ShipmentDeclared,
    load_registry,
)

# Declared routes along the main corridors (checkpoint ids, in order).
CORRIDORS: dict[str, list[str]] = {
    "QL1A Lạng Sơn - Hà Nội": [
        "LS-HUUNGHI",
        "LS-CHILANG",
        "BN-BACGIANG",
        "BN-TUSON",
        "HN-DONGXUAN",
    ],
    "QL3 Cao Bằng - Hà Nội": ["CB-TALUNG", "TN-BACKAN", "TN-THAINGUYEN", "HN-NINHHIEP"],
    "CT05 Lào Cai - Hà Nội": ["LC-KIMTHANH", "LC-YENBAI", "PT-VIETTRI", "HN-DONGXUAN"],
    "QL18 Móng Cái - Hà Nội": [
        "QN-MONGCAI",
        "QN-UONGBI",
        "HP-HAIDUONG",
        "HY-PHONOI",
        "HN-NINHHIEP",
    ],
    "QL5 Hải Phòng - Hà Nội": ["HP-LACHHUYEN", "HP-HAIDUONG", "HY-PHONOI", "HN-DONGXUAN"],
}
# Where a detour goes: checkpoints far from every corridor above except their own.
DETOURS = ["TN-THAINGUYEN", "LS-TANTHANH", "NB-GIANKHAU", "QN-HOANHMO", "LS-DONGKINH"]

_GOODS = [
    ("2106", "Thực phẩm chức năng", GoodsCategory.DIETARY_SUPPLEMENTS),
    ("3004", "Thuốc tân dược", GoodsCategory.MEDICINE),
    ("3304", "Mỹ phẩm", GoodsCategory.COSMETICS),
    ("0207", "Thịt gà đông lạnh", GoodsCategory.MEAT_AND_LIVESTOCK),
    ("6109", "Áo phông cotton", GoodsCategory.CLOTHING),
    ("8517", "Điện thoại di động", GoodsCategory.ELECTRONICS),
    ("0810", "Trái cây tươi", GoodsCategory.FOOD),
]
AVERAGE_SPEED_KMH = 45.0


@dataclass
class Traffic:
    """Generated events, in event-time order, and the ground truth."""

    events: list[ShipmentDeclared | CheckpointScanned] = field(default_factory=list)
    deviating: set[str] = field(default_factory=set)  # shipment ids with an off-route scan
    shipments: list[str] = field(default_factory=list)


def generate(
    shipments: int,
    *,
    seed: int = 7,
    deviation_share: float = 0.2,
    start: datetime | None = None,
    prefix: str = "SHP",
) -> Traffic:
    """Generate ``shipments`` journeys; about ``deviation_share`` of them detour."""
    rng = random.Random(seed)
    registry = load_registry()
    start = start or datetime(2026, 11, 25, 6, 0, tzinfo=VIETNAM_TZ)
    traffic = Traffic()
    for n in range(shipments):
        shipment_id = f"{prefix}-{seed}-{n:06d}"
        corridor = rng.choice(sorted(CORRIDORS))
        route = CORRIDORS[corridor]
        t = start + timedelta(minutes=rng.randint(0, 24 * 60))
        code, desc, category = rng.choice(_GOODS)
        weight = rng.randint(500, 20_000)
        decl = ShipmentDeclared(
            event_id=f"{shipment_id}-decl",
            occurred_at=t,
            checkpoint_id=route[0],
            shipment_id=shipment_id,
            shipper=Party(party_id=f"P-{rng.randint(1, 400):04d}", name="Công ty TNHH Xuất khẩu"),
            consignee=Party(party_id=f"P-{rng.randint(401, 900):04d}", name="Hộ kinh doanh"),
            origin_country="CN",
            vehicle_plate=f"{rng.randint(11, 99)}C-{rng.randint(10000, 99999)}",
            driver_id=f"D-{rng.randint(1, 600):04d}",
            goods=[
                GoodsLine(
                    hs_code=code, description=desc, category=category,
                    quantity=rng.randint(10, 500), unit="thùng", weight_kg=weight,
                    value_vnd=weight * rng.randint(20_000, 400_000),
                )
            ],
            declared_route=route,
            destination_locality=registry.checkpoint(route[-1]).locality,
        )  # fmt: skip
        traffic.events.append(decl)
        traffic.shipments.append(shipment_id)
        stops = list(route)
        if rng.random() < deviation_share:
            detour = rng.choice([cp for cp in DETOURS if cp not in route])
            stops.insert(rng.randint(1, len(stops) - 1), detour)
            traffic.deviating.add(shipment_id)
        previous = stops[0]
        for i, checkpoint_id in enumerate(stops):
            hours = registry.road_distance_km(previous, checkpoint_id) / AVERAGE_SPEED_KMH
            t += timedelta(hours=hours, minutes=rng.randint(5, 40))
            previous = checkpoint_id
            traffic.events.append(
                CheckpointScanned(
                    event_id=f"{shipment_id}-scan-{i}",
                    occurred_at=t,
                    checkpoint_id=checkpoint_id,
                    shipment_id=shipment_id,
                    direction=Direction.INBOUND if i == 0 else Direction.PASSING,
                    observed_plate=decl.vehicle_plate,
                )
            )
    traffic.events.sort(key=lambda e: (e.occurred_at, e.event_id))
    return traffic
