import os

import pytest

from goodsflow.settings import ConfigurationError, Settings, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no stray .env
    for var in [v for v in os.environ if v.startswith("GOODSFLOW_")]:
        monkeypatch.delenv(var)


def test_client_addresses_follow_the_stack_ports(monkeypatch):
    monkeypatch.setenv("GOODSFLOW_STACK__KAFKA_PORT", "19092")
    monkeypatch.setenv("GOODSFLOW_STACK__NEO4J_PORT", "17687")
    s = Settings()
    assert s.bootstrap_servers == "127.0.0.1:19092"
    assert s.neo4j_uri == "bolt://127.0.0.1:17687"


def test_explicit_addresses_win(monkeypatch):
    monkeypatch.setenv("GOODSFLOW_KAFKA__BOOTSTRAP_SERVERS", "kafka:9092")
    assert Settings().bootstrap_servers == "kafka:9092"


def test_missing_password_is_a_clear_error():
    with pytest.raises(ConfigurationError, match="GOODSFLOW_NEO4J__PASSWORD"):
        Settings().neo4j_password()


@pytest.mark.parametrize("bad", ["short", "neo4j"])
def test_weak_or_default_password_is_refused(monkeypatch, bad):
    monkeypatch.setenv("GOODSFLOW_NEO4J__PASSWORD", bad)
    with pytest.raises(ConfigurationError):
        Settings().neo4j_password()


def test_password_file_is_read_and_stripped(monkeypatch, tmp_path):
    secret = tmp_path / "pw"
    secret.write_text("s3cret-enough\n")
    monkeypatch.setenv("GOODSFLOW_NEO4J__PASSWORD_FILE", str(secret))
    assert Settings().neo4j_password() == "s3cret-enough"


def test_unreadable_password_file_names_it(monkeypatch, tmp_path):
    monkeypatch.setenv("GOODSFLOW_NEO4J__PASSWORD_FILE", str(tmp_path / "missing"))
    with pytest.raises(ConfigurationError, match="missing"):
        Settings().neo4j_password()


def test_bad_value_names_the_variable(monkeypatch):
    monkeypatch.setenv("GOODSFLOW_STACK__KAFKA_PORT", "99999")
    with pytest.raises(ConfigurationError, match="GOODSFLOW_STACK__KAFKA_PORT"):
        load_settings()
