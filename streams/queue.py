"""Each locality's risk queue: its open alerts ranked by one risk score per shipment, cut at
a daily capacity, with a small random share of unflagged shipments (docs/DETECTION.md).

A task force cannot work every alert: on a busy corridor high_risk_corridor alone flags
close to half of the health-goods traffic. The queue ranks shipments, not alerts:

- the rules that fired on a shipment combine as independent findings: risk is
  ``1 - prod(1 - severity / 100)`` over its open alerts but high_risk_corridor;
- high_risk_corridor is a factor: it raises another finding's risk by ``corridor_boost``
  of what is left to 1, and on its own counts ``corridor_alone`` of its severity, so it
  enters the queue only where the day's capacity leaves room;
- each locality takes the ``capacity_per_day`` riskiest shipments of each day (Vietnam
  time) whose alerts involve it;
- a ``random_share`` of the shipments through the locality that day with no alert is
  added, chosen by a hash of the shipment id and the day (the same answer on every run):
  the random floor of customs selectivity, so the rules themselves can be measured.

Pure: alerts in, queues out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from schemas import VIETNAM_TZ, Alert, AlertStatus, Rule
from streams.config import QueueConfig


@dataclass(frozen=True)
class Queued:
    """One shipment in a locality's queue for a day."""

    shipment_id: str
    risk: float  # 0 to 1
    rules: tuple[str, ...]  # of its open alerts, most severe first
    alert_ids: tuple[str, ...]
    sampled: bool = False  # in the queue by the random floor, with no alert


def shipment_risk(alerts: Sequence[Alert], cfg: QueueConfig) -> float:
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


def day_of(alert: Alert) -> date:
    """The day (Vietnam time) an alert belongs to in the queues: when it was raised."""
    return alert.raised_at.astimezone(VIETNAM_TZ).date()


def sampled(shipment_id: str, day: date, share: float) -> bool:
    """Whether the random floor takes ``shipment_id`` on ``day`` (deterministic)."""
    digest = hashlib.sha256(f"{day.isoformat()}|{shipment_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") < share * 2**64


def daily_queues(
    alerts: Iterable[Alert],
    locality: str,
    cfg: QueueConfig,
    traffic: dict[date, set[str]] | None = None,
) -> dict[date, list[Queued]]:
    """``locality``'s queue for each day: the latest revision of each alert given, by
    shipment; ``traffic`` (the shipments through the locality each day) feeds the random
    floor."""
    latest: dict[str, Alert] = {}
    for alert in alerts:
        if locality in alert.localities:
            known = latest.get(alert.alert_id)
            if known is None or alert.revision >= known.revision:
                latest[alert.alert_id] = alert
    by_day: dict[date, dict[str, list[Alert]]] = {}
    first_day: dict[str, date] = {}
    for alert in latest.values():
        if alert.status != AlertStatus.OPEN:
            continue
        day = day_of(alert)
        first_day[alert.shipment_id] = min(first_day.get(alert.shipment_id, day), day)
    for alert in latest.values():
        if alert.status == AlertStatus.OPEN:
            day = first_day[alert.shipment_id]
            by_day.setdefault(day, {}).setdefault(alert.shipment_id, []).append(alert)
    queues: dict[date, list[Queued]] = {}
    for day in sorted(set(by_day) | set(traffic or {})):
        ranked = []
        for sid, found in by_day.get(day, {}).items():
            found.sort(key=lambda a: (-a.severity, a.rule.value))
            ranked.append(
                Queued(
                    sid,
                    round(shipment_risk(found, cfg), 6),
                    tuple(a.rule.value for a in found),
                    tuple(a.alert_id for a in found),
                )
            )
        ranked.sort(key=lambda q: (-q.risk, q.shipment_id))
        chosen = ranked[: cfg.capacity_per_day]
        for sid in sorted((traffic or {}).get(day, set()) - first_day.keys()):
            if sampled(sid, day, cfg.random_share):
                chosen.append(Queued(sid, 0.0, (), (), sampled=True))
        queues[day] = chosen
    return queues
