"""A small graph for the query tests (integration and end-to-end), written straight to
Neo4j by the writer: shipment A with a retracted passage and an off-route alert, B sharing
A's driver and seized, C consigned to B's consignee."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from graph.writer import Neo4jGraphWriter
from schemas import VIETNAM_TZ, Alert, Event, ShipmentDeclared, load_registry
from streams import load_detection_config, process
from tests import factories
from tests.factories import ROUTE, correction, declaration, scan, seizure


def private_start() -> datetime:
    """A start in event time no other test and no earlier run writes near: after every
    run's windows through the worker (tests/conftest.py keeps those before today), within
    the years the worker believes (2000 to 2099), at one of 25,000 days."""
    days = random.SystemRandom().randrange(25_000)  # never the seeded global generator
    return datetime(2030, 1, 1, tzinfo=VIETNAM_TZ) + timedelta(days=days)


@dataclass
class World:
    t0: datetime
    a: ShipmentDeclared
    b: ShipmentDeclared
    c: ShipmentDeclared
    a_events: list[Event]
    retracted: Event
    caught: Event
    alerts: list[Alert]


def build_world(neo4j_driver: Any, settings: Any, monkeypatch: Any) -> World:
    """Write the world in a window of event time of its own, far from every other test's
    and every earlier run's (queries over a window see the whole graph; the worker's clock
    does not matter, nothing goes through Kafka)."""
    t0 = private_start()
    monkeypatch.setattr(factories, "T0", t0)
    registry = load_registry()
    writer = Neo4jGraphWriter(neo4j_driver, settings.neo4j.database)
    writer.init_schema(registry)
    a = declaration()
    a_scans = [scan(a.shipment_id, cp, 90 * i) for i, cp in enumerate(ROUTE)]
    off = scan(a.shipment_id, "TN-THAINGUYEN", 600)  # off route: an alert
    retracted = a_scans[2]
    fix = correction(retracted, minutes=700)
    a_events: list[Event] = [a, *a_scans, off, fix]
    state, alerts = None, []
    for ev in a_events:
        outcome = process(state, ev, load_detection_config(), registry)
        state, alerts = outcome.state, alerts + outcome.alerts
    b = declaration(driver_id=a.driver_id)  # shares A's driver
    caught = seizure(b, minutes=200)  # B's vehicle, driver and parties implicated
    c = declaration(consignee=b.consignee, goods=a.goods)
    b_events = [b, scan(b.shipment_id, ROUTE[0], 100), caught]
    c_events = [c, scan(c.shipment_id, ROUTE[0], 30), scan(c.shipment_id, ROUTE[1], 120)]
    writer.write([*a_events, *b_events, *c_events], alerts)
    return World(t0, a, b, c, a_events, retracted, caught, alerts)
