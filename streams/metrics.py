"""Prometheus metrics of goodsflow's long-running processes (the worker, the delivery
process): a registry of their own and an HTTP endpoint serving it.

Each process keeps its metrics in a registry it creates (:func:`new_registry`), never in
prometheus_client's global default one: what a process exposes is then exactly what it
registered, two registries in one test process do not collide, and a unit test can read a
registry without a server (``prometheus_client.generate_latest(registry)``).

Names follow ``goodsflow_<process>_<what>_<unit>`` (:func:`metric_name`), the unit a plural
base unit (``seconds``, ``bytes``, ``records``); counters leave the unit out when they count
the thing named, and prometheus_client adds ``_total``::

    goodsflow_delivery_records_read_total{topic="alerts"}
    goodsflow_delivery_latency_seconds_bucket{kind="alert",le="0.5"}

The endpoint is prometheus_client's WSGI server in a daemon thread, so it answers while
the asyncio loop is busy and needs nothing from it. In an asyncio program::

    registry = new_registry()
    read = Counter(metric_name("worker", "records_read"), "Records read.", ["topic"],
                   registry=registry)
    async with metrics_served(registry, "127.0.0.1", 9464) as server:
        log.info("metrics on %s", server.url)
        await run()  # stopped, and the port freed, when this returns or raises

or without asyncio: ``stop = serve_metrics(registry, host, port)`` ... ``stop()`` (the
server is callable; ``stop.port`` is the port bound, ``stop.url`` the address).
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, GCCollector, ProcessCollector, start_http_server

from schemas import GoodsflowError

_NAME_PART = re.compile(r"^[a-z][a-z0-9_]*$")


class MetricsError(GoodsflowError):
    """The metrics endpoint could not be started (the port is taken, the host unknown)."""


def new_registry(*, process_metrics: bool = True) -> CollectorRegistry:
    """A registry of a process's own; with ``process_metrics``, the standard ``process_*``
    (CPU, memory, open files) and ``python_gc_*`` metrics too."""
    registry = CollectorRegistry()
    if process_metrics:
        ProcessCollector(registry=registry)
        GCCollector(registry=registry)
    return registry


def metric_name(process: str, what: str, unit: str = "") -> str:
    """``goodsflow_<process>_<what>_<unit>``, each part lower-case snake case.

    Example:
        >>> metric_name("delivery", "latency", "seconds")
        'goodsflow_delivery_latency_seconds'
    """
    parts = [p for p in (process, what, unit) if p]
    for part in parts:
        if not _NAME_PART.match(part):
            raise ValueError(f"metric name part {part!r} is not lower-case snake case")
    return "_".join(["goodsflow", *parts])


@dataclass
class MetricsServer:
    """A running metrics endpoint; ``port`` is the one bound (useful when asked for 0).
    Calling it stops it."""

    host: str
    port: int
    _server: WSGIServer
    _thread: threading.Thread

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def stop(self) -> None:
        """Stop serving and free the port (blocks up to half a second; idempotent)."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()

    __call__ = stop  # the server is its own stop callable


def serve_metrics(registry: CollectorRegistry, host: str, port: int) -> MetricsServer:
    """Serve ``registry`` at ``http://host:port/metrics`` (any path answers) from a daemon
    thread until the returned server is stopped (called, or :meth:`MetricsServer.stop`).
    ``port`` 0 takes a free port.

    Raises:
        MetricsError: the port is taken or the host cannot be bound.
    """
    try:
        server, thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise MetricsError(
            f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}"
        ) from None
    return MetricsServer(host, server.server_port, server, thread)


@asynccontextmanager
async def metrics_served(
    registry: CollectorRegistry, host: str, port: int
) -> AsyncIterator[MetricsServer]:
    """:func:`serve_metrics` for the duration of an ``async with`` block; stopping does not
    block the event loop."""
    server = serve_metrics(registry, host, port)
    try:
        yield server
    finally:
        await asyncio.shield(asyncio.to_thread(server.stop))
