"""docker-compose.yml must describe the same topology as the local stack (no Docker engine
runs here, so this test reads the file instead of starting it)."""

from pathlib import Path

import pytest
import yaml

from goodsflow.settings import Settings, StackSettings
from stack.launcher import StackConfig, kafka_properties

COMPOSE = yaml.safe_load((Path(__file__).parents[2] / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def test_services_are_kafka_neo4j_the_worker_the_ticker_the_api_and_delivery():
    assert set(SERVICES) == {"kafka", "neo4j", "worker", "ticker", "api", "delivery"}
    assert SERVICES["ticker"]["command"][:2] == ["goodsflow", "ticker"]
    # metrics reachable from a Prometheus in the compose network, on the default ports
    assert str(Settings().worker.metrics_port) in SERVICES["worker"]["expose"]
    assert str(Settings().delivery.metrics_port) in SERVICES["delivery"]["expose"]
    assert SERVICES["kafka"]["image"].startswith("apache/kafka:3.9.")
    assert SERVICES["neo4j"]["image"] == "neo4j:5.26-community"
    assert SERVICES["worker"]["command"] == ["goodsflow", "worker"]
    assert SERVICES["api"]["command"][:2] == ["goodsflow", "api"]
    defaults = Settings().api
    assert f"{defaults.port}:{defaults.port}" in SERVICES["api"]["ports"]
    assert "GOODSFLOW_API__TOKENS" in SERVICES["api"]["environment"]  # never baked in
    delivery = SERVICES["delivery"]
    assert delivery["command"] == ["goodsflow", "alerts", "deliver"]
    # the subscriptions (with their secrets) live on a volume, not in the image
    path = delivery["environment"]["GOODSFLOW_DELIVERY__SUBSCRIPTIONS"]
    assert any(path.startswith(v.split(":")[1] + "/") for v in delivery["volumes"])
    assert (
        delivery["environment"]["GOODSFLOW_KAFKA__BOOTSTRAP_SERVERS"]
        == SERVICES["worker"]["environment"]["GOODSFLOW_KAFKA__BOOTSTRAP_SERVERS"]
    )


def test_host_ports_are_the_stack_defaults():
    defaults = StackSettings()
    assert f"{defaults.kafka_port}:9092" in SERVICES["kafka"]["ports"]
    assert f"{defaults.neo4j_port}:7687" in SERVICES["neo4j"]["ports"]


def _kafka_env_as_properties() -> dict[str, str]:
    env = SERVICES["kafka"]["environment"]
    return {
        key.removeprefix("KAFKA_").lower().replace("_", "."): str(value)
        for key, value in env.items()
        if key.startswith("KAFKA_") and key != "KAFKA_HEAP_OPTS"
    }


@pytest.mark.parametrize(
    "key",
    [
        "process.roles",
        "node.id",
        "auto.create.topics.enable",
        "num.partitions",
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
        "group.initial.rebalance.delay.ms",
        "controller.listener.names",
        "inter.broker.listener.name",
    ],
)
def test_broker_settings_agree_with_the_local_stack(key, tmp_path):
    local = kafka_properties(StackConfig(dir=tmp_path), tmp_path)
    assert _kafka_env_as_properties()[key] == local[key]


def test_worker_reaches_the_brokers_advertised_internal_listener(monkeypatch):
    worker_env = SERVICES["worker"]["environment"]
    bootstrap = worker_env["GOODSFLOW_KAFKA__BOOTSTRAP_SERVERS"]
    assert f"PLAINTEXT://{bootstrap}" in SERVICES["kafka"]["environment"][
        "KAFKA_ADVERTISED_LISTENERS"
    ].split(",")
    # and the variable names are ones Settings really reads
    monkeypatch.setenv("GOODSFLOW_KAFKA__BOOTSTRAP_SERVERS", bootstrap)
    monkeypatch.setenv("GOODSFLOW_NEO4J__URI", worker_env["GOODSFLOW_NEO4J__URI"])
    settings = Settings()
    assert settings.bootstrap_servers == "kafka:29092"
    assert settings.neo4j_uri == "bolt://neo4j:7687"


def test_neo4j_memory_matches_the_stack_defaults():
    env = SERVICES["neo4j"]["environment"]
    defaults = StackSettings()
    assert env["NEO4J_server_memory_heap_max__size"] == defaults.neo4j_heap
    assert env["NEO4J_server_memory_pagecache_size"] == defaults.neo4j_pagecache
    assert env["NEO4J_AUTH"].startswith("neo4j/${GOODSFLOW_NEO4J__PASSWORD")
