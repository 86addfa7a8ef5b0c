"""The batch loop's discipline, with a fake consumer: an offset is committed only after
its batch was processed completely; a failed batch is never committed and is read again
after the stage is reset; cancelling (SIGTERM) commits nothing of the batch in flight; a
rebalance waits for the batch in flight; the next batch is prepared while one finishes,
but finishes only after it, and is thrown away when it fails."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from aiokafka import TopicPartition

from streams.kafka_io import BatchLoop

TP0, TP1 = TopicPartition("in", 0), TopicPartition("in", 1)


@dataclass
class Rec:
    offset: int
    value: bytes = b""


class FakeConsumer:
    """A log per partition, a position per partition, and the commits made."""

    def __init__(self, logs: dict[TopicPartition, int]) -> None:
        self.logs = {tp: [Rec(o) for o in range(n)] for tp, n in logs.items()}
        self.position = {tp: 0 for tp in logs}
        self.commits: list[dict[TopicPartition, int]] = []
        self.listener = None

    def subscribe(self, topics, listener):
        self.listener = listener

    async def start(self):
        await self.listener.on_partitions_assigned(set(self.logs))

    async def stop(self):
        pass

    async def getmany(self, timeout_ms, max_records):
        batch = {}
        for tp, log in self.logs.items():
            records = log[self.position[tp] : self.position[tp] + 2]
            if records:
                batch[tp] = records
                self.position[tp] += len(records)
        await asyncio.sleep(0)
        return batch

    async def commit(self, offsets):
        self.commits.append(dict(offsets))

    async def committed(self, tp):
        for commit in reversed(self.commits):
            if tp in commit:
                return commit[tp]
        return None

    def seek(self, tp, offset):
        self.position[tp] = offset

    async def seek_to_beginning(self, tp):
        self.position[tp] = 0


class FakeStage:
    def __init__(self, fail_on: set[int] | None = None, block: asyncio.Event | None = None):
        self.fail_on = set(fail_on or ())
        self.block = block
        self.processed: list[tuple[int, int]] = []
        self.prepared: list[tuple[int, int]] = []
        self.finishing = self.most_finishing = 0
        self.resets = 0

    async def assigned(self, partitions):
        pass

    async def revoked(self, partitions):
        pass

    async def idle(self):
        pass

    async def reset(self):
        self.resets += 1

    async def prepare(self, batch):
        offsets = [(tp.partition, r.offset) for tp, rs in batch.items() for r in rs]
        self.prepared += offsets

        async def finish():
            self.finishing += 1
            try:
                if self.block is not None:
                    await self.block.wait()
                for _, offset in offsets:
                    if offset in self.fail_on:
                        self.fail_on.discard(offset)
                        raise RuntimeError(f"failed at {offset}")
                self.processed.extend(offsets)
            finally:
                self.finishing -= 1
                self.most_finishing = max(self.most_finishing, self.finishing + 1)

        return finish


async def run_until(loop: BatchLoop, done, timeout=5.0):
    task = asyncio.create_task(loop.run())
    try:
        async with asyncio.timeout(timeout):
            while not done():
                await asyncio.sleep(0.01)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def test_offsets_are_committed_after_their_batch_and_point_past_it():
    consumer, stage = FakeConsumer({TP0: 4, TP1: 2}), FakeStage()
    loop = BatchLoop(consumer, ["in"], stage, 10, "test")
    asyncio.run(run_until(loop, lambda: len(stage.processed) == 6))
    assert consumer.commits[0] == {TP0: 2, TP1: 2}
    assert consumer.commits[-1] == {TP0: 4}
    assert loop.committed == {TP0: 4, TP1: 2}


def test_a_failed_batch_is_not_committed_and_is_read_again(monkeypatch):
    monkeypatch.setattr("streams.kafka_io.asyncio.sleep", _no_sleep)
    consumer, stage = FakeConsumer({TP0: 6}), FakeStage(fail_on={3})
    loop = BatchLoop(consumer, ["in"], stage, 10, "test")
    asyncio.run(run_until(loop, lambda: (0, 5) in stage.processed))
    assert stage.resets == 1
    # the batch [2, 3] failed: nothing past 2 was committed until it was processed again
    assert [c[TP0] for c in consumer.commits] == [2, 4, 6]
    assert stage.processed == [(0, 0), (0, 1), (0, 2), (0, 3), (0, 4), (0, 5)]


def test_cancelling_commits_nothing_of_the_batch_in_flight():
    async def scenario():
        block = asyncio.Event()
        consumer, stage = FakeConsumer({TP0: 2}), FakeStage(block=block)
        task = asyncio.create_task(BatchLoop(consumer, ["in"], stage, 10, "test").run())
        await asyncio.sleep(0.05)  # the batch is in process, waiting
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return consumer.commits, stage.processed

    assert asyncio.run(scenario()) == ([], [])


def test_a_rebalance_waits_for_the_batch_in_flight():
    async def scenario():
        block = asyncio.Event()
        consumer, stage = FakeConsumer({TP0: 2}), FakeStage(block=block)
        loop = BatchLoop(consumer, ["in"], stage, 10, "test")
        task = asyncio.create_task(loop.run())
        await asyncio.sleep(0.05)
        revoking = asyncio.create_task(loop.on_partitions_revoked({TP0}))
        await asyncio.sleep(0.05)
        waited = not revoking.done()
        block.set()
        await revoking
        commits = list(consumer.commits)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return waited, commits

    waited, commits = asyncio.run(scenario())
    assert waited and commits == [{TP0: 2}]


_real_sleep = asyncio.sleep


async def _stop_when_processed(task, stage, count):
    """Wait until the stage finished ``count`` records, then stop the loop (SIGTERM)."""
    async with asyncio.timeout(5):
        while len(stage.processed) < count:
            await _real_sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def _no_sleep(delay, *args):
    await _real_sleep(0)


def test_the_next_batch_is_prepared_while_one_finishes_and_finishes_after_it():
    async def scenario():
        block = asyncio.Event()
        consumer, stage = FakeConsumer({TP0: 6}), FakeStage(block=block)
        loop = BatchLoop(consumer, ["in"], stage, 10, "test")
        task = asyncio.create_task(loop.run())
        await asyncio.sleep(0.05)
        # [0, 1] is finishing (blocked); [2, 3] was prepared meanwhile, not finished
        overlapped = list(stage.prepared), list(stage.processed), list(consumer.commits)
        block.set()
        async with asyncio.timeout(5):
            while len(stage.processed) < 6:
                await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return overlapped, stage, consumer.commits

    (prepared, processed, commits), stage, all_commits = asyncio.run(scenario())
    assert prepared == [(0, 0), (0, 1), (0, 2), (0, 3)] and processed == [] and commits == []
    assert stage.processed == [(0, o) for o in range(6)]  # finished in order, once each
    assert stage.most_finishing == 1  # never two finishes at a time
    assert [c[TP0] for c in all_commits] == [2, 4, 6]


def test_a_failed_finish_throws_away_the_batch_prepared_behind_it(monkeypatch):
    monkeypatch.setattr("streams.kafka_io.asyncio.sleep", _no_sleep)
    consumer, stage = FakeConsumer({TP0: 6}), FakeStage(fail_on={1})
    loop = BatchLoop(consumer, ["in"], stage, 10, "test")
    asyncio.run(run_until(loop, lambda: (0, 5) in stage.processed))
    assert stage.resets == 1
    # [0, 1] failed while [2, 3] was prepared: both read again, from the last commit (none)
    assert stage.prepared[:4] == [(0, 0), (0, 1), (0, 2), (0, 3)]
    assert stage.prepared[4:6] == [(0, 0), (0, 1)]
    assert stage.processed == [(0, o) for o in range(6)]
    assert [c[TP0] for c in consumer.commits] == [2, 4, 6]


class WaitingConsumer(FakeConsumer):
    """Waits outside the loop's lock when it has nothing, as aiokafka's getmany does
    (a rebalance listener runs then)."""

    async def getmany(self, timeout_ms, max_records):
        batch = await super().getmany(timeout_ms, max_records)
        if not batch:
            await _real_sleep(0.2)
        return batch


def test_a_finish_failing_during_a_rebalance_is_recovered_by_the_loop_not_the_listener(
    monkeypatch,
):
    monkeypatch.setattr("streams.kafka_io.asyncio.sleep", _no_sleep)

    async def scenario():
        block = asyncio.Event()
        consumer, stage = WaitingConsumer({TP0: 2}), FakeStage(fail_on={1}, block=block)
        loop = BatchLoop(consumer, ["in"], stage, 10, "test")
        task = asyncio.create_task(loop.run())
        for _ in range(5):
            await _real_sleep(0.01)  # [0, 1] finishing (blocked); the loop waits for more
        revoking = asyncio.create_task(loop.on_partitions_revoked({TP0}))
        await _real_sleep(0.01)
        block.set()
        await revoking  # the listener returns; it does not reset or rewind
        resets_in_listener = stage.resets
        await loop.on_partitions_assigned({TP0})
        await _stop_when_processed(task, stage, 2)
        return resets_in_listener, stage, consumer.commits

    resets_in_listener, stage, commits = asyncio.run(scenario())
    assert resets_in_listener == 0
    assert stage.resets == 1  # by the loop, after the rebalance
    assert stage.processed == [(0, 0), (0, 1)]  # read again from the start, finished once
    assert [c[TP0] for c in commits] == [2]  # nothing committed for the failed attempt


def test_stopping_while_the_listener_waits_for_the_finish_does_not_cancel_the_listener():
    async def scenario():
        block = asyncio.Event()
        consumer, stage = WaitingConsumer({TP0: 2}), FakeStage(block=block)
        loop = BatchLoop(consumer, ["in"], stage, 10, "test")
        task = asyncio.create_task(loop.run())
        await asyncio.sleep(0.05)  # [0, 1] finishing, blocked; the loop waits for more
        revoking = asyncio.create_task(loop.on_partitions_revoked({TP0}))
        await asyncio.sleep(0.01)
        task.cancel()  # SIGTERM: run's finally cancels the finish the listener waits for
        with pytest.raises(asyncio.CancelledError):
            await task
        await revoking  # returns normally: aiokafka's coordinator must not be cancelled
        return revoking.cancelled(), consumer.commits, stage.processed

    cancelled, commits, processed = asyncio.run(scenario())
    assert not cancelled and commits == [] and processed == []


async def _rebalance_while_stuck(consumer, stage):
    """A loop whose first finish is stuck (``stage.block`` unset) is revoked, with a grace
    of 0.05 s; then the server is back (the block set), the partition is given again and
    every record is processed. Returns what was prepared before the rebalance, and the
    commits and processed records just after it."""
    loop = BatchLoop(consumer, ["in"], stage, 10, "test", revoke_grace_s=0.05)
    task = asyncio.create_task(loop.run())
    for _ in range(5):
        await _real_sleep(0.01)
    prepared = list(stage.prepared)
    async with asyncio.timeout(2):
        await loop.on_partitions_revoked({TP0})  # returns after the grace
    after_revoke = list(consumer.commits), list(stage.processed)
    stage.block.set()
    await loop.on_partitions_assigned({TP0})
    await _stop_when_processed(task, stage, sum(map(len, consumer.logs.values())))
    return prepared, *after_revoke


def test_a_rebalance_cancels_a_finish_still_waiting_after_the_grace(monkeypatch):
    """A finish stuck on a server (Neo4j away) must not hold the rebalance until this
    member is evicted and, once the server is back, writes for partitions it lost."""
    monkeypatch.setattr("streams.kafka_io.asyncio.sleep", _no_sleep)

    consumer, stage = WaitingConsumer({TP0: 2}), FakeStage(block=asyncio.Event())
    # [0, 1] finishing, stuck
    _, commits_then, processed_then = asyncio.run(_rebalance_while_stuck(consumer, stage))
    assert commits_then == [] and processed_then == []  # cancelled, nothing committed
    assert stage.resets == 1  # the loop recovered after the rebalance
    assert stage.processed == [(0, 0), (0, 1)]
    assert [c[TP0] for c in consumer.commits] == [2]


def test_the_grace_holds_also_while_the_loop_waits_for_the_stuck_finish(monkeypatch):
    """The loop holds its lock while it waits for the finish before the next one; the
    listener must not wait for that lock past the grace."""
    monkeypatch.setattr("streams.kafka_io.asyncio.sleep", _no_sleep)

    consumer, stage = FakeConsumer({TP0: 4}), FakeStage(block=asyncio.Event())
    # [0, 1] stuck; [2, 3] prepared, the loop waiting
    prepared, after_revoke, _ = asyncio.run(_rebalance_while_stuck(consumer, stage))
    assert prepared == [(0, 0), (0, 1), (0, 2), (0, 3)]
    assert after_revoke == []
    assert stage.processed == [(0, 0), (0, 1), (0, 2), (0, 3)]
    assert [c[TP0] for c in consumer.commits] == [2, 4]
