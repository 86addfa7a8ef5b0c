"""Publish to Kafka the way clients goodsflow did not write do, for the integration and
end-to-end tests.

goodsflow's own publishers use kafka-python and its worker reads with aiokafka, but a
border post or a partner agency publishes with whatever it has, most often something built
on librdkafka (the C library under kcat, confluent-kafka, and the Go, .NET and Node
clients). Such a producer compresses with its own codec implementations and, by default,
places a keyed record by the CRC32 of its key (`consistent_random`), not by Java's murmur2
as kafka-python does. Tests that publish only with goodsflow's own client would never see
either. So these helpers drive two real librdkafka clients, `kcat_produce` (the kcat
command-line tool, which `./dev test` provides) and `confluent_produce`, and two pure
functions, `java_partition` and `librdkafka_partition`, say where each default placement
puts a key, so a test can show that they differ and that goodsflow does not rely on one.

    >>> librdkafka_partition(b"SHP-HN-0001", 6), java_partition(b"SHP-HN-0001", 6)
    (3, 1)
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import zlib
from collections.abc import Sequence
from typing import Literal, get_args

Codec = Literal["none", "gzip", "snappy", "lz4", "zstd"]
CODECS: tuple[Codec, ...] = get_args(Codec)

# A record as a foreign client sends it: (key, value); a None key is a null key.
Record = tuple[bytes | None, bytes]

# kcat reads one record a line, its key before this byte. JSON escapes every control
# character inside strings, so a single-line JSON value never contains it.
KCAT_KEY_DELIMITER = b"\x1f"

# The per-record lines kcat prints at verbosity 3 (-v -v), once the broker acknowledged.
_KCAT_DELIVERED = re.compile(rb"^% Message delivered to partition (-?\d+)", re.MULTILINE)

_TIMEOUT_S = 60.0


class ForeignClientError(RuntimeError):
    """A foreign client is missing, refused its settings, or did not deliver every record."""


def kcat_path() -> str:
    """The kcat binary: GOODSFLOW_TEST_KCAT (which `./dev test` sets) or the one on PATH."""
    explicit = os.environ.get("GOODSFLOW_TEST_KCAT")
    if explicit:
        if not os.access(explicit, os.X_OK):
            raise ForeignClientError(f"GOODSFLOW_TEST_KCAT={explicit} is not an executable")
        return explicit
    found = shutil.which("kcat")
    if found is None:
        raise ForeignClientError(
            "kcat not found: run the tests through `./dev test`, which provides it "
            "(docs/STACK.md), install it (apt-get install kcat), or set GOODSFLOW_TEST_KCAT"
        )
    return found


def kcat_produce(
    bootstrap: str,
    topic: str,
    records: Sequence[Record],
    *,
    codec: Codec = "none",
    partitioner: str | None = None,
    partition: int | None = None,
) -> int:
    """Publish `records` with kcat, in order, and return how many the broker acknowledged
    (always all of them: anything less raises).

    Args:
        bootstrap: the broker list, `host:port[,host:port]`.
        topic: an existing topic.
        records: (key, value) pairs; values are single-line JSON. A None key is sent as a
            null key, b"" as an empty one.
        codec: the batches' compression (kcat -z).
        partitioner: librdkafka's partitioner (kcat -X partitioner=...), for example
            "murmur2_random" for Java's placement; None keeps librdkafka's default,
            consistent_random.
        partition: send every record to this partition (kcat -p) instead.

    Raises:
        ValueError: a key or value contains a newline or the key delimiter, or a value is
            empty (kcat would split it, or skip it).
        ForeignClientError: kcat is missing, exits non-zero, reports an error, or reports
            fewer deliveries than records.
    """
    _check_codec(codec)
    lines = b"".join(_kcat_line(key, value) for key, value in records)
    # -v -v: one line per acknowledged record on stderr, counted below.
    args = [kcat_path(), "-P", "-v", "-v", "-b", bootstrap, "-t", topic, "-K", r"\x1f"]
    # in order per partition, as the tests assert: without idempotence librdkafka keeps up
    # to a million requests in flight and a retried batch can land after a later one
    args += ["-z", codec, "-X", "enable.idempotence=true"]
    if partitioner is not None:
        args += ["-X", f"partitioner={partitioner}"]
    if partition is not None:
        args += ["-p", str(partition)]
    done = subprocess.run(args, input=lines, capture_output=True, timeout=_TIMEOUT_S)
    stderr = done.stderr.decode(errors="replace")
    if done.returncode != 0 or "% ERROR" in stderr or "Delivery failed" in stderr:
        raise ForeignClientError(f"kcat exited {done.returncode}: {' '.join(args)}\n{stderr}")
    delivered = len(_KCAT_DELIVERED.findall(done.stderr))
    if delivered != len(records):
        raise ForeignClientError(
            f"kcat reported {delivered} of {len(records)} records delivered:\n{stderr}"
        )
    return delivered


def _kcat_line(key: bytes | None, value: bytes) -> bytes:
    for name, part in (("key", key or b""), ("value", value)):
        if b"\n" in part or KCAT_KEY_DELIMITER in part:
            raise ValueError(f"a record's {name} holds a newline or \\x1f: {part!r}")
    if not value:
        raise ValueError("kcat skips empty lines: a record's value must not be empty")
    # Without the delimiter kcat sends a null key; with it, the bytes before it (b"" too).
    return value + b"\n" if key is None else key + KCAT_KEY_DELIMITER + value + b"\n"


def confluent_produce(
    bootstrap: str,
    topic: str,
    records: Sequence[Record],
    *,
    codec: Codec = "none",
    partitioner: str | None = None,
    partition: int | None = None,
    linger_ms: int = 5,
) -> int:
    """Publish `records` with confluent-kafka (librdkafka), idempotent with acks=all, in
    order, and return how many were delivered (always all of them: anything less raises).

    Arguments as for `kcat_produce`; `linger_ms` is how long librdkafka waits to fill a
    batch (larger batches compress better).

    Raises:
        ForeignClientError: librdkafka refused the settings, a delivery report carried an
            error, or not every record was delivered within a minute.
    """
    from confluent_kafka import KafkaError, KafkaException, Message, Producer

    _check_codec(codec)
    config: dict[str, str | int | bool] = {
        "bootstrap.servers": bootstrap,
        "compression.type": codec,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": linger_ms,
    }
    if partitioner is not None:
        config["partitioner"] = partitioner
    try:
        producer = Producer(config)
    except KafkaException as exc:
        raise ForeignClientError(f"confluent-kafka refused {config}: {exc}") from exc

    delivered = 0
    errors: list[str] = []

    def on_delivery(err: KafkaError | None, msg: Message) -> None:
        nonlocal delivered
        if err is not None:
            errors.append(f"{msg.key()!r} to partition {msg.partition()}: {err}")
        else:
            delivered += 1

    for key, value in records:
        while True:
            try:
                producer.produce(
                    topic,
                    value=value,
                    key=key,
                    partition=-1 if partition is None else partition,
                    on_delivery=on_delivery,
                )
                break
            except BufferError:  # the local queue is full: let deliveries drain it
                producer.poll(0.1)
        producer.poll(0)
    left = producer.flush(_TIMEOUT_S)
    if errors or left or delivered != len(records):
        raise ForeignClientError(
            f"confluent-kafka delivered {delivered} of {len(records)} records "
            f"({left} still queued); errors: {errors[:5]}"
        )
    return delivered


def _check_codec(codec: str) -> None:
    if codec not in CODECS:
        raise ValueError(f"codec {codec!r} is not one of {CODECS}")


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 hash (Java's `Utils.murmur2`), as an unsigned 32-bit number.

    Written out here rather than taken from kafka-python, so that the tests can check
    kafka-python's placement against an independent one.
    """
    m, r = 0x5BD1E995, 24
    length = len(data)
    h = (0x9747B28C ^ length) & 0xFFFFFFFF
    for i in range(0, length - length % 4, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = ((h * m) & 0xFFFFFFFF) ^ k
    tail = data[length - length % 4 :]
    if len(tail) == 3:
        h ^= tail[2] << 16
    if len(tail) >= 2:
        h ^= tail[1] << 8
    if tail:
        h ^= tail[0]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    return h ^ (h >> 15)


def java_partition(key: bytes | None, partitions: int) -> int | None:
    """Where Java's default partitioner, kafka-python's, and librdkafka's murmur2_random put
    a record with this key: murmur2 of the key, sign bit cleared, modulo the partitions.

    None for a null key, which none of them places by key (Java's sticky partitioner,
    librdkafka's random choice). An empty key is a key: it has a fixed partition.
    """
    if key is None:
        return None
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def librdkafka_partition(key: bytes | None, partitions: int) -> int | None:
    """Where librdkafka's default partitioner, consistent_random, puts a record with this
    key (kcat, confluent-kafka, and the Go, .NET and Node clients built on it): the CRC32
    of the key modulo the partitions.

    None for a null or an empty key: consistent_random sends both to a random partition
    (unlike Java, which hashes an empty key).
    """
    if not key:
        return None
    return zlib.crc32(key) % partitions
