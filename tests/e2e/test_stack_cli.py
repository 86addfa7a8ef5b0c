"""`goodsflow stack ...` run as a user runs it, on a second stack instance of its own
(own folder, free ports, small heaps), so the stack the other tests use is untouched."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import neo4j
import pytest

from tests.factories import free_port

# Starts with "-": Neo4j's admin tool must not take it for an option (a generated password
# can look like that).
PASSWORD = "-e2e-stack-password"


@pytest.fixture(scope="module")
def stack_env(tmp_path_factory) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOODSFLOW_")}
    env.update(
        GOODSFLOW_STACK__DIR=str(tmp_path_factory.mktemp("stack")),
        GOODSFLOW_STACK__KAFKA_PORT=str(free_port()),
        GOODSFLOW_STACK__KAFKA_CONTROLLER_PORT=str(free_port()),
        GOODSFLOW_STACK__NEO4J_PORT=str(free_port()),
        GOODSFLOW_STACK__KAFKA_HEAP="384m",
        GOODSFLOW_STACK__NEO4J_HEAP="512m",
        GOODSFLOW_STACK__NEO4J_PAGECACHE="64m",
        GOODSFLOW_NEO4J__PASSWORD=PASSWORD,
    )
    yield env
    goodsflow(env, "stack", "down")


def goodsflow(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "goodsflow", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_a_taken_port_is_named_and_nothing_is_left_running(stack_env):
    port = int(stack_env["GOODSFLOW_STACK__NEO4J_PORT"])
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        result = goodsflow(stack_env, "stack", "up")
    assert result.returncode == 1
    assert f"port {port}" in result.stderr
    assert "GOODSFLOW_STACK__NEO4J_PORT" in result.stderr
    assert "Traceback" not in result.stderr
    status = goodsflow(stack_env, "stack", "status")
    assert status.returncode == 3
    assert "kafka: down" in status.stdout and "neo4j: down" in status.stdout


def test_missing_java_is_a_clear_error(stack_env, tmp_path):
    env = {**stack_env, "PATH": str(tmp_path)}
    env.pop("JAVA_HOME", None)
    result = goodsflow(env, "stack", "up")
    assert result.returncode == 1
    assert "java not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_up_twice_is_harmless_and_down_stops_it(stack_env):
    first = goodsflow(stack_env, "stack", "up")
    assert first.returncode == 0, first.stderr
    assert "kafka: started" in first.stdout and "neo4j: started" in first.stdout

    second = goodsflow(stack_env, "stack", "up")
    assert second.returncode == 0, second.stderr
    assert "kafka: already running" in second.stdout
    assert "neo4j: already running" in second.stdout

    status = goodsflow(stack_env, "stack", "status")
    assert status.returncode == 0
    assert "kafka: running" in status.stdout and "neo4j: running" in status.stdout

    down = goodsflow(stack_env, "stack", "down")
    assert "kafka: stopped" in down.stdout and "neo4j: stopped" in down.stdout
    after = goodsflow(stack_env, "stack", "status")
    assert after.returncode == 3
    assert "kafka: down" in after.stdout and "neo4j: down" in after.stdout


def test_neo4j_keeps_its_data_and_password_across_restarts(stack_env):
    uri = f"bolt://127.0.0.1:{stack_env['GOODSFLOW_STACK__NEO4J_PORT']}"
    assert goodsflow(stack_env, "stack", "up").returncode == 0
    with neo4j.GraphDatabase.driver(uri, auth=("neo4j", PASSWORD)) as driver:
        driver.execute_query("MERGE (:Marker {name: 'kept'})")
        with (
            neo4j.GraphDatabase.driver(uri, auth=("neo4j", "neo4j")) as default_login,
            pytest.raises(neo4j.exceptions.AuthError),
        ):
            default_login.verify_connectivity()
    assert goodsflow(stack_env, "stack", "down").returncode == 0
    assert goodsflow(stack_env, "stack", "up").returncode == 0
    with neo4j.GraphDatabase.driver(uri, auth=("neo4j", PASSWORD)) as driver:
        records, _, _ = driver.execute_query("MATCH (m:Marker) RETURN m.name AS name")
    assert [r["name"] for r in records] == ["kept"]
    logs = goodsflow(stack_env, "stack", "logs", "kafka", "-n", "5")
    assert logs.returncode == 0 and "server.log" in logs.stdout
    assert Path(stack_env["GOODSFLOW_STACK__DIR"], "neo4j", "data", "databases").is_dir()
