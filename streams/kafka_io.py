"""The worker's Kafka plumbing on aiokafka: a batch loop that commits only what was
processed, a record buffer that sends a batch's output and waits for every
acknowledgement, and a reader for compacted topics.

:class:`BatchLoop` is the discipline every input topic of the worker follows: take a batch,
let the stage process it completely (its output produced and acknowledged, its graph
written, its state written), and only then commit the batch's offsets. A rebalance waits
for the batch in flight (the listener takes the same lock), so a partition is never handed
over in the middle of one; when a batch fails, the stage is reset and the batch is read
again from the last commit. Nothing is committed that was not processed, and a crash at
any point leaves the uncommitted records to be processed again, which is harmless by
design (event ids, alert ids, keyed MERGEs, compacted state).

A batch is processed in two steps, so that the worker's one core and Neo4j's work at the
same time: the stage *prepares* a batch (reading and judging it: work in memory only) and
returns its *finish* (sending, writing the graph and the state: waiting on the servers).
The loop prepares batch N+1 while batch N finishes, and starts N+1's finish only after
N's finish and commit are done: outputs go out in input order, commits follow them, and
a failure in N's finish throws N+1's preparation away with the stage's memory (reset).

Faust's consumer is not used for these topics: docs/STREAMS.md says which of its paths
commit past unprocessed messages (upstream faust-streaming#606) and what else it would
have brought.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import CommitFailedError, KafkaError

log = logging.getLogger(__name__)

Batch = dict[TopicPartition, list[ConsumerRecord]]
Headers = list[tuple[str, bytes]]
# What completes a prepared batch: its output sent, its graph and state written.
Finish = Callable[[], Awaitable[None]]

# One batch a partition may hold in the producer; a record larger than this goes alone.
PRODUCER_BATCH_BYTES = 256 * 1024


def new_producer(bootstrap_servers: str, **options: Any) -> AIOKafkaProducer:
    """An idempotent producer that waits for every in-sync replica (aiokafka's defaults
    are acks=1 without idempotence)."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_batch_size=PRODUCER_BATCH_BYTES,
        request_timeout_ms=30_000,
        **options,
    )


@dataclass
class RecordBuffer:
    """A batch's output, sent together: records are grouped per topic partition into
    record batches (aiokafka's batch API costs a third of ``send`` per record here), and
    :meth:`flush` returns once the broker acknowledged every one of them."""

    _batches: dict[tuple[str, int], list[Any]] = field(default_factory=dict)
    count: int = 0

    def add(
        self,
        topic: str,
        partition: int,
        key: bytes | None,
        value: bytes | None,
        headers: Headers | None = None,
    ) -> None:
        self._batches.setdefault((topic, partition), []).append((key, value, headers or []))
        self.count += 1

    async def flush(self, producer: AIOKafkaProducer) -> None:
        """Send everything added and wait for the acknowledgements.

        Raises:
            KafkaError: a record was not acknowledged (nothing is committed then).
        """
        futures = []
        for (topic, partition), records in self._batches.items():
            batch = producer.create_batch()
            for key, value, headers in records:
                if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
                    futures.append(await producer.send_batch(batch, topic, partition=partition))
                    batch = producer.create_batch()
                    batch.append(key=key, value=value, timestamp=None, headers=headers)
            batch.close()
            futures.append(await producer.send_batch(batch, topic, partition=partition))
        self._batches, self.count = {}, 0
        if futures:
            await asyncio.gather(*futures)


class Stage(Protocol):
    """What a batch loop drives: the processing of one input."""

    async def assigned(self, partitions: set[TopicPartition]) -> None:
        """Partitions were assigned (after a rebalance): restore what they need."""

    async def revoked(self, partitions: set[TopicPartition]) -> None:
        """Partitions were taken away (before a rebalance, after the batch in flight)."""

    async def prepare(self, batch: Batch) -> Finish:
        """Read and judge a batch in memory; return what completes it (output sent and
        acknowledged, graph and state written). Nothing leaves the process here."""

    async def idle(self) -> None:
        """No records came: do what time (watermarks, settled context) made due."""

    async def reset(self) -> None:
        """A batch failed part way: forget whatever was not written, restore the rest."""


class BatchLoop(ConsumerRebalanceListener):
    """One consumer group member: fetch, process, commit, until stopped.

    Args:
        consumer: not started; subscribed here with this loop as rebalance listener.
        topics: the input topics.
        stage: processes each batch.
        batch_size: records per batch, at most.
        name: for logs.
        revoke_grace_s: how long a rebalance waits for the batch finishing before
            cancelling it (well under the session timeout, which bounds the rebalance).
    """

    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        topics: list[str],
        stage: Stage,
        batch_size: int,
        name: str,
        on_commit: Callable[[dict[TopicPartition, int]], None] | None = None,
        revoke_grace_s: float = 2.0,
    ) -> None:
        self.consumer, self.topics, self.stage = consumer, topics, stage
        self.batch_size, self.name = batch_size, name
        self.revoke_grace_s = revoke_grace_s
        self.on_commit = on_commit
        self._lock = asyncio.Lock()
        self.assignment: set[TopicPartition] = set()
        self._next: dict[TopicPartition, int] = {}  # first offset not yet processed
        self._finishing: asyncio.Task[None] | None = None  # the batch finishing, if any
        self._failures = 0  # batches failed in a row (the back-off grows with them)
        self._reset_due = False  # a batch failed during a rebalance: recover before any other

    @property
    def committed(self) -> dict[TopicPartition, int]:
        """The offsets this member committed last (the next record to process)."""
        return dict(self._next)

    # -- rebalance listener: both wait for the batch in flight ---------------------------
    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        # The batch finishing is committed before the handover. If it fails (or the worker
        # stops meanwhile), it is not committed, and the loop recovers after the
        # rebalance: this runs in aiokafka's coordinator, which must not back off,
        # restore, or see a cancellation that is not its own. A finish still waiting after
        # the grace (Neo4j or Kafka away) is cancelled, as a crash would stop it, before
        # the lock is taken (the loop may hold it, waiting for that same finish): this
        # member then rejoins in time instead of being evicted and writing, once the
        # server is back, outputs and state of partitions another member owns.
        await self._cancel_if_stuck()
        async with self._lock:
            await self._settle(recover=False)
            log.info("%s: partitions revoked: %s", self.name, _tps(revoked))
            await self.stage.revoked(set(revoked))
            self.assignment -= set(revoked)
            for tp in revoked:
                self._next.pop(tp, None)

    async def _cancel_if_stuck(self) -> None:
        task = self._finishing
        if task is None:
            return
        done, _ = await asyncio.wait({task}, timeout=self.revoke_grace_s)
        if not done:
            log.warning(
                "%s: the batch finishing is still waiting after %.1f s; cancelled for the "
                "rebalance (read again after it)",
                self.name,
                self.revoke_grace_s,
            )
            task.cancel()
            await asyncio.wait({task})

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        async with self._lock:
            log.info("%s: partitions assigned: %s", self.name, _tps(assigned))
            self.assignment = set(assigned)
            await self.stage.assigned(set(assigned))

    # -- the loop ------------------------------------------------------------------------
    async def run(self) -> None:
        """Consume until cancelled. Cancelling never commits the batch in flight."""
        self.consumer.subscribe(self.topics, listener=self)
        await self.consumer.start()
        try:
            while True:
                batch = await retry_forever(
                    f"{self.name}: fetching",
                    lambda: self.consumer.getmany(timeout_ms=200, max_records=self.batch_size),
                    (KafkaError,),
                )
                async with self._lock:
                    await self._step(self._unseen(batch))
        finally:
            if self._finishing is not None:
                self._finishing.cancel()  # not committed: read again by whoever is next
                await asyncio.gather(self._finishing, return_exceptions=True)
                self._finishing = None
            await self.consumer.stop()

    def _unseen(self, batch: Batch) -> Batch:
        """Drop records already processed (a guard: a fetch that raced a rebalance) and
        those of partitions no longer assigned."""
        fresh: Batch = {}
        for tp, records in batch.items():
            if tp not in self.assignment:
                continue
            start = self._next.get(tp)
            kept = records if start is None else [r for r in records if r.offset >= start]
            if kept:
                fresh[tp] = kept
        return fresh

    async def _step(self, batch: Batch) -> None:
        """Prepare ``batch`` (while the previous one finishes), then start its finish."""
        if self._reset_due:  # fetched before the rewind that is due: read again after it
            self._reset_due = False
            await self._failed(RuntimeError("a batch failed to finish during a rebalance"))
            return
        if not batch:
            if await self._settle() and self.assignment:  # (nothing is due mid-rebalance)
                await self._attempt(self.stage.idle)
            return
        try:
            finish = await self.stage.prepare(batch)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if await self._settle():  # (when it failed, the reset covers this one too)
                await self._failed(exc)
            return
        if await self._settle():
            self._finishing = asyncio.create_task(self._finish(finish, batch))
            # let the finish start its sends and graph write now, not at the next batch's
            # first yield (its preparation runs a few hundred records between yields)
            await asyncio.sleep(0)
        # else: the previous batch failed, the stage was reset and the consumer rewound;
        # this preparation (made on the memory just dropped) is thrown away

    async def _finish(self, finish: Finish, batch: Batch) -> None:
        await finish()
        try:
            await self._commit(batch)
        except CommitFailedError as exc:
            # The group rebalanced under us: the batch's work is done (state written after
            # its output) and harmless to repeat; its partitions' new owner starts from the
            # last commit.
            log.warning("%s: commit refused after a rebalance: %s", self.name, exc)

    async def _settle(self, recover: bool = True) -> bool:
        """Wait for the batch finishing; False when it failed or was cancelled (it was not
        committed then). With ``recover``, a failure resets the stage and rewinds the
        consumer to the last commit here; without, the loop does it at its next step."""
        task = self._finishing
        if task is None:
            return True
        try:
            await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # this caller is cancelled (the loop: run's finally cancels the finish)
            self._finishing = None  # the finish alone was cancelled (the loop is stopping)
            self._reset_due = True
            return False
        except Exception as exc:  # Kafka, Neo4j or a bug: never commit this batch
            self._finishing = None
            if recover:
                await self._failed(exc)
            else:
                log.error("%s: batch failed during a rebalance; read again after it: %s",
                          self.name, exc)  # fmt: skip
                self._reset_due = True
            return False
        self._finishing = None
        return True

    async def _attempt(self, work: Callable[[], Awaitable[None]]) -> None:
        try:
            await work()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await self._failed(exc)

    async def _failed(self, exc: Exception) -> None:
        """A batch failed: back off, then reset the stage and rewind every partition to
        its last commit; until then nothing else may be processed (a later batch's commit
        would cover the failed one)."""
        self._failures += 1
        delay = min(0.5 * 2 ** (self._failures - 1), 30.0)
        log.error(
            "%s: batch failed; reading it again in %.1f s: %s",
            self.name,
            delay,
            exc,
            exc_info=not isinstance(exc, KafkaError | OSError),
        )
        await asyncio.sleep(delay * (0.5 + random.random()))
        await retry_forever("recovering from a failed batch", self._recover, (Exception,))

    async def _recover(self) -> None:
        await self.stage.reset()
        for tp in self.assignment:
            committed = await self.consumer.committed(tp)
            if committed is None:
                await self.consumer.seek_to_beginning(tp)
            else:
                self.consumer.seek(tp, committed)
            self._next.pop(tp, None)

    async def _commit(self, batch: Batch) -> None:
        offsets = {tp: records[-1].offset + 1 for tp, records in batch.items()}
        await self.consumer.commit(offsets)
        self._failures = 0
        self._next.update(offsets)
        if self.on_commit is not None:
            self.on_commit(offsets)


def _tps(tps: Iterable[TopicPartition]) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]" for tp in sorted(tps)) or "none"


def new_consumer(
    bootstrap_servers: str,
    group: str,
    session_timeout_s: float,
    batch_size: int,
    **options: Any,
) -> AIOKafkaConsumer:
    """A group member that never commits on its own and reads a new group from the start.

    The range assignor gives each member the same partition numbers of every topic it
    reads (the state of a partition and its records stay together)."""
    session_ms = int(session_timeout_s * 1000)
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=batch_size,
        session_timeout_ms=session_ms,
        heartbeat_interval_ms=max(1000, session_ms // 3),
        partition_assignment_strategy=(RangePartitionAssignor,),
        fetch_max_bytes=16 * 1024 * 1024,
        max_partition_fetch_bytes=4 * 1024 * 1024,
        **options,
    )


async def read_to_end(
    bootstrap_servers: str,
    partitions: list[TopicPartition],
    handle: Callable[[ConsumerRecord], None],
    batch_size: int = 5000,
) -> int:
    """Read partitions from their beginning up to their end now (a compacted topic: state
    to restore); call ``handle`` on each record; return how many were read."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_bytes=32 * 1024 * 1024,
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    await consumer.start()
    try:
        if not partitions:
            return 0
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        todo = {tp for tp in partitions if ends[tp] > 0}
        count = 0
        while todo:
            batch = await consumer.getmany(*todo, timeout_ms=500, max_records=batch_size)
            for tp, records in batch.items():
                for record in records:
                    if record.offset < ends[tp]:
                        handle(record)
                        count += 1
                if records and records[-1].offset + 1 >= ends[tp]:
                    todo.discard(tp)
            for tp in list(todo):  # compaction or transactions may leave a gap at the end
                if await consumer.position(tp) >= ends[tp]:
                    todo.discard(tp)
        return count
    finally:
        await consumer.stop()


async def retry_forever(
    what: str, attempt: Callable[[], Awaitable[Any]], retryable: tuple[type[BaseException], ...]
) -> Any:
    """Await ``attempt()`` until it does not raise one of ``retryable``; back off
    exponentially with jitter (the batch waits: back-pressure; cancelling stops it)."""
    delay = 0.5
    while True:
        try:
            return await attempt()
        except retryable as exc:
            log.warning("%s failed, retrying in %.1f s: %s", what, delay, exc)
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 30.0)
