"""schemas.times.canonical: one timezone object per offset, the same instant and text."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.times import canonical

offsets = st.integers(min_value=-12 * 60, max_value=14 * 60).map(
    lambda m: timezone(timedelta(minutes=m))
)


@given(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)), offsets)
def test_same_instant_and_text_with_a_shared_zone(naive: datetime, zone: timezone) -> None:
    at = naive.replace(tzinfo=zone)
    kept = canonical(at)
    assert kept.isoformat() == at.isoformat()
    assert kept.utcoffset() == at.utcoffset()
    # another time with that offset, parsed separately, shares the zone object
    other = canonical(datetime.fromisoformat(at.isoformat()))
    assert other.tzinfo is kept.tzinfo


def test_the_edges_of_the_calendar_do_not_overflow() -> None:
    first = datetime.fromisoformat("0001-01-01T00:00:00+07:00")
    last = datetime.fromisoformat("9999-12-31T23:59:59-12:00")
    assert canonical(first).isoformat() == "0001-01-01T00:00:00+07:00"
    assert canonical(last).isoformat() == "9999-12-31T23:59:59-12:00"


def test_a_time_without_offset_is_refused() -> None:
    with pytest.raises(ValueError, match="without UTC offset"):
        canonical(datetime(2026, 12, 1, 8, 0))
