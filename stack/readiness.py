"""Wait until the stack's servers really answer: Kafka a metadata request, Neo4j a Cypher
query. Fails early, with the log tail, when a server process dies while starting."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from stack import processes
from stack.errors import StackError

if TYPE_CHECKING:
    from stack.launcher import LocalStack


def kafka_ready(port: int) -> bool:
    """True when the local broker answers a metadata request."""
    return kafka_answers(f"127.0.0.1:{port}")


def kafka_answers(bootstrap_servers: str) -> bool:
    """True when a broker of ``bootstrap_servers`` answers a metadata request."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap_servers,
            request_timeout_ms=5000,
            bootstrap_timeout_ms=3000,
        )
    except (KafkaError, OSError, ValueError):
        return False
    try:
        admin.describe_cluster()
        return True
    except (KafkaError, OSError):
        return False
    finally:
        admin.close()


def neo4j_ready(port: int, password: str) -> bool:
    """True when Neo4j answers ``RETURN 1``; raises StackError on a rejected password."""
    import neo4j
    from neo4j.exceptions import AuthError, Neo4jError, ServiceUnavailable

    from stack.launcher import port_answers

    if not port_answers(port):  # spares the driver's retry loop (and its log lines)
        return False
    logging.getLogger("neo4j").setLevel(logging.CRITICAL)
    try:
        with neo4j.GraphDatabase.driver(
            f"bolt://127.0.0.1:{port}", auth=("neo4j", password), connection_timeout=3
        ) as driver:
            with driver.session(database="neo4j") as session:
                record = session.run("RETURN 1 AS ok").single()
            return record is not None and record["ok"] == 1
    except AuthError:
        raise StackError(
            "Neo4j rejected the configured password. The password is set when the data "
            "folder is first created; use that password, or remove the stack folder's "
            "neo4j/data to start afresh"
        ) from None
    except (ServiceUnavailable, Neo4jError, OSError):
        return False


def wait_until_ready(
    stack: LocalStack, timeout_s: float, services: tuple[str, ...] = ("kafka", "neo4j")
) -> None:
    """Block until both servers answer, or raise StackError naming the one that did not."""
    deadline = time.monotonic() + timeout_s
    checks = {
        "kafka": lambda: kafka_ready(stack.config.kafka_port),
        "neo4j": lambda: neo4j_ready(stack.config.neo4j_port, stack.config.neo4j_password or ""),
    }
    for service in services:
        check = checks[service]
        while True:
            if processes.recorded(stack.pid_file(service)) is None:
                raise StackError(
                    f"{service} exited while starting; last log lines:\n{stack.log_tail(service)}"
                )
            if check():
                break
            if time.monotonic() > deadline:
                raise StackError(
                    f"{service} did not answer within {timeout_s:.0f} s; last log lines:\n"
                    f"{stack.log_tail(service)}"
                )
            time.sleep(0.5)
