"""Times with one shared ``timezone`` object per UTC offset.

A comparison or subtraction of two aware datetimes whose tzinfo is the same object is about
ten times faster than one of two datetimes parsed separately (each has a tzinfo of its own,
and Python asks both for their offsets). Event times are compared many times over in
detection (watermarks, deadlines, windows), so the contract's times are made canonical when
an event is read: the same instant, the same offset, the same text when serialised.

Example:
    >>> a = canonical(datetime.fromisoformat("2026-11-25T08:00:00+07:00"))
    >>> b = canonical(datetime.fromisoformat("2026-11-25T09:00:00+07:00"))
    >>> a.tzinfo is b.tzinfo
    True
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

_ZONES: dict[timedelta, timezone] = {}


def canonical(at: datetime) -> datetime:
    """``at`` with the one shared ``timezone`` object of its UTC offset: the same instant,
    and the same text when serialised. Raises ValueError for a time without offset."""
    offset = at.utcoffset()
    if offset is None:
        raise ValueError(f"a time without UTC offset: {at.isoformat()}")
    zone = _ZONES.get(offset)
    if zone is None:
        zone = _ZONES.setdefault(offset, timezone(offset))
    if at.tzinfo is zone:
        return at
    try:
        # astimezone to the same offset keeps every field, and is twice as quick as replace
        return at.astimezone(zone)
    except OverflowError:  # the first or last hours of year 1 or 9999, through UTC
        return at.replace(tzinfo=zone)
