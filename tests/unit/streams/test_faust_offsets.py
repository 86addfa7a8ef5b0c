"""Why the worker does not commit through Faust's consumer (docs/STREAMS.md).

faust-streaming's ``Consumer._new_offset`` picks the offset to commit from the acked
offsets of a partition. Its guard against committing past a message that is still being
processed is skipped when the committed offset is None or 0 (a young partition; Faust
stores a committed 0 as None), and is off by one otherwise (upstream faust-streaming#606,
fixed in the unmerged PR #707). These tests run the released method itself: they pin the
behaviour goodsflow avoids, and fail when an upgrade fixes it (then Faust's commit path
can be reconsidered).
"""

from collections import defaultdict
from types import SimpleNamespace

from faust.transport.consumer import Consumer
from intervaltree import IntervalTree

TP = "checkpoint-events/0"


def new_offset(acked: list[int], committed: int | None) -> int | None:
    """What Faust would commit for ``TP`` (Kafka's meaning: the next offset to read)."""
    consumer = SimpleNamespace(
        _acked={TP: sorted(acked)},
        _acked_index={TP: set(acked)},
        _gap=defaultdict(IntervalTree),
        _committed_offset={TP: committed},
    )
    return Consumer._new_offset(consumer, TP)


def test_a_young_partition_commits_past_messages_still_in_flight():
    # offsets 0..4 are still being processed (not acked); 5 and 6 are done
    assert new_offset([5, 6], committed=None) == 7  # 0..4 would be lost on a crash


def test_the_guard_is_off_by_one_for_the_first_unacked_message():
    # committed 10: offset 10 is the next to process and is not acked yet
    assert new_offset([11, 12], committed=10) == 13  # commits past 10


def test_only_a_gap_of_two_or_more_is_caught():
    assert new_offset([12, 13], committed=10) is None
