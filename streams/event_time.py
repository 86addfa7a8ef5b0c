"""Event time sanity: which times an event may carry before it moves the pipeline's clock.
Pure.

One scan dated 9999-01-01 would move its partition's watermark to 9999 and make every open
leg on it an unexplained stop; a first event dated year 0001 overflows the arithmetic of
watermarks. The worker's ingest stage dead-letters such records with the reason instead of
processing them. "Received" is when the broker received the record (the topic stamps it,
``message.timestamp.type=LogAppendTime``), so a replay judges it the same way.

Example:
    >>> problem(datetime(9999, 1, 1, tzinfo=UTC), 1_796_083_200_000, cfg)
    ...  # doctest: +SKIP
    'occurred_at 9999-01-01T00:00:00+00:00: year 9999 is outside 2000..2099'
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from streams.config import EventTimeConfig

MIN_OFFSET = timedelta(hours=-12)
MAX_OFFSET = timedelta(hours=14)


def problem(occurred_at: datetime, received_ms: int | None, cfg: EventTimeConfig) -> str | None:
    """Why ``occurred_at`` cannot be right, or None when it can.

    Args:
        occurred_at: the record's own time (with its UTC offset).
        received_ms: when the broker received it, in milliseconds since the epoch (the
            record's timestamp); None when unknown (in-process runs).
        cfg: the horizon and the year range.
    """
    offset = occurred_at.utcoffset()
    if offset is None:
        return f"occurred_at {occurred_at.isoformat()}: no UTC offset"
    if not MIN_OFFSET <= offset <= MAX_OFFSET:
        return (
            f"occurred_at {occurred_at.isoformat()}: UTC offset {_hours(offset)} "
            "is outside -12:00..+14:00"
        )
    if not cfg.min_year <= occurred_at.year <= cfg.max_year:
        return (
            f"occurred_at {occurred_at.isoformat()}: year {occurred_at.year} "
            f"is outside {cfg.min_year}..{cfg.max_year}"
        )
    if received_ms is not None:
        ahead_s = occurred_at.timestamp() - received_ms / 1000
        if ahead_s > cfg.future_horizon_hours * 3600:
            received = datetime.fromtimestamp(received_ms / 1000, UTC)
            return (
                f"occurred_at {occurred_at.isoformat()} is {ahead_s / 3600:.1f} h "
                f"after the broker received it ({received.isoformat()}); at most "
                f"{cfg.future_horizon_hours:g} h ahead is accepted"
            )
    return None


def _hours(offset: timedelta) -> str:
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"
