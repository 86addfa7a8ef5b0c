"""Each locality's risk queue: its open alerts ranked by one risk score per shipment, cut at
a daily capacity, with a small random share of unflagged shipments (docs/DETECTION.md).

A task force cannot work every alert: on a busy corridor high_risk_corridor alone flags
close to half of the health-goods traffic. The queue ranks shipments, not alerts:

- the rules that fired on a shipment combine as independent findings: risk is
  ``1 - prod(1 - severity / 100)`` over its open alerts but high_risk_corridor;
- high_risk_corridor is a factor: it raises another finding's risk by ``corridor_boost``
  of what is left to 1, and on its own counts ``corridor_alone`` of its severity, so it
  enters the queue only where the day's capacity leaves room;
- each locality takes, each day (Vietnam time), the ``capacity_per_day`` riskiest of the
  shipments with an open alert involving it raised that day, each scored by its open alerts
  raised up to the day's end (a shipment with new findings on a later day comes again,
  scored with them);
- a ``random_share`` of the shipments through the locality that day with no alert by the
  day's end is added, chosen by a hash of the shipment id and the day (the same answer on
  every run): the random floor of customs selectivity, so the rules themselves can be
  measured.

Pure: alerts in, queues out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from schemas import VIETNAM_TZ, AlertStatus, Rule
from streams.config import QueueConfig


class Ranked(Protocol):
    """What the queue reads of an alert: detection's (schemas.Alert) or the graph's record
    of it (graph.results.AlertRecord)."""

    @property
    def alert_id(self) -> str: ...
    @property
    def revision(self) -> int: ...
    @property
    def shipment_id(self) -> str: ...
    @property
    def rule(self) -> str: ...
    @property
    def severity(self) -> int: ...
    @property
    def status(self) -> str: ...
    @property
    def raised_at(self) -> datetime: ...
    @property
    def localities(self) -> Sequence[str]: ...


@dataclass(frozen=True)
class Queued:
    """One shipment in a locality's queue for a day."""

    shipment_id: str
    risk: float  # 0 to 1
    rules: tuple[str, ...]  # of its open alerts, most severe first
    alert_ids: tuple[str, ...]
    sampled: bool = False  # in the queue by the random floor, with no alert


def shipment_risk(alerts: Sequence[Ranked], cfg: QueueConfig) -> float:
    """One shipment's risk from its open alerts (the module's docstring)."""
    rest, corridor = 1.0, 0.0
    found = False
    for alert in alerts:
        if alert.status != AlertStatus.OPEN:
            continue
        if alert.rule == Rule.HIGH_RISK_CORRIDOR:
            corridor = max(corridor, alert.severity / 100)
        else:
            rest *= 1 - alert.severity / 100
            found = True
    if not found:
        return cfg.corridor_alone * corridor
    risk = 1 - rest
    return risk + (1 - risk) * cfg.corridor_boost * corridor


def day_of(alert: Ranked) -> date:
    """The day (Vietnam time) an alert belongs to in the queues: when it was raised."""
    return alert.raised_at.astimezone(VIETNAM_TZ).date()


def sampled(shipment_id: str, day: date, share: float) -> bool:
    """Whether the random floor takes ``shipment_id`` on ``day`` (deterministic)."""
    digest = hashlib.sha256(f"{day.isoformat()}|{shipment_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") < share * 2**64


def daily_queues(
    alerts: Iterable[Ranked],
    locality: str,
    cfg: QueueConfig,
    traffic: dict[date, set[str]] | None = None,
) -> dict[date, list[Queued]]:
    """``locality``'s queue for each day: the shipments with an open alert raised that day
    (the latest revision of each alert given), each by its open alerts raised up to that
    day's end; ``traffic`` (the shipments through the locality each day) feeds the random
    floor."""
    latest: dict[str, Ranked] = {}
    for alert in alerts:
        if locality in alert.localities:
            known = latest.get(alert.alert_id)
            if known is None or alert.revision >= known.revision:
                latest[alert.alert_id] = alert
    by_shipment: dict[str, list[Ranked]] = {}
    for alert in latest.values():
        if alert.status == AlertStatus.OPEN:
            by_shipment.setdefault(alert.shipment_id, []).append(alert)
    by_day: dict[date, dict[str, list[Ranked]]] = {}  # a day's shipments: their alerts so far
    first_day: dict[str, date] = {}
    for sid, found in by_shipment.items():
        dated = [(day_of(a), a) for a in found]
        first_day[sid] = min(day for day, _ in dated)
        for day in {day for day, _ in dated}:
            by_day.setdefault(day, {})[sid] = [a for d, a in dated if d <= day]
    queues: dict[date, list[Queued]] = {}
    for day in sorted(set(by_day) | set(traffic or {})):
        ranked = []
        for sid, found in by_day.get(day, {}).items():
            found.sort(key=lambda a: (-a.severity, str(a.rule)))
            ranked.append(
                Queued(
                    sid,
                    round(shipment_risk(found, cfg), 6),
                    tuple(str(a.rule) for a in found),
                    tuple(a.alert_id for a in found),
                )
            )
        ranked.sort(key=lambda q: (-q.risk, q.shipment_id))
        chosen = ranked[: cfg.capacity_per_day]
        flagged = {sid for sid, first in first_day.items() if first <= day}  # by that day
        for sid in sorted((traffic or {}).get(day, set()) - flagged):
            if sampled(sid, day, cfg.random_share):
                chosen.append(Queued(sid, 0.0, (), (), sampled=True))
        queues[day] = chosen
    return queues
