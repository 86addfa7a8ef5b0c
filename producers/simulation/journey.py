"""One simulated shipment: its declaration and the stops where it is actually seen.

Scenarios (``scenarios.py``) bend a legitimate journey; ``events`` turns any journey into
contract-v1 events as plain dicts, in event-time order. Times are epoch seconds.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from producers.simulation.network import DESTINATIONS, Network
from schemas import VIETNAM_TZ

HEALTH = ("food", "medicine", "cosmetics", "dietary_supplements")
GOODS: tuple[tuple[str, str, str, int], ...] = (
    # (HS code, description, category, typical weight per unit in kg)
    ("210690", "Thực phẩm chức năng dạng viên", "dietary_supplements", 12),
    ("300490", "Thuốc tân dược đóng hộp", "medicine", 15),
    ("330499", "Kem dưỡng da", "cosmetics", 10),
    ("081090", "Trái cây tươi", "food", 25),
    ("190590", "Bánh kẹo các loại", "food", 14),
    ("020714", "Chân gà đông lạnh", "meat_and_livestock", 20),
    ("610910", "Áo phông cotton", "clothing", 18),
    ("851712", "Điện thoại di động", "electronics", 8),
    ("240220", "Thuốc lá điếu", "tobacco", 11),
    ("220830", "Rượu whisky", "alcohol", 16),
    ("940360", "Đồ gỗ nội thất", "other", 40),
)
ORIGINS_BY_ENTRY_KIND = {"border_gate": ("CN",), "port": ("CN", "TH", "KR", "JP", "SG", "US")}
AIR_ORIGINS = ("CN", "KR", "JP", "SG", "DE", "US", "FR")


@dataclass(frozen=True)
class Realism:
    """What real traffic has that the clean mix leaves out (``SimulationConfig.mix``)."""

    night_rest_share: float = 0.7  # trucks on the road in the evening that stop for the night
    night_rest_hours: tuple[float, float] = (6.0, 8.5)
    rest_start_hours: tuple[int, int] = (20, 23)  # local hour a night's rest starts
    gate_queue_hours: tuple[float, float] = (0.0, 3.0)  # on top of the clearance
    peak_queue_hours: tuple[float, float] = (12.0, 40.0)  # in the weeks before Tết
    plate_misread_rate: float = 0.02  # per scan: one character read wrong
    weighbridge_error: float = 0.02  # each weighing off by up to this, either way
    waypoint_share: float = 0.1  # declared routes through a consolidation stop and back
    domestic_share: float = 0.3  # goods made in Vietnam that never cross a border


# Tết (the lunar new year) by year: the gates queue for days in the three weeks before.
TET = {2026: (2, 17), 2027: (2, 6), 2028: (1, 26), 2029: (2, 13), 2030: (2, 3)}


def before_tet(ts: float) -> bool:
    """Whether ``ts`` (epoch seconds) falls in the three weeks before a Tết."""
    day = datetime.fromtimestamp(ts, VIETNAM_TZ).date()
    for year in (day.year, day.year + 1):
        if year in TET:
            tet = date(year, *TET[year])
            if 0 <= (tet - day).days <= 21:
                return True
    return False


@dataclass
class Stop:
    checkpoint_id: str
    at: float  # epoch seconds
    direction: str = "passing"
    weight_kg: float | None = None  # observed at a weighbridge
    missed: bool = False  # the station did not record the passage
    act: bool = False  # this scan is the suspicious act a scenario planted
    plate: str | None = None  # the plate read here, when not the journey's vehicle's
    misread: tuple[int, str] | None = None  # (position from the end, digit read there)
    seal: str = "intact"  # the seal as read here


@dataclass
class Journey:
    shipment_id: str
    declared_at: float
    declared_checkpoint: str
    declared_route: list[str]
    destination: str
    destination_locality: str
    origin_country: str
    goods: list[dict[str, Any]]
    shipper: dict[str, str]
    consignee: dict[str, str]
    vehicle_plate: str
    driver_id: str
    stops: list[Stop] = field(default_factory=list)
    extra_events: list[dict[str, Any]] = field(default_factory=list)  # inspections, seizures

    @property
    def declared_weight(self) -> float:
        return float(sum(g["weight_kg"] for g in self.goods))

    @property
    def categories(self) -> set[str]:
        return {g["category"] for g in self.goods}


def _party(
    rng: random.Random, prefix: str, pool: int, foreign: bool, namespace: str
) -> dict[str, str]:
    n = rng.randrange(pool)
    if foreign:
        return {
            "party_id": f"{namespace}CN-{prefix}{n:05d}",
            "name": f"Trading Co. {prefix}{n:05d}",
        }
    return {
        "party_id": f"{namespace}VN-{prefix}{n:05d}",
        "name": f"Công ty TNHH Thương mại {prefix}{n:05d}",
        "tax_code": f"01{n:08d}",
    }


def plan_journey(
    rng: random.Random,
    net: Network,
    shipment_id: str,
    start: float,
    *,
    missed_scan_rate: float,
    weighbridge_noise: float,
    entry: str | None = None,
    destination: str | None = None,
    health_goods: bool | None = None,
    origin: str | None = None,
    namespace: str = "",
    realism: Realism | None = None,
) -> Journey:
    """A legitimate journey: enter (or start inland for domestic goods), follow the
    shortest road route to a market, be scanned along the way. ``namespace`` prefixes the
    ids of parties, vehicles and drivers (runs sharing a worker then share none)."""
    domestic_share = 0.15 if realism is None else realism.domestic_share
    domestic = entry is None and rng.random() < domestic_share
    if entry is None:
        entry = rng.choice(net.inland) if domestic else _pick_entry(rng, net)
    destination = destination or rng.choice([d for d in DESTINATIONS if d != entry])
    route = net.route(entry, destination)
    if realism is not None and rng.random() < realism.waypoint_share:
        route = _via_waypoint(rng, net, route)
    kind = net.registry.checkpoint(entry).kind.value
    if origin is None:
        origin = (
            "VN"
            if domestic or kind not in ("border_gate", "port", "airport")
            else rng.choice(ORIGINS_BY_ENTRY_KIND.get(kind, AIR_ORIGINS))
        )
    choices = [g for g in GOODS if health_goods is None or (g[2] in HEALTH) == health_goods]
    hs, desc, category, unit_kg = rng.choice(choices)
    units = rng.randint(20, 600)
    weight = round(units * unit_kg * rng.uniform(0.9, 1.1), 1)
    value = int(weight * rng.randint(40, 900) * 1000)
    journey = Journey(
        shipment_id=shipment_id,
        declared_at=start,
        declared_checkpoint=route[0],
        declared_route=route,
        destination=destination,
        destination_locality=net.registry.checkpoint(destination).locality,
        origin_country=origin,
        goods=[{
            "hs_code": hs, "description": desc, "category": category, "quantity": units,
            "unit": "thùng", "weight_kg": weight, "value_vnd": value,
        }],
        shipper=_party(rng, "S", 3000, foreign=origin != "VN", namespace=namespace),
        consignee=_party(rng, "C", 5000, foreign=False, namespace=namespace),
        vehicle_plate=f"{namespace}{rng.randint(11, 99)}C-{rng.randint(10000, 99999)}",
        driver_id=f"{namespace}DRV-{rng.randrange(8000):05d}",
    )  # fmt: skip
    # Border clearance takes hours; then the truck drives at 35 to 60 km/h with short stops.
    t = start + rng.uniform(600, 3600)
    clearance = rng.uniform(3600, 6 * 3600) if route[0] in net.entries else 0.0
    if realism is not None and route[0] in net.entries:
        clearance = max(0.0, clearance - 3600) + rng.uniform(*realism.gate_queue_hours) * 3600
        if before_tet(t):
            clearance += rng.uniform(*realism.peak_queue_hours) * 3600
    previous = route[0]
    rested_on = -1  # the day (local) of the last night's rest
    for i, checkpoint in enumerate(route):
        if i == 1:
            t += clearance
        if realism is not None and i > 0:
            t, rested_on = _maybe_rest(rng, realism, t, rested_on)
        t += net.km(previous, checkpoint) / rng.uniform(35, 60) * 3600 + rng.uniform(300, 2400)
        previous = checkpoint
        journey.stops.append(
            Stop(
                checkpoint,
                t,
                direction="inbound" if i == 0 else "passing",
                weight_kg=_weigh(rng, net, checkpoint, weight, weighbridge_noise, realism),
                missed=0 < i < len(route) - 1 and rng.random() < missed_scan_rate,
                misread=_misread(rng, realism),
            )
        )
    return journey


def _maybe_rest(
    rng: random.Random, realism: Realism, t: float, rested_on: int
) -> tuple[float, int]:
    """A driver leaving at night after ``t`` stops for the night first (at most once a
    night), as the road traffic law requires and most drivers do."""
    local = datetime.fromtimestamp(t, VIETNAM_TZ)
    first, last = realism.rest_start_hours
    day = local.toordinal()
    if first <= local.hour <= last and day != rested_on:
        if rng.random() < realism.night_rest_share:
            return t + rng.uniform(*realism.night_rest_hours) * 3600, day
        return t, day
    return t, rested_on


def _via_waypoint(rng: random.Random, net: Network, route: list[str]) -> list[str]:
    """The declared route through an inland stop in another province and back (a
    consolidation warehouse): Nội Bài -> Bắc Ninh -> Hà Nội markets, say."""
    end = route[-1]
    locality = net.registry.checkpoint(end).locality
    stops = [
        cp for cp in net.inland
        if net.registry.checkpoint(cp).locality != locality and 15 <= net.km(cp, end) <= 80
    ]  # fmt: skip
    if not stops or len(route) < 2:
        return route
    waypoint = rng.choice(stops)
    there = net.route(route[0], waypoint)
    back = net.route(waypoint, end)[1:]
    if end in there or set(there) & set(back):
        return route
    return there + back


def _misread(rng: random.Random, realism: Realism | None) -> tuple[int, str] | None:
    """Now and then a camera or an officer reads one digit of the plate wrong: which one
    (counted from the end: the plate is known when the scan is written) and as what."""
    if realism is None or rng.random() >= realism.plate_misread_rate:
        return None  # read right
    return rng.randint(1, 5), rng.choice("0123456789")


def read_plate(stop: Stop, plate: str) -> str:
    """The plate a scan at ``stop`` reads on a truck with ``plate``."""
    if stop.plate is not None:
        return stop.plate
    if stop.misread is None:
        return plate
    back, digit = stop.misread
    i = len(plate) - back
    if i < 0 or not plate[i].isdigit() or plate[i] == digit:
        return plate
    return plate[:i] + digit + plate[i + 1 :]


def _pick_entry(rng: random.Random, net: Network) -> str:
    # Lạng Sơn's gates carry most of the overland trade.
    weights = {"LS-HUUNGHI": 6, "LS-TANTHANH": 4, "LS-DONGDANG": 2, "LS-CHIMA": 2}
    entries = list(net.entries)
    return rng.choices(entries, weights=[weights.get(e, 1) for e in entries])[0]


def _weigh(
    rng: random.Random,
    net: Network,
    checkpoint: str,
    true_weight: float,
    noise: float,
    realism: Realism | None = None,
) -> float | None:
    if not net.has_weighbridge(checkpoint):
        return None
    if realism is not None:  # weighbridges off by up to a few percent, either way
        error = realism.weighbridge_error
        return round(true_weight * (1 + rng.uniform(-error, error)), 1)
    return round(true_weight * (1 + rng.gauss(0, noise)), 1)


def scan_event_id(event_id: Any, shipment_id: str, stop_index: int) -> str:
    return str(event_id(shipment_id, f"s{stop_index}"))


def declaration_event_id(event_id: Any, shipment_id: str) -> str:
    return str(event_id(shipment_id, "d"))


def events(journey: Journey, fmt_time: Any, event_id: Any) -> list[tuple[float, dict[str, Any]]]:
    """The journey's events as (epoch seconds, event dict), declaration first."""
    sid = journey.shipment_id
    out: list[tuple[float, dict[str, Any]]] = [
        (journey.declared_at, {
            "event_id": declaration_event_id(event_id, sid), "event_type": "shipment.declared",
            "occurred_at": fmt_time(journey.declared_at),
            "checkpoint_id": journey.declared_checkpoint, "shipment_id": sid,
            "shipper": journey.shipper, "consignee": journey.consignee,
            "origin_country": journey.origin_country, "vehicle_plate": journey.vehicle_plate,
            "driver_id": journey.driver_id, "goods": journey.goods,
            "declared_route": journey.declared_route,
            "destination_locality": journey.destination_locality,
        })
    ]  # fmt: skip
    for n, stop in enumerate(journey.stops):
        if stop.missed:
            continue
        scan: dict[str, Any] = {
            "event_id": scan_event_id(event_id, sid, n), "event_type": "checkpoint.scanned",
            "occurred_at": fmt_time(stop.at), "checkpoint_id": stop.checkpoint_id,
            "shipment_id": sid, "direction": stop.direction,
            "observed_plate": read_plate(stop, journey.vehicle_plate), "seal_status": stop.seal,
        }  # fmt: skip
        if stop.weight_kg is not None:
            scan["observed_weight_kg"] = stop.weight_kg
        out.append((stop.at, scan))
    for extra in journey.extra_events:
        out.append((extra["_at"], {k: v for k, v in extra.items() if k != "_at"}))
    return out
