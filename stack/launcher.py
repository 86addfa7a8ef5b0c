"""The local stack: a real Apache Kafka (KRaft, one node) and a real Neo4j Community server,
run from Maven Central jars without Docker.

Layout under the stack folder (default ``.stack/``, git-ignored)::

    lib/kafka, lib/neo4j     jars copied by Maven (reused while the pom is unchanged)
    kafka/                   server.properties and the KRaft log dirs
    neo4j/                   home: conf/neo4j.conf, data/, logs/
    logs/                    each server's console output
    run/                     pid files of the processes `up` started
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import socket
import subprocess
import uuid
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from stack import processes
from stack.errors import PortInUse, StackError, ToolMissing
from stack.readiness import wait_until_ready

SERVICES = ("kafka", "neo4j")

KAFKA_JVM_FLAGS = [
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-Djava.awt.headless=true",
]
# The flags Neo4j 5's own launcher sets; without the java.nio opens 5.x fails to start.
NEO4J_JVM_FLAGS = [
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--enable-native-access=ALL-UNNAMED",
    "-XX:+UseG1GC",
    "-XX:-OmitStackTraceInFastThrow",
    "-XX:+UnlockExperimentalVMOptions",
    "-XX:+TrustFinalNonStaticFields",
    "-XX:+DisableExplicitGC",
    "-Djdk.nio.maxCachedBufferSize=1024",
    "-Dio.netty.tryReflectionSetAccessible=true",
]


@dataclass(frozen=True)
class StackConfig:
    """Everything the launcher needs, as plain values (built from Settings by the CLI)."""

    dir: Path
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    neo4j_port: int = 7687
    kafka_heap: str = "1g"
    neo4j_heap: str = "1g"
    neo4j_pagecache: str = "512m"
    neo4j_password: str | None = None
    start_timeout_s: float = 180.0
    java_home: Path | None = None


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    pid: int | None
    port: int
    answering: bool

    @property
    def running(self) -> bool:
        return self.pid is not None


def _pom(service: str) -> Path:
    return Path(str(resources.files("stack").joinpath("maven").joinpath(service)), "pom.xml")


def kafka_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding (as Kafka's own
    ``random-uuid``, which also avoids ids starting with '-')."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing listens on host:port (TIME_WAIT leftovers do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def port_answers(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def kafka_properties(c: StackConfig, log_dir: Path) -> dict[str, str]:
    """The broker's server.properties for a one-node KRaft cluster on loopback."""
    return {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@127.0.0.1:{c.kafka_controller_port}",
        "listeners": f"PLAINTEXT://127.0.0.1:{c.kafka_port},"
        f"CONTROLLER://127.0.0.1:{c.kafka_controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{c.kafka_port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(log_dir),
        "num.partitions": "1",
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        # Topics come only from the project (`goodsflow topics create`), never by accident.
        "auto.create.topics.enable": "false",
    }


class LocalStack:
    """Start, check and stop the local Kafka and Neo4j. Every method is idempotent."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.dir = config.dir.resolve()
        self._java: str | None = None

    # -- paths ------------------------------------------------------------------------
    def lib(self, service: str) -> Path:
        return self.dir / "lib" / service

    def pid_file(self, service: str) -> Path:
        return self.dir / "run" / f"{service}.pid"

    def console_log(self, service: str) -> Path:
        return self.dir / "logs" / f"{service}.out"

    def server_log(self, service: str) -> Path:
        if service == "kafka":
            return self.dir / "logs" / "kafka" / "server.log"
        return self.dir / "neo4j" / "logs" / "neo4j.log"

    def _ports(self, service: str) -> list[tuple[int, str]]:
        if service == "kafka":
            return [
                (self.config.kafka_port, "GOODSFLOW_STACK__KAFKA_PORT"),
                (self.config.kafka_controller_port, "GOODSFLOW_STACK__KAFKA_CONTROLLER_PORT"),
            ]
        return [(self.config.neo4j_port, "GOODSFLOW_STACK__NEO4J_PORT")]

    def port(self, service: str) -> int:
        return self.config.kafka_port if service == "kafka" else self.config.neo4j_port

    # -- tools ------------------------------------------------------------------------
    def java(self) -> str:
        """The java executable (checked to be Java 17+ once per LocalStack)."""
        if self._java is None:
            self._java = self._find_java()
        return self._java

    def _find_java(self) -> str:
        home = self.config.java_home or (
            Path(os.environ["JAVA_HOME"]) if os.environ.get("JAVA_HOME") else None
        )
        candidate = str(home / "bin" / "java") if home else shutil.which("java")
        if not candidate or not Path(candidate).exists():
            raise ToolMissing(
                "java not found: install a Java 17+ runtime (Debian: apt-get install "
                "openjdk-17-jre-headless) or set JAVA_HOME"
            )
        out = subprocess.run([candidate, "-version"], capture_output=True, text=True).stderr
        match = re.search(r'version "(\d+)', out)
        if not match or int(match.group(1)) < 17:
            raise ToolMissing(f"{candidate} is not Java 17 or newer: {out.splitlines()[:1]}")
        return candidate

    @staticmethod
    def mvn() -> str:
        found = shutil.which("mvn")
        if not found:
            raise ToolMissing(
                "mvn not found: the stack downloads Kafka and Neo4j jars with Maven "
                "(Debian: apt-get install maven)"
            )
        return found

    def ensure_jars(self, service: str) -> bool:
        """Copy the service's runtime jars from Maven (only when missing or the pom changed).

        Returns True when Maven ran.
        """
        pom = _pom(service)
        digest = hashlib.sha256(pom.read_bytes()).hexdigest()
        lib = self.lib(service)
        marker = lib / ".resolved"
        if marker.exists() and marker.read_text() == digest:
            return False
        if lib.exists():
            shutil.rmtree(lib)
        lib.mkdir(parents=True)
        cmd = [
            self.mvn(), "-B", "-q", "-f", str(pom), "dependency:copy-dependencies",
            "-DincludeScope=runtime", f"-DoutputDirectory={lib}",
        ]  # fmt: skip
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
            raise StackError(f"Maven could not resolve the {service} jars:\n{tail}")
        marker.write_text(digest)
        return True

    # -- kafka ------------------------------------------------------------------------
    def _kafka_properties(self) -> Path:
        home = self.dir / "kafka"
        props = kafka_properties(self.config, home / "data")
        home.mkdir(parents=True, exist_ok=True)
        path = home / "server.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        return path

    def _kafka_java_base(self) -> list[str]:
        log4j = Path(
            str(resources.files("stack").joinpath("conf").joinpath("kafka-log4j.properties"))
        )
        return [
            self.java(),
            f"-Dlog4j.configuration=file:{log4j}",
            f"-Dkafka.logs.dir={self.dir / 'logs' / 'kafka'}",
            "-cp",
            f"{self.lib('kafka')}/*",
        ]

    def _start_kafka(self) -> None:
        props = self._kafka_properties()
        if not (self.dir / "kafka" / "data" / "meta.properties").exists():
            cmd = [*self._kafka_java_base(), "kafka.tools.StorageTool", "format",
                   "-t", kafka_cluster_id(), "-c", str(props), "--ignore-formatted"]  # fmt: skip
            result = subprocess.run(cmd, capture_output=True, text=True)
            if result.returncode != 0:
                raise StackError(f"formatting Kafka storage failed: {result.stdout}{result.stderr}")
        heap = self.config.kafka_heap
        base = self._kafka_java_base()
        cmd = [base[0], f"-Xmx{heap}", f"-Xms{heap}", *KAFKA_JVM_FLAGS, *base[1:],
               "kafka.Kafka", str(props)]  # fmt: skip
        processes.spawn(cmd, self.console_log("kafka"), self.dir, self.pid_file("kafka"))

    # -- neo4j ------------------------------------------------------------------------
    def _neo4j_conf(self) -> Path:
        c = self.config
        home = self.dir / "neo4j"
        conf_dir = home / "conf"
        conf_dir.mkdir(parents=True, exist_ok=True)
        settings = {
            "server.default_listen_address": "127.0.0.1",
            "server.bolt.enabled": "true",
            "server.bolt.listen_address": f"127.0.0.1:{c.neo4j_port}",
            "server.bolt.advertised_address": f"127.0.0.1:{c.neo4j_port}",
            "server.http.enabled": "false",
            "server.https.enabled": "false",
            "server.directories.data": str(home / "data"),
            "server.directories.logs": str(home / "logs"),
            "dbms.security.auth_enabled": "true",
            "server.memory.pagecache.size": c.neo4j_pagecache,
            "db.tx_log.rotation.retention_policy": "2 days 1G",
            "dbms.usage_report.enabled": "false",
        }
        (conf_dir / "neo4j.conf").write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
        return conf_dir

    def _neo4j_initialised(self) -> bool:
        return (self.dir / "neo4j" / "data" / "databases" / "system").exists()

    def _start_neo4j(self) -> None:
        password = self.config.neo4j_password
        if not password:
            raise StackError(
                "no Neo4j password: set GOODSFLOW_NEO4J__PASSWORD or "
                "GOODSFLOW_NEO4J__PASSWORD_FILE before `goodsflow stack up`"
            )
        conf_dir = self._neo4j_conf()
        home = self.dir / "neo4j"
        classpath = f"{self.lib('neo4j')}/*"
        if not self._neo4j_initialised():
            env = {**os.environ, "NEO4J_HOME": str(home), "NEO4J_CONF": str(conf_dir)}
            cmd = [
                self.java(),
                *NEO4J_JVM_FLAGS[:3],
                "-cp",
                classpath,
                "org.neo4j.cli.AdminTool",
                "dbms",
                "set-initial-password",
                "--require-password-change=false",
                "--",
                password,
            ]  # fmt: skip  ("--": a password may start with "-")
            result = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=home)
            if result.returncode != 0:
                raise StackError(f"setting the Neo4j password failed: {result.stderr[-2000:]}")
        heap = self.config.neo4j_heap
        cmd = [self.java(), f"-Xmx{heap}", f"-Xms{heap}", *NEO4J_JVM_FLAGS, "-cp", classpath,
               "org.neo4j.server.CommunityEntryPoint",
               f"--home-dir={home}", f"--config-dir={conf_dir}"]  # fmt: skip
        processes.spawn(cmd, self.console_log("neo4j"), home, self.pid_file("neo4j"))

    # -- lifecycle --------------------------------------------------------------------
    def status(self) -> list[ServiceStatus]:
        result = []
        for service in SERVICES:
            proc = processes.recorded(self.pid_file(service))
            port = self.port(service)
            result.append(
                ServiceStatus(service, proc.pid if proc else None, port, port_answers(port))
            )
        return result

    def up(self, services: tuple[str, ...] = SERVICES) -> dict[str, str]:
        """Start whichever of ``services`` is not running; wait until they all answer.

        Returns what was done per service: "started" or "already running".
        """
        self.java()
        for service in services:
            self.ensure_jars(service)
        to_start = [s for s in services if processes.recorded(self.pid_file(s)) is None]
        # Check every port before starting anything, so a taken port leaves nothing behind.
        for service in to_start:
            for port, variable in self._ports(service):
                if not port_free(port):
                    raise PortInUse(
                        f"port {port} on 127.0.0.1 is already in use, so {service} cannot "
                        f"listen there: stop what holds it, or choose another port with "
                        f"{variable}"
                    )
        done = {service: "already running" for service in services if service not in to_start}
        try:
            for service in to_start:
                (self._start_kafka if service == "kafka" else self._start_neo4j)()
                done[service] = "started"
            wait_until_ready(self, self.config.start_timeout_s, services)
        except BaseException:
            for service in to_start:  # leave nothing half-started behind
                processes.stop(self.pid_file(service), timeout_s=20)
            raise
        return done

    def down(self, services: tuple[str, ...] = SERVICES) -> dict[str, str]:
        """Stop the processes `up` started (by their recorded pids), Neo4j first."""
        done = {}
        for service in reversed(services):
            stopped = processes.stop(self.pid_file(service))
            done[service] = "stopped" if stopped else "not running"
        return done

    def log_tail(self, service: str, lines: int = 40) -> str:
        for path in (self.server_log(service), self.console_log(service)):
            if path.exists():
                return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        return f"(no log yet for {service})"
