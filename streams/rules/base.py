"""What every rule returns, what a judgement computes once for all rules, and small helpers
they share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar
from weakref import WeakKeyDictionary

from schemas import CheckpointKind, Evidence, GoodsCategory, Registry, Rule
from streams.config import DetectionConfig
from streams.context import DetectionContext
from streams.state import Declaration, Scan, ShipmentState


@dataclass(frozen=True)
class Finding:
    """What a rule found: the facts an alert is built from."""

    rule: Rule
    evidence: list[Evidence]
    severity_factors: dict[str, int]
    localities: list[str]
    explanation_vi: str
    explanation_en: str

    @property
    def severity(self) -> int:
        return max(0, min(100, sum(self.severity_factors.values())))


V = TypeVar("V")


class _ByCheckpoint(dict[str, V]):
    """A checkpoint's attribute by id; an unknown id raises what the registry raises
    (UnknownReferenceError), as ``registry.checkpoint(id)`` did in the rules."""

    def __init__(self, registry: Registry, values: dict[str, V]) -> None:
        super().__init__(values)
        self.registry = registry

    def __missing__(self, checkpoint_id: str) -> V:
        self.registry.checkpoint(checkpoint_id)  # raises for an unknown id
        raise KeyError(checkpoint_id)  # pragma: no cover (known ids are all in here)


class _RoadFrom(dict[str, float]):
    """Road km from one checkpoint, filled from the registry (the same floats) as asked."""

    def __init__(self, registry: Registry, origin: str) -> None:
        super().__init__()
        self.registry, self.origin = registry, origin

    def __missing__(self, to: str) -> float:
        km = self[to] = self.registry.road_distance_km(self.origin, to)
        return km


class Road(dict[str, _RoadFrom]):
    def __init__(self, registry: Registry) -> None:
        super().__init__()
        self.registry = registry

    def __missing__(self, origin: str) -> _RoadFrom:
        row = self[origin] = _RoadFrom(self.registry, origin)
        return row


class Route:
    """The geometry of the legs along one declared route, worked out once per route and
    position: where each checkpoint is on it, and the road km of a leg (along the route,
    summed leg by leg in order as before, so the same floats; or direct, off it)."""

    __slots__ = ("_closed", "_open", "_positions", "_road", "_route")

    def __init__(self, route: tuple[str, ...], road: Road) -> None:
        self._route, self._road = route, road
        positions: dict[str, list[int]] = {}
        for i, cp in enumerate(route):
            positions.setdefault(cp, []).append(i)
        self._positions = {cp: tuple(found) for cp, found in positions.items()}
        self._closed: dict[tuple[int, str, str], tuple[float, int]] = {}
        self._open: dict[tuple[int, str], tuple[str, float] | None] = {}

    def __contains__(self, checkpoint_id: object) -> bool:
        """Whether the route stops at ``checkpoint_id``."""
        return checkpoint_id in self._positions

    def closed(self, pos: int, checkpoint: str, nxt: str) -> tuple[float, int]:
        """The km of a leg from ``checkpoint`` to the next scan's ``nxt``, the scans before
        having reached position ``pos`` (-1: none on the route); and the position reached
        after it."""
        key = (pos, checkpoint, nxt)
        found = self._closed.get(key)
        if found is None:
            here = self._after(checkpoint, pos)
            there = -1 if here < 0 else self._after(nxt, here)
            if here >= 0 and there > here:
                route, road = self._route, self._road
                km = sum(road[route[k]][route[k + 1]] for k in range(here, there))
            else:
                km = self._road[checkpoint][nxt]
            found = self._closed[key] = (km, max(pos, here))
        return found

    def open(self, pos: int, checkpoint: str) -> tuple[str, float] | None:
        """The checkpoint expected after the last scan, at ``checkpoint``, and the km to it
        (None: it is at the destination)."""
        key = (pos, checkpoint)
        if key in self._open:
            return self._open[key]
        route = self._route
        here, last = self._after(checkpoint, pos), len(route) - 1
        if here == last or (here < 0 and pos == last):
            found = None  # arrived at the destination
        else:
            target = route[max(here, pos) + 1]
            found = (target, self._road[checkpoint][target])
        self._open[key] = found
        return found

    def _after(self, checkpoint: str, pos: int) -> int:
        """Where ``checkpoint`` first is on the route after position ``pos`` (-1: not)."""
        for found in self._positions.get(checkpoint, ()):
            if found > pos:
                return found
        return -1


class Places:
    """The registry's answers the rules ask for on every judgement, as plain dict lookups:
    ``road[a][b]`` is ``registry.road_distance_km(a, b)``, ``locality[cp]`` is
    ``registry.checkpoint(cp).locality``, and so on (a method call, a try and an enum
    property per question added up to a good part of a judgement)."""

    def __init__(self, registry: Registry) -> None:
        cps = registry.checkpoints.values()
        self.road = Road(registry)
        self.locality = _ByCheckpoint(registry, {cp.id: cp.locality for cp in cps})
        self.corridor = _ByCheckpoint(registry, {cp.id: cp.corridor for cp in cps})
        self.entry_point = _ByCheckpoint(registry, {cp.id: cp.kind.is_entry_point for cp in cps})
        self.border_gate = _ByCheckpoint(
            registry, {cp.id: cp.kind == CheckpointKind.BORDER_GATE for cp in cps}
        )
        self.rest_area = _ByCheckpoint(registry, {cp.id: cp.rest_area for cp in cps})
        self.weighbridge = _ByCheckpoint(registry, {cp.id: cp.weighbridge for cp in cps})
        self._routes: dict[tuple[str, ...], Route] = {}

    def route(self, route: tuple[str, ...]) -> Route:
        """A declared route's positions and distances (the simulator's few hundred routes,
        or a real network's thousands, are each derived once)."""
        found = self._routes.get(route)
        if found is None:
            if len(self._routes) >= 100_000:
                self._routes.clear()
            found = self._routes[route] = Route(route, self.road)
        return found


_PLACES: WeakKeyDictionary[Registry, Places] = WeakKeyDictionary()
_last: tuple[Registry, Places] | None = None  # one registry in nearly every process


def places_of(registry: Registry) -> Places:
    """The lookups of ``registry``, made once (a registry is immutable)."""
    global _last
    if _last is not None and _last[0] is registry:
        return _last[1]
    places = _PLACES.get(registry)
    if places is None:
        places = _PLACES[registry] = Places(registry)
    _last = (registry, places)
    return places


Pair = tuple[Scan, Scan, float, float]  # consecutive scans no truck could make: km, hours


class Derived(NamedTuple):
    """What a judgement derived from a shipment's scans that the next one can extend,
    kept with the state it judged (``ShipmentState.derived``, never stored). Each part
    says what it covers, so a judgement after one more scan at the end derives only what
    that scan adds, and one after anything else (a correction, a scan in between, a new
    declaration, a state read back from JSON) derives it all again."""

    config: DetectionConfig
    places: Places
    active: tuple[Scan, ...] | None  # the active scans the impossible pairs cover
    pairs: tuple[Pair, ...]
    legs: Any  # streams.rules.timing.LegsSoFar, or None


class View:
    """One judgement of one shipment: its state and what several rules derive from it,
    computed once per judgement (the active scans and declaration here; the impossible
    pairs, plausible scans and legs by the rules' modules, in the slots below; anything
    else through :meth:`memo`), extending what the last judgement derived (``prev``)."""

    __slots__ = (
        "_memo",
        "active",
        "config",
        "context",
        "decl",
        "implausible",
        "legs",
        "open_leg",
        "pairs",
        "places",
        "plausible",
        "prev",
        "registry",
        "state",
    )

    def __init__(
        self,
        state: ShipmentState,
        config: DetectionConfig,
        registry: Registry,
        context: DetectionContext | None = None,  # other shipments' facts, when settled
    ) -> None:
        self.state, self.config, self.registry, self.context = state, config, registry, context
        self.decl = state.declaration
        self.active = state.active_scans
        self.places = places = places_of(registry)
        prev = state.derived
        self.prev: Derived | None = (
            prev if prev is not None and prev.config is config and prev.places is places else None
        )
        self.pairs: tuple[Pair, ...] | None = None
        self.implausible: set[str] | None = None
        self.plausible: tuple[Scan, ...] | None = None
        self.legs: Any = None
        self.open_leg: Any = _UNKNOWN
        self._memo: dict[str, Any] | None = None

    def memo(self, key: str, compute: Callable[[], V]) -> V:
        """``compute()``, once per judgement for each ``key``."""
        if self._memo is None:
            self._memo = {}
        if key not in self._memo:
            self._memo[key] = compute()
        value: V = self._memo[key]
        return value

    def derived(self) -> Derived:
        """What this judgement derived, for the next one (what it did not derive, as the
        last one left it: each part says what it covers)."""
        prev = self.prev
        active: tuple[Scan, ...] | None
        if self.pairs is not None:
            active, pairs = self.active, self.pairs
        elif prev is not None:
            active, pairs = prev.active, prev.pairs
        else:
            active, pairs = None, ()
        legs = self.legs if self.legs is not None or prev is None else prev.legs
        return Derived(self.config, self.places, active, pairs, legs)


_UNKNOWN: Any = object()  # not worked out yet


RuleFn = Callable[[View], Finding | None]

_HEALTH = {category.value: category.endangers_health for category in GoodsCategory}


def endangers_health(decl: Declaration) -> bool:
    """Whether the declaration has goods that endanger health."""
    for category in decl.categories:
        health = _HEALTH.get(category)
        if health is None:
            health = GoodsCategory(category).endangers_health  # raises for an unknown one
        if health:
            return True
    return False


def health_factor(decl: Declaration | None, config: DetectionConfig) -> dict[str, int]:
    """The bonus for goods that endanger health, when the declaration has any."""
    if decl is not None and endangers_health(decl):
        return {"health_goods": config.severity.health_goods_bonus}
    return {}


def evidence_of(
    scan: Scan,
    detail: str = "",
    distance_km: float | None = None,
    *,
    late: bool = False,
    vi: str = "",
) -> Evidence:
    """Evidence from a scan; ``detail`` in English, ``vi`` in Vietnamese."""
    return Evidence(
        event_id=scan.event_id,
        checkpoint_id=scan.checkpoint_id,
        occurred_at=scan.occurred_at,
        detail=detail,
        detail_vi=vi,
        distance_km=None if distance_km is None else round(distance_km, 1),
        late=late,
    )


def localities_of(
    registry: Registry, decl: Declaration | None, evidence: list[Evidence]
) -> list[str]:
    """Every locality involved: the declared route's, the destination, the evidence's."""
    locality = places_of(registry).locality
    codes = {locality[ev.checkpoint_id] for ev in evidence}
    if decl is not None:
        codes.update(locality[cp] for cp in decl.route)
        codes.add(decl.destination_locality)
    return sorted(codes)


def place(registry: Registry, checkpoint_id: str) -> tuple[str, str]:
    """A checkpoint's name and locality, in Vietnamese and in unaccented form."""
    cp = registry.checkpoint(checkpoint_id)
    loc = registry.locality(cp.locality)
    return f"{cp.name} ({loc.name})", f"{cp.name_ascii} ({loc.name_ascii})"
