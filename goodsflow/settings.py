"""goodsflow's one settings object, read from GOODSFLOW_* environment variables and an
optional ``.env`` file in the working directory. Nested groups use ``__``:
``GOODSFLOW_STACK__KAFKA_PORT=19092``, ``GOODSFLOW_NEO4J__PASSWORD=...``.

Secrets (the Neo4j password) come only from the environment or a secrets file named by
``GOODSFLOW_NEO4J__PASSWORD_FILE``; there is no default. Only entry points (CLI, worker)
read settings; library classes take plain arguments.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas import GoodsflowError
from streams.topics import Topics


class ConfigurationError(GoodsflowError):
    """A setting is missing or wrong."""


class StackSettings(BaseModel):
    """The local stack (`goodsflow stack ...`)."""

    dir: Path = Path(".stack")
    kafka_port: int = Field(default=9092, ge=1, le=65535)
    kafka_controller_port: int = Field(default=9093, ge=1, le=65535)
    neo4j_port: int = Field(default=7687, ge=1, le=65535)
    kafka_heap: str = Field(default="1g", pattern=r"^\d+[mg]$")
    neo4j_heap: str = Field(default="1g", pattern=r"^\d+[mg]$")
    neo4j_pagecache: str = Field(default="512m", pattern=r"^\d+[mg]$")
    start_timeout_s: float = Field(default=180.0, gt=0)
    java_home: Path | None = None


class KafkaSettings(BaseModel):
    # Default: the local stack's broker.
    bootstrap_servers: str | None = None
    # Put before every topic and consumer-group name (streams/topics.py), so deployments or
    # test sessions can share a cluster: "staging." gives "staging.checkpoint-events".
    topic_prefix: str = Field(default="", pattern=r"^[A-Za-z0-9._-]{0,100}$")


class Neo4jSettings(BaseModel):
    uri: str | None = None  # default: the local stack's Bolt port on loopback
    user: str = "neo4j"
    password: SecretStr | None = None
    password_file: Path | None = None
    database: str = "neo4j"
    # investigator queries: the server stops a query after this long
    query_timeout_s: float = Field(default=10.0, gt=0)


class OutboxSettings(BaseModel):
    """The checkpoint's local outbox (`goodsflow publish`, `goodsflow outbox ...`)."""

    path: Path = Path(".goodsflow/outbox.db")
    connect_timeout_s: float = Field(default=10.0, gt=0)


class ApiSettings(BaseModel):
    """The investigators' HTTP API (`goodsflow api`)."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    tokens: SecretStr | None = None  # comma-separated bearer tokens
    tokens_file: Path | None = None  # or a file with one token per line


class DeliverySettings(BaseModel):
    """Alert delivery to the task forces (`goodsflow alerts ...`)."""

    # the task forces' subscriptions, with their webhook secrets (created owner-only)
    subscriptions: Path = Path(".goodsflow/subscriptions.db")
    max_tries: int = Field(default=8, ge=1, le=100)  # then the dead-letter topic
    attempt_timeout_s: float = Field(default=10.0, gt=0)
    backoff_base_s: float = Field(default=0.5, gt=0)
    backoff_cap_s: float = Field(default=60.0, gt=0)
    # the Kafka consumer group; a group new to the topics starts at their end
    group: str = Field(default="goodsflow-delivery", min_length=1)
    # Prometheus metrics on this port (0: none)
    metrics_port: int = Field(default=9465, ge=0, le=65535)
    metrics_host: str = "127.0.0.1"


class DetectionSettings(BaseModel):
    # Rule thresholds; default: the documented streams/detection.toml.
    config: Path | None = None


class WorkerSettings(BaseModel):
    # Records taken from Kafka per batch, at most; each batch is processed, written and
    # committed as one step (docs/STREAMS.md).
    batch_size: int = Field(default=2000, ge=1, le=100_000)
    # How long the group waits for a worker that stopped answering (a killed worker holds
    # its partitions this long). The broker refuses less than 6 s.
    session_timeout_s: float = Field(default=30.0, ge=6)
    # Prometheus metrics on this port (0: none). Several workers on one host need one each.
    metrics_port: int = Field(default=9464, ge=0, le=65535)
    metrics_host: str = "127.0.0.1"
    log_level: str = "info"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="GOODSFLOW_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
    )

    stack: StackSettings = StackSettings()
    kafka: KafkaSettings = KafkaSettings()
    neo4j: Neo4jSettings = Neo4jSettings()
    worker: WorkerSettings = WorkerSettings()
    outbox: OutboxSettings = OutboxSettings()
    detection: DetectionSettings = DetectionSettings()
    api: ApiSettings = ApiSettings()
    delivery: DeliverySettings = DeliverySettings()

    @model_validator(mode="after")
    def _derive_addresses(self) -> Settings:
        if self.kafka.bootstrap_servers is None:
            self.kafka.bootstrap_servers = f"127.0.0.1:{self.stack.kafka_port}"
        if self.neo4j.uri is None:
            self.neo4j.uri = f"bolt://127.0.0.1:{self.stack.neo4j_port}"
        return self

    @property
    def bootstrap_servers(self) -> str:
        assert self.kafka.bootstrap_servers is not None
        return self.kafka.bootstrap_servers

    @property
    def topics(self) -> Topics:
        """Topic and consumer-group names under the configured prefix."""
        return Topics(self.kafka.topic_prefix)

    @property
    def neo4j_uri(self) -> str:
        assert self.neo4j.uri is not None
        return self.neo4j.uri

    def neo4j_password(self) -> str:
        """The Neo4j password, from GOODSFLOW_NEO4J__PASSWORD or the file it names.

        Raises:
            ConfigurationError: neither is set, the file is unreadable, or it is empty.
        """
        if self.neo4j.password is not None:
            value = self.neo4j.password.get_secret_value()
        elif self.neo4j.password_file is not None:
            try:
                value = self.neo4j.password_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigurationError(
                    f"cannot read GOODSFLOW_NEO4J__PASSWORD_FILE {self.neo4j.password_file}: "
                    f"{exc.strerror}"
                ) from None
        else:
            raise ConfigurationError(
                "no Neo4j password: set GOODSFLOW_NEO4J__PASSWORD, or "
                "GOODSFLOW_NEO4J__PASSWORD_FILE to a file holding it"
            )
        if len(value) < 8:
            raise ConfigurationError("the Neo4j password must have at least 8 characters")
        if value == "neo4j":
            raise ConfigurationError("the Neo4j password must not be the default 'neo4j'")
        return value

    def api_tokens(self) -> list[str]:
        """The API's bearer tokens, from GOODSFLOW_API__TOKENS (comma-separated) or the file
        GOODSFLOW_API__TOKENS_FILE names (one per line).

        Raises:
            ConfigurationError: none configured, the file is unreadable, or a token is
                shorter than 16 characters.
        """
        if self.api.tokens is not None:
            raw = self.api.tokens.get_secret_value().split(",")
        elif self.api.tokens_file is not None:
            try:
                raw = self.api.tokens_file.read_text(encoding="utf-8").splitlines()
            except OSError as exc:
                raise ConfigurationError(
                    f"cannot read GOODSFLOW_API__TOKENS_FILE {self.api.tokens_file}: {exc.strerror}"
                ) from None
        else:
            raw = []
        tokens = [t.strip() for t in raw if t.strip()]
        if not tokens:
            raise ConfigurationError(
                "no API tokens: set GOODSFLOW_API__TOKENS (comma-separated) or "
                "GOODSFLOW_API__TOKENS_FILE (one per line)"
            )
        if any(len(t) < 16 for t in tokens):
            raise ConfigurationError("every API token must have at least 16 characters")
        return tokens


def load_settings() -> Settings:
    """Read settings; a bad value becomes a ConfigurationError naming the variable."""
    from pydantic import ValidationError

    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            "GOODSFLOW_" + "__".join(str(p) for p in err["loc"]).upper() + f": {err['msg']}"
            for err in exc.errors(include_url=False)
        )
        raise ConfigurationError(f"bad setting: {problems}") from None
