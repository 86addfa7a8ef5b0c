"""The investigators' HTTP API: the graph questions, alerts and their evidence, over HTTP.

Run it with ``goodsflow api`` (uvicorn, on GOODSFLOW_API__HOST:GOODSFLOW_API__PORT); the
OpenAPI document is at ``/openapi.json`` and browsable at ``/docs``.

Every route but ``/health``, ``/ready`` and the OpenAPI pages needs
``Authorization: Bearer <token>`` with one of the configured tokens. Errors are JSON,
``{"error": <kind>, "message": <text>}``: 401 without a valid token, 404 for an unknown
id, 409 for a case step that does not fit the case (closed already, say), 422 for a bad
parameter, 503 when Neo4j (or, for case steps, Kafka) cannot answer; never a stack trace.

The task forces' case steps (``POST /alerts/{id}/acknowledge|transfer|close``) record the
person named in the body and the token used (as a short hash, graph.cases.token_print).

Times in answers keep each event's own offset; a time given without an offset is Vietnam
time.

Example:
    >>> app = create_app(queries, tokens=["a-token-of-16-chars"], checks={})  # doctest: +SKIP
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import Body, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from graph.cases import CaseDesk, CaseReceipt, token_print
from graph.embedded_queries import EmbeddedQueries
from graph.exceptions import GraphUnavailable, NotFound, QueryError
from graph.queries import MAX_HOPS, MAX_PATH_HOPS, Neo4jQueries
from graph.results import (
    MAX_ROWS,
    AlertDetail,
    AlertRecord,
    ConnectionPath,
    Flow,
    Hotspot,
    Neighbourhood,
    Passage,
    QueueEntry,
    RuleOutcomes,
    ShipmentTrace,
)
from producers.exceptions import PublishError
from schemas import (
    VIETNAM_TZ,
    CaseAction,
    CaseConflict,
    CaseOutcome,
    CaseStatus,
    GoodsCategory,
    Registry,
)

if TYPE_CHECKING:
    from streams.config import QueueConfig

log = logging.getLogger(__name__)

Queries = Neo4jQueries | EmbeddedQueries
Kind = Literal["party", "vehicle", "driver", "shipment"]


class ApiError(Exception):
    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


def _when(name: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ApiError(
            422, "invalid_parameter", f"{name}: {value!r} is not an ISO date or date-time"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=VIETNAM_TZ)


def _required(name: str, value: str | None) -> datetime:
    parsed = _when(name, value)
    if parsed is None:
        raise ApiError(422, "invalid_parameter", f"{name} is required")
    return parsed


def _entity(name: str, value: str) -> tuple[Kind, str]:
    kind, _, key = value.partition(":")
    if kind not in ("party", "vehicle", "driver", "shipment") or not key:
        raise ApiError(
            422, "invalid_parameter", f"{name}: {value!r} is not kind:id (party, vehicle, "
            "driver or shipment)"
        )  # fmt: skip
    return kind, key  # type: ignore[return-value]


BEARER = HTTPBearer(auto_error=False)


class _TokenCheck:
    """The dependency that admits a request with one of the tokens (compared in constant
    time)."""

    def __init__(self, tokens: Sequence[str]) -> None:
        self.accepted = [t.encode() for t in tokens]

    def __call__(
        self, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]
    ) -> str:
        """The caller's token print (for the case record)."""
        given = (credentials.credentials if credentials else "").encode()
        if not any(hmac.compare_digest(given, token) for token in self.accepted):
            raise ApiError(401, "unauthorised", "a valid bearer token is required")
        return "api:" + token_print(given.decode())


def _caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
) -> str:
    """The token check of the app serving the request; the caller's token print."""
    check: _TokenCheck = request.app.state.token_check
    return check(credentials)


Caller = Annotated[str, Depends(_caller)]
Actor = Annotated[
    str, Body(min_length=1, max_length=200, description="the person acting, as the record shows")
]
Note = Annotated[str, Body(max_length=2000)]


Limit = Annotated[int, Query(ge=1, le=MAX_ROWS)]
Offset = Annotated[int, Query(ge=0)]
Since = Annotated[str | None, Query(description="ISO date-time; Vietnam time without offset")]


def create_app(
    queries: Queries,
    tokens: Sequence[str],
    checks: dict[str, Callable[[], bool]],
    registry: Registry | None = None,
    cases: CaseDesk | None = None,
    queue: QueueConfig | None = None,
) -> FastAPI:
    """The API over ``queries`` (Neo4j, or the embedded store).

    Args:
        queries: the backend that answers.
        tokens: accepted bearer tokens (at least one).
        checks: readiness checks by name (``neo4j``, ``kafka``), each True when it answers.
        registry: the reference registry, for GeoJSON routes.
        cases: where case steps go; without it they answer 503.
        queue: the risk queues' capacity and random floor (default: the shipped
            streams/detection.toml's ``[queue]``).
    """
    if not tokens:
        raise ValueError("the API needs at least one token")
    from schemas import load_registry

    reg = registry or load_registry()
    if queue is None:
        from streams.config import load_detection_config

        queue = load_detection_config().queue
    queue_cfg = queue
    app = FastAPI(
        title="goodsflow investigators' API",
        description="Shipments, places, flows, hotspots, links between parties, vehicles "
        "and drivers, alerts and their evidence, from the goodsflow supply-chain graph.",
        version="1",
    )
    authorised = _TokenCheck(tokens)

    def _check_locality(code: str | None) -> None:
        if code is not None and code not in reg.localities:
            raise NotFound(f"locality {code} is not in the registry")

    app.state.token_check = authorised

    @app.exception_handler(ApiError)
    def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        body = {"error": exc.error, "message": exc.message}
        return JSONResponse(body, status_code=exc.status, headers=headers)

    @app.exception_handler(NotFound)
    def _not_found(_: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"error": "not_found", "message": str(exc)}, status_code=404)

    @app.exception_handler(QueryError)
    def _bad_query(_: Request, exc: QueryError) -> JSONResponse:
        return JSONResponse({"error": "invalid_parameter", "message": str(exc)}, status_code=422)

    @app.exception_handler(CaseConflict)
    def _conflict(_: Request, exc: CaseConflict) -> JSONResponse:
        return JSONResponse({"error": "case_conflict", "message": str(exc)}, status_code=409)

    @app.exception_handler(PublishError)
    def _unpublished(_: Request, exc: PublishError) -> JSONResponse:
        log.error("case step not published: %s", exc)
        body = {"error": "kafka_unavailable", "message": f"the step was not recorded: {exc}"}
        return JSONResponse(body, status_code=503)

    @app.exception_handler(GraphUnavailable)
    def _unavailable(_: Request, exc: GraphUnavailable) -> JSONResponse:
        log.error("graph unavailable: %s", exc)
        body = {"error": "graph_unavailable", "message": f"the graph cannot answer now: {exc}"}
        return JSONResponse(body, status_code=503)

    @app.exception_handler(RequestValidationError)
    def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'][1:])}: {err['msg']}" for err in exc.errors()
        )
        return JSONResponse({"error": "invalid_parameter", "message": problems}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        error = "not_found" if exc.status_code == 404 else "http_error"
        return JSONResponse(
            {"error": error, "message": str(exc.detail)}, status_code=exc.status_code
        )

    @app.exception_handler(Exception)
    def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error in the API")
        body = {"error": "internal", "message": f"unexpected error ({type(exc).__name__})"}
        return JSONResponse(body, status_code=500)

    # -- open routes ---------------------------------------------------------------------
    @app.get("/health", tags=["service"])
    def health() -> dict[str, str]:
        """The process answers."""
        return {"status": "ok"}

    @app.get("/ready", tags=["service"])
    def ready() -> JSONResponse:
        """Neo4j and Kafka answer (503 with each check's result when one does not)."""
        results = {name: "ok" if check() else "unavailable" for name, check in checks.items()}
        ok = all(v == "ok" for v in results.values())
        return JSONResponse(
            {"status": "ready" if ok else "not_ready", "checks": results},
            status_code=200 if ok else 503,
        )

    auth = [Depends(authorised)]

    # -- shipments and places --------------------------------------------------------------
    @app.get("/shipments/{shipment_id}", dependencies=auth, tags=["shipments"])
    def trace(shipment_id: str, limit: Limit = 500) -> ShipmentTrace:
        """The shipment's route in order (retracted passages marked), its localities, its
        alerts with their evidence ids."""
        return queries.trace(shipment_id, limit=limit)

    @app.get("/shipments/{shipment_id}/route.geojson", dependencies=auth, tags=["shipments"])
    def route(shipment_id: str) -> dict[str, Any]:
        """The route as a GeoJSON FeatureCollection, for a map."""
        return queries.trace(shipment_id).geojson(reg)

    def _passages(
        place: dict[str, str], since: str | None, until: str | None,
        category: GoodsCategory | None, limit: int, offset: int,
    ) -> list[Passage]:  # fmt: skip
        return queries.passed(
            _required("since", since),
            _required("until", until),
            category=category.value if category else None,
            limit=limit,
            offset=offset,
            **place,
        )

    @app.get("/checkpoints/{checkpoint_id}/passages", dependencies=auth, tags=["places"])
    def at_checkpoint(
        checkpoint_id: str,
        since: Since = None,
        until: Since = None,
        category: GoodsCategory | None = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> list[Passage]:
        """What passed the checkpoint in ``[since, until)``."""
        if checkpoint_id not in reg.checkpoints:
            raise NotFound(f"checkpoint {checkpoint_id} is not in the registry")
        place = {"checkpoint_id": checkpoint_id}
        return _passages(place, since, until, category, limit, offset)

    @app.get("/localities/{code}/passages", dependencies=auth, tags=["places"])
    def in_locality(
        code: str,
        since: Since = None,
        until: Since = None,
        category: GoodsCategory | None = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> list[Passage]:
        """What passed any checkpoint of the locality in ``[since, until)``."""
        _check_locality(code)
        return _passages({"locality": code}, since, until, category, limit, offset)

    @app.get("/flows", dependencies=auth, tags=["places"])
    def flows(
        since: Since = None,
        until: Since = None,
        category: GoodsCategory | None = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> list[Flow]:
        """Locality-to-locality movements by goods category, busiest first."""
        return queries.flows(
            _required("since", since),
            _required("until", until),
            category=category.value if category else None,
            limit=limit,
            offset=offset,
        )

    @app.get("/hotspots", dependencies=auth, tags=["places"])
    def hotspots(
        since: Since = None,
        until: Since = None,
        by: Literal["checkpoint", "locality"] = "checkpoint",
        limit: Limit = 20,
        offset: Offset = 0,
    ) -> list[Hotspot]:
        """Checkpoints or localities ranked by open alerts and seizures."""
        return queries.hotspots(
            _required("since", since), _required("until", until), by=by, limit=limit, offset=offset
        )

    # -- alerts -----------------------------------------------------------------------------
    @app.get("/alerts", dependencies=auth, tags=["alerts"])
    def alerts(
        locality: str | None = None,
        status: Literal["open", "withdrawn"] | None = None,
        case_status: CaseStatus | None = None,
        rule: str | None = None,
        since: Since = None,
        until: Since = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> list[AlertRecord]:
        """Alerts, newest first; ``locality`` gives a task force its list (the alerts that
        involve it, and those transferred to it)."""
        _check_locality(locality)
        return queries.alerts(
            locality=locality,
            status=status,
            case_status=case_status.value if case_status else None,
            rule=rule,
            since=_when("since", since),
            until=_when("until", until),
            limit=limit,
            offset=offset,
        )

    @app.get("/localities/{code}/queue", dependencies=auth, tags=["alerts"])
    def risk_queue(
        code: str,
        day: Annotated[
            date | None, Query(description="YYYY-MM-DD, Vietnam time; default today")
        ] = None,
    ) -> list[QueueEntry]:
        """The locality's risk queue for a day: its shipments with open alerts ranked by
        one risk score, cut at the daily capacity, then the day's random floor of
        shipments with no alert (docs/DETECTION.md, "The risk queue")."""
        from graph.risk_queue import day_queue

        _check_locality(code)
        when = day or datetime.now(VIETNAM_TZ).date()
        return day_queue(queries, code, when, queue_cfg).entries()

    @app.get("/alerts/{alert_id}", dependencies=auth, tags=["alerts"])
    def alert(alert_id: str) -> AlertDetail:
        """One alert: severity factors, explanations, every fact of its evidence, and its
        case (status, outcome, the locality it was transferred to, every step)."""
        return queries.alert(alert_id)

    # -- the case workflow --------------------------------------------------------------------
    def _act(alert_id: str, action: CaseAction, via: str, **fields: Any) -> JSONResponse:
        if cases is None:
            raise ApiError(503, "cases_unavailable", "this API takes no case steps")
        receipt: CaseReceipt = cases.act(alert_id, action, via=via, **fields)
        return JSONResponse(
            receipt.model_dump(mode="json"), status_code=200 if receipt.landed else 202
        )

    answers: dict[int | str, dict[str, Any]] = {
        200: {"model": CaseReceipt, "description": "recorded, and shown in the graph"},
        202: {"model": CaseReceipt, "description": "recorded; not in the graph yet"},
        409: {"description": "the case is closed, or the step repeats its state"},
    }

    @app.post("/alerts/{alert_id}/acknowledge", tags=["cases"], responses=answers)
    def acknowledge(alert_id: str, caller: Caller, actor: Actor, note: Note = "") -> JSONResponse:
        """The task force has the alert in hand."""
        return _act(alert_id, CaseAction.ACKNOWLEDGE, caller, actor=actor, note=note)

    @app.post("/alerts/{alert_id}/transfer", tags=["cases"], responses=answers)
    def transfer(
        alert_id: str,
        caller: Caller,
        actor: Actor,
        to_locality: Annotated[str, Body(description="the receiving locality's code")],
        note: Annotated[str, Body(min_length=1, max_length=2000)],
    ) -> JSONResponse:
        """Hand the alert to another locality's task force, with a note for them; it then
        shows in that locality's list."""
        return _act(
            alert_id, CaseAction.TRANSFER, caller, actor=actor, note=note, to_locality=to_locality
        )

    @app.post("/alerts/{alert_id}/close", tags=["cases"], responses=answers)
    def close(
        alert_id: str,
        caller: Caller,
        actor: Actor,
        outcome: Annotated[CaseOutcome, Body()],
        note: Note = "",
    ) -> JSONResponse:
        """Close the case: ``confirmed`` (counts as an incident on the alert's corridors
        for high_risk_corridor) or ``false_alarm``."""
        return _act(alert_id, CaseAction.CLOSE, caller, actor=actor, note=note, outcome=outcome)

    @app.get("/outcomes", dependencies=auth, tags=["cases"])
    def outcomes(
        since: Since = None, until: Since = None, locality: str | None = None
    ) -> list[RuleOutcomes]:
        """Per rule: cases closed in ``[since, until)`` (by closing time) as confirmed and as
        false alarms, and the precision they give; of one locality's alerts, or all."""
        _check_locality(locality)
        return queries.outcomes(
            since=_when("since", since), until=_when("until", until), locality=locality
        )

    # -- links between entities ------------------------------------------------------------
    @app.get("/entities/{kind}/{key}/neighbourhood", dependencies=auth, tags=["links"])
    def neighbourhood(
        kind: Kind,
        key: str,
        hops: Annotated[int, Query(ge=1, le=MAX_HOPS)] = 2,
        limit: Annotated[int, Query(ge=1, le=MAX_ROWS)] = 200,
    ) -> Neighbourhood:
        """Shipments, parties, vehicles, drivers and seizures within ``hops``."""
        return queries.neighbourhood(kind, key, hops=hops, limit=limit)

    @app.get("/connections", dependencies=auth, tags=["links"])
    def connections(
        source: Annotated[str, Query(alias="from", description="kind:id, e.g. party:VN-1")],
        target: Annotated[str, Query(alias="to", description="kind:id")],
        max_hops: Annotated[int, Query(ge=1, le=MAX_PATH_HOPS)] = 6,
        limit: Annotated[int, Query(ge=1, le=MAX_ROWS)] = 20,
    ) -> list[ConnectionPath]:
        """The shortest paths between two entities, each link with its event."""
        return queries.connection(
            _entity("from", source), _entity("to", target), max_hops=max_hops, limit=limit
        )

    return app
