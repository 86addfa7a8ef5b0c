"""Stream heartbeats: event time, carried in the log.

A heartbeat on a partition of ``checkpoint-events`` says "event time on this partition has
reached ``occurred_at``", exactly as an event of that time would, without being about any
shipment. A ticker (``goodsflow ticker``) writes one to every partition every few seconds
with the current time, and a producer replaying history (the simulator) writes them with
its own clock; so a quiet partition does not hold back the judgements that wait for event
time, and a replay of the log gives the same answers (docs/STREAMS.md). Heartbeats are not
events: they change no shipment and never reach the graph.

Example:
    >>> beat = parse_heartbeat(b'{"event_type": "stream.heartbeat", '
    ...     b'"occurred_at": "2026-11-25T08:00:00+07:00", "source": "ticker-1"}')
    >>> beat.occurred_at.isoformat()
    '2026-11-25T08:00:00+07:00'
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from schemas.times import canonical
from schemas.values import Identifier

HEARTBEAT_TYPE = "stream.heartbeat"


class StreamHeartbeat(BaseModel):
    """Event time on this partition has reached ``occurred_at``."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    event_type: Literal["stream.heartbeat"] = "stream.heartbeat"
    schema_version: Literal[1] = 1
    occurred_at: Annotated[AwareDatetime, AfterValidator(canonical)] = Field(
        description="event time reached, with its UTC offset"
    )
    source: Identifier = Field(description="who wrote it: a ticker, a producer, a replay")


def parse_heartbeat(raw: bytes | str) -> StreamHeartbeat:
    """Decode and validate one heartbeat (pydantic's ValidationError when it is not one)."""
    return StreamHeartbeat.model_validate_json(raw)
