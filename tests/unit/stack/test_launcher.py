import base64
import socket

import pytest

from stack import LocalStack, StackConfig, ToolMissing
from stack.launcher import kafka_cluster_id, port_free


def test_cluster_id_is_16_bytes_urlsafe_base64():
    for _ in range(200):
        cid = kafka_cluster_id()
        assert len(cid) == 22 and not cid.startswith("-")
        assert len(base64.urlsafe_b64decode(cid + "==")) == 16


def test_port_free_sees_a_listening_socket():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert not port_free(port)
    assert port_free(port)


def test_missing_java_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(ToolMissing, match="java not found"):
        LocalStack(StackConfig(dir=tmp_path)).java()


def test_missing_mvn_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolMissing, match="mvn not found"):
        LocalStack.mvn()


def test_kafka_properties_use_configured_ports_and_forbid_auto_creation(tmp_path):
    stack = LocalStack(StackConfig(dir=tmp_path, kafka_port=19092, kafka_controller_port=19093))
    text = stack._kafka_properties().read_text()
    assert "listeners=PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093" in text
    assert "controller.quorum.voters=1@127.0.0.1:19093" in text
    assert "auto.create.topics.enable=false" in text


def test_neo4j_conf_binds_loopback_with_auth_and_bounded_memory(tmp_path):
    stack = LocalStack(StackConfig(dir=tmp_path, neo4j_port=17687, neo4j_pagecache="256m"))
    text = (stack._neo4j_conf() / "neo4j.conf").read_text()
    assert "server.bolt.listen_address=127.0.0.1:17687" in text
    assert "dbms.security.auth_enabled=true" in text
    assert "server.memory.pagecache.size=256m" in text
    assert "server.http.enabled=false" in text
