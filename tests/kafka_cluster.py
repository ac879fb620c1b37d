"""A real three-node Apache Kafka (KRaft, SASL/SCRAM, ACLs) cluster on loopback, fetched from Maven Central."""

from __future__ import annotations

import asyncio
import atexit
import base64
import concurrent.futures
import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import weakref
import zipfile
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, TypeVar

KAFKA_VERSION = "4.1.1"
"""The Apache Kafka release (org.apache.kafka:kafka_2.13) that deploy/kafka/pom.xml fetches."""

POM = Path(__file__).resolve().parent.parent / "deploy" / "kafka" / "pom.xml"
ENABLE_HINT = ("to enable it, install Java 17+ and Maven 3 with access to Maven Central "
               "(Debian: apt-get install default-jre-headless maven)")
BROKERS = 3
HOST = "127.0.0.1"
MECHANISM = "SCRAM-SHA-512"

_SAFE = re.compile(r"^[A-Za-z0-9._~@%+-]{1,128}$")
_T = TypeVar("_T")

# Main classes, newest location first (several moved from the Scala core to kafka-tools in 4.x).
_BROKER_MAIN = ("kafka.Kafka",)
_STORAGE_TOOL = ("org.apache.kafka.tools.StorageTool", "kafka.tools.StorageTool")
_ACL_COMMAND = ("org.apache.kafka.tools.AclCommand", "kafka.admin.AclCommand")
_CONFIG_COMMAND = ("org.apache.kafka.tools.ConfigCommand", "kafka.admin.ConfigCommand")

BROKER_JVM = ("-Xms128m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-Djava.awt.headless=true")
"""Broker JVM options besides -Xmx (KafkaCluster's heap) and the logging properties."""
_TOOL_JVM = ["-Xmx256m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Djava.awt.headless=true"]


class KafkaUnavailable(RuntimeError):
    """Java 17+ or Maven is missing: Kafka cannot be fetched or run on this machine."""


class KafkaClusterError(RuntimeError):
    """The cluster failed to format, start, stop or answer an admin command."""


class KafkaFetchError(KafkaClusterError):
    """Java and Maven are there, but Maven failed to fetch Kafka (a broken pom, no Maven Central)."""


@dataclass(frozen=True)
class ScramCredentials:
    """A SCRAM-SHA-512 user of the cluster's SASL_PLAINTEXT client listener."""

    username: str
    password: str

    def aiokafka(self) -> dict[str, str]:
        """Keyword arguments for aiokafka's producer, consumer and admin client."""
        return {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": MECHANISM,
                "sasl_plain_username": self.username, "sasl_plain_password": self.password}

    def java_properties(self) -> str:
        """The same as a Java client configuration (`--command-config` of the Kafka tools)."""
        return ("security.protocol=SASL_PLAINTEXT\n"
                f"sasl.mechanism={MECHANISM}\n"
                "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
                f'username="{self.username}" password="{self.password}";\n')


def kafka_cache(version: str = KAFKA_VERSION) -> Path:
    """Where the jars are kept: $LINKAGE_KAFKA_CACHE, else ~/.cache/linkage-hub/kafka-<version>."""
    configured = os.environ.get("LINKAGE_KAFKA_CACHE")
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "linkage-hub" / f"kafka-{version}"


def java_executable() -> str:
    """The `java` to run (JAVA_HOME's first), checked to be version 17 or newer."""
    java_home = os.environ.get("JAVA_HOME")
    candidate = Path(java_home) / "bin" / "java" if java_home else None
    java = str(candidate) if candidate and candidate.exists() else shutil.which("java")
    if java is None:
        raise KafkaUnavailable(f"Kafka needs Java, and no `java` is on PATH: {ENABLE_HINT}")
    try:
        shown = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60,
                               check=False).stderr
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise KafkaUnavailable(f"`{java} -version` failed ({exc}): {ENABLE_HINT}") from exc
    found = re.search(r'version "(\d+)(?:\.(\d+))?', shown)
    major = 0
    if found:
        major = int(found.group(1))
        if major == 1 and found.group(2):
            major = int(found.group(2))
    if major < 17:
        raise KafkaUnavailable(f"Kafka {KAFKA_VERSION} needs Java 17+, {java} is "
                               f"{shown.strip().splitlines()[0] if shown.strip() else 'unknown'}: "
                               f"{ENABLE_HINT}")
    return java


def fetch_kafka(version: str = KAFKA_VERSION) -> Path:
    """Fetch the broker and tool jars once with Maven (idempotent); returns the cache directory.

    The jars are in `<cache>/libs`; a changed deploy/kafka/pom.xml fetches them again. Raises
    KafkaUnavailable when java (17+) or mvn is missing, KafkaFetchError when Maven fails.
    """
    home = kafka_cache(version)
    libs = home / "libs"
    marker = libs / ".complete"
    stamp = f"{version} {hashlib.sha256(POM.read_bytes()).hexdigest()[:16]}"
    if _fetched(marker, stamp):
        return home
    java_executable()
    mvn = shutil.which("mvn")
    if mvn is None:
        raise KafkaUnavailable(f"fetching Kafka needs Maven, and no `mvn` is on PATH: {ENABLE_HINT}")
    home.mkdir(parents=True, exist_ok=True)
    with (home / ".fetch.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _fetched(marker, stamp):
            return home
        partial = home / "libs.partial"
        shutil.rmtree(partial, ignore_errors=True)
        command = [mvn, "-q", "-B", "-f", str(POM), "dependency:copy-dependencies",
                   f"-DoutputDirectory={partial}", f"-Dkafka.version={version}"]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=1800,
                                  check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise KafkaFetchError(f"{' '.join(command)} failed: {exc}") from exc
        if done.returncode != 0 or not (partial / f"kafka_2.13-{version}.jar").exists():
            output = (done.stdout + done.stderr).strip()[-4000:]
            raise KafkaFetchError(f"Maven could not fetch Kafka {version} "
                                   f"(exit {done.returncode}; is Maven Central reachable?): "
                                   f"{' '.join(command)}\n{output}")
        shutil.rmtree(libs, ignore_errors=True)
        partial.rename(libs)
        marker.write_text(stamp + "\n")
    return home


def _fetched(marker: Path, stamp: str) -> bool:
    """Whether libs/ holds a complete fetch of this version with this pom.xml."""
    try:
        return marker.read_text().strip() == stamp
    except OSError:
        return False


def _find_class(libs: Path, candidates: Sequence[str]) -> str:
    """The first of candidates present in one of the Kafka jars."""
    entries: set[str] = set()
    for jar in sorted(libs.glob("kafka*.jar")):
        with zipfile.ZipFile(jar) as archive:
            entries.update(archive.namelist())
    for name in candidates:
        if name.replace(".", "/") + ".class" in entries:
            return name
    raise KafkaClusterError(f"none of {', '.join(candidates)} is in the jars under {libs}")


def _free_ports(count: int) -> list[int]:
    """Distinct free TCP ports on the loopback address (held together while chosen)."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((HOST, 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def _cluster_id() -> str:
    """A random Kafka cluster id: 16 bytes, URL-safe base64 without padding."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def _check_safe(kind: str, value: str) -> str:
    if not _SAFE.match(value):
        raise ValueError(f"{kind} must match {_SAFE.pattern} (it goes into JAAS and tool "
                         f"arguments unquoted)")
    return value


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _in_thread(factory: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
    """Run a coroutine on a private event loop in a private thread (safe inside running loops)."""
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="kafka-cluster") as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()


def _die_with_parent() -> None:
    """In the child before exec: get SIGKILL when the parent dies (Linux only)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)


_running: weakref.WeakSet[KafkaCluster] = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    for cluster in list(_running):
        with contextlib.suppress(Exception):
            cluster.stop(grace=5.0)


@dataclass
class _Node:
    index: int
    home: Path
    client_port: int
    internal_port: int
    controller_port: int
    process: subprocess.Popen[bytes] | None = None
    output: IO[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.home / "logs" / "server.log"

    @property
    def stdout_log(self) -> Path:
        return self.home / "logs" / "stdout.log"

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def failure(self, what: str) -> KafkaClusterError:
        code = self.process.poll() if self.process else None
        return KafkaClusterError(
            f"broker {self.index} {what} (exit code {code}); {self.home}\n"
            f"--- {self.stdout_log.name} ---\n{_tail(self.stdout_log)}\n"
            f"--- {self.log.name} ---\n{_tail(self.log)}")


class KafkaCluster:
    """Three combined broker+controller Kafka nodes in KRaft mode on 127.0.0.1.

    Clients use SASL_PLAINTEXT with SCRAM-SHA-512 on `bootstrap`; the admin user (a super
    user, created at format time) is `admin_credentials`. Brokers replicate over their own
    SCRAM listener as the admin user, and the controllers talk SASL/PLAIN on a third listener.
    ACLs are enforced by the StandardAuthorizer, with nothing allowed when no ACL matches.
    Topic defaults: replication factor 3, min.insync.replicas 2, no unclean leader election,
    no automatic topic creation.

    With `root=None` the cluster lives in a temporary directory removed by stop(); a given
    root is kept (logs in `node-N/logs/`), and must be empty or absent: each start formats a
    new cluster.
    """

    def __init__(self, root: Path | None = None, *, admin_user: str = "admin",
                 admin_password: str | None = None, client_ports: Sequence[int] | None = None,
                 heap: str = "512m", jvm_options: Sequence[str] = BROKER_JVM,
                 extra_config: Mapping[str, str] | None = None,
                 version: str = KAFKA_VERSION, start_timeout: float = 120.0) -> None:
        if client_ports is not None and len(client_ports) != BROKERS:
            raise ValueError(f"client_ports needs {BROKERS} ports")
        self.admin_credentials = ScramCredentials(
            _check_safe("admin_user", admin_user),
            _check_safe("admin_password", admin_password or os.urandom(18).hex()))
        self.version = version
        self.heap = heap
        self.jvm_options = list(jvm_options)
        self.start_timeout = start_timeout
        self._root = root
        self._owns_root = root is None
        self._client_ports = list(client_ports) if client_ports else None
        self._extra_config = dict(extra_config or {})
        self._nodes: list[_Node] = []
        self._libs: Path | None = None
        self._java = ""
        self._classes: dict[tuple[str, ...], str] = {}

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> KafkaCluster:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def root(self) -> Path:
        """The cluster's directory (node-N/ with server.properties, data/ and logs/)."""
        if self._root is None:
            raise KafkaClusterError("the cluster has not been started")
        return self._root

    @property
    def bootstrap(self) -> str:
        """The client listeners, comma-separated (`127.0.0.1:P0,127.0.0.1:P1,127.0.0.1:P2`)."""
        return ",".join(f"{HOST}:{node.client_port}" for node in self._nodes)

    def address(self, index: int) -> str:
        """The client listener of broker index (0, 1 or 2)."""
        return f"{HOST}:{self._nodes[index].client_port}"

    def start(self) -> KafkaCluster:
        """Fetch Kafka, format three nodes with the admin's SCRAM credentials, start and wait."""
        if self._nodes:
            raise KafkaClusterError("the cluster is already started")
        self._libs = fetch_kafka(self.version) / "libs"
        self._java = java_executable()
        if self._root is None:
            self._root = Path(tempfile.mkdtemp(prefix="linkage-kafka-"))
        elif self._root.exists() and any(self._root.iterdir()):
            raise KafkaClusterError(f"{self._root} is not empty; a cluster starts in an empty "
                                    "directory")
        self._root.mkdir(parents=True, exist_ok=True)
        ports = _free_ports(BROKERS * 3)
        client_ports = self._client_ports or ports[:BROKERS]
        self._nodes = [
            _Node(i, self._root / f"node-{i}", client_ports[i], ports[BROKERS + i],
                  ports[2 * BROKERS + i])
            for i in range(BROKERS)]
        _running.add(self)
        try:
            self._write_configs()
            self._format()
            for node in self._nodes:
                self._launch(node)
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, grace: float = 30.0) -> None:
        """Stop every broker (SIGTERM, then SIGKILL after grace seconds); never raises for one."""
        deadline = time.monotonic() + grace
        try:
            for node in self._nodes:
                if node.running() and node.process is not None:
                    with contextlib.suppress(ProcessLookupError):
                        node.process.terminate()
            for node in self._nodes:
                self._reap(node, deadline)
        finally:
            for node in self._nodes:
                if node.process is not None and node.process.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        node.process.kill()
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        node.process.wait(10)
                self._close_output(node)
            _running.discard(self)
            if self._owns_root and self._root is not None:
                shutil.rmtree(self._root, ignore_errors=True)
                self._root = None
            self._nodes = []

    def stop_broker(self, index: int, grace: float = 60.0) -> None:
        """Stop one broker gracefully (SIGTERM: controlled shutdown), SIGKILL after grace."""
        node = self._nodes[index]
        if node.process is not None and node.running():
            node.process.terminate()
        self._reap(node, time.monotonic() + grace)

    def kill_broker(self, index: int) -> None:
        """Kill one broker at once (SIGKILL), as a crash would."""
        node = self._nodes[index]
        if node.process is not None and node.running():
            node.process.kill()
        self._reap(node, time.monotonic() + 30.0)

    def start_broker(self, index: int, timeout: float | None = None) -> None:
        """Start a stopped or killed broker again and wait until every running broker is ready."""
        node = self._nodes[index]
        if node.running():
            raise KafkaClusterError(f"broker {index} is running")
        self._launch(node)
        self.wait_ready(timeout)

    def running(self) -> list[int]:
        """The indexes of the brokers whose process is alive."""
        return [node.index for node in self._nodes if node.running()]

    def wait_ready(self, timeout: float | None = None) -> None:
        """Poll until each running broker answers the admin over SCRAM and lists all running ones.

        A broker is listed in metadata only once it is registered and unfenced, so this waits
        for the whole running cluster to serve clients. Raises KafkaClusterError on a deadline
        or when a broker process exits.
        """
        deadline = time.monotonic() + (self.start_timeout if timeout is None else timeout)
        expected = set(self.running())
        pending = [node for node in self._nodes if node.index in expected]
        while pending:
            node = pending[0]
            if not node.running():
                raise node.failure("exited while starting")
            if expected <= self._listed_by(node):
                pending.pop(0)
                continue
            if time.monotonic() > deadline:
                raise node.failure(f"was not ready after {timeout or self.start_timeout:.0f}s")
            time.sleep(0.25)

    def _listed_by(self, node: _Node) -> set[int]:
        """The broker ids in the metadata that node gives the admin; empty when it can't."""
        credentials = self.admin_credentials

        async def ask() -> set[int]:
            from aiokafka.conn import create_conn
            from aiokafka.protocol.metadata import MetadataRequest

            conn = await create_conn(HOST, node.client_port, request_timeout_ms=5000,
                                     **credentials.aiokafka())
            try:
                response = await conn.send(MetadataRequest([]))
            finally:
                conn.close()
            return {int(broker["node_id"]) for broker in response.to_object()["brokers"]}

        try:
            return _in_thread(ask)
        except Exception:
            return set()

    # -- administration through the Kafka tools -------------------------------------------------

    def tool(self, candidates: Sequence[str] | str, *args: str, timeout: float = 120.0) -> str:
        """Run a Kafka command-line tool's main class (the first of candidates that exists)."""
        libs = self._require_libs()
        names = (candidates,) if isinstance(candidates, str) else tuple(candidates)
        main = self._classes.get(names) or self._classes.setdefault(names, _find_class(libs, names))
        command = [self._java, *_TOOL_JVM, f"-Dlog4j2.configurationFile={self.root / 'tools-log4j2.properties'}",
                   "-cp", str(libs / "*"), main, *args]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                                  check=False, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            raise KafkaClusterError(f"{main} {' '.join(args)} timed out after {timeout:.0f}s") from exc
        if done.returncode != 0:
            raise KafkaClusterError(f"{main} {' '.join(args)} failed (exit {done.returncode}):\n"
                                    f"{(done.stdout + done.stderr).strip()[-4000:]}")
        return done.stdout

    def admin_tool(self, candidates: Sequence[str] | str, *args: str) -> str:
        """Run a tool as the admin against the running brokers (adds --bootstrap-server, --command-config)."""
        running = ",".join(self.address(i) for i in self.running())
        return self.tool(candidates, "--bootstrap-server", running,
                         "--command-config", str(self.root / "admin.properties"), *args)

    def kafka_acls(self, *args: str) -> str:
        """`kafka-acls` as the admin, e.g. kafka_acls("--list")."""
        return self.admin_tool(_ACL_COMMAND, *args)

    def kafka_configs(self, *args: str) -> str:
        """`kafka-configs` as the admin, e.g. kafka_configs("--describe", "--entity-type", "users")."""
        return self.admin_tool(_CONFIG_COMMAND, *args)

    def add_scram_user(self, name: str, password: str, timeout: float = 60.0) -> ScramCredentials:
        """Create (or change) a SCRAM-SHA-512 user, and wait until every running broker accepts it."""
        credentials = ScramCredentials(_check_safe("name", name), _check_safe("password", password))
        self.kafka_configs("--alter", "--entity-type", "users", "--entity-name", name,
                           "--add-config", f"{MECHANISM}=[iterations=8192,password={password}]")
        self._wait_authenticates(credentials, timeout)
        return credentials

    def allow(self, principal: str, operations: Iterable[str], *, topic: str | None = None,
              group: str | None = None, cluster: bool = False, prefixed: bool = False) -> None:
        """Add ALLOW ACLs for principal (e.g. "User:zs-aic") on a topic, a group or the cluster.

        operations are Kafka's names: Read, Write, Create, Delete, Alter, Describe, All, ...
        Brokers apply new ACLs from the metadata log within moments; callers that must see
        the ACL everywhere at once should retry their first request.
        """
        args = ["--add", "--allow-principal", principal]
        for operation in operations:
            args += ["--operation", operation]
        if topic is not None:
            args += ["--topic", topic]
        if group is not None:
            args += ["--group", group]
        if cluster:
            args.append("--cluster")
        if prefixed:
            args += ["--resource-pattern-type", "prefixed"]
        self.kafka_acls(*args)

    def _wait_authenticates(self, credentials: ScramCredentials, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for index in self.running():
            port = self._nodes[index].client_port

            async def login(port: int = port) -> None:
                from aiokafka.conn import create_conn

                conn = await create_conn(HOST, port, request_timeout_ms=5000,
                                         **credentials.aiokafka())
                conn.close()

            while True:
                try:
                    _in_thread(login)
                    break
                except Exception as exc:
                    if time.monotonic() > deadline:
                        raise KafkaClusterError(f"broker {index} does not accept user "
                                                f"{credentials.username}: {exc!r}") from exc
                    time.sleep(0.2)

    # -- internals -------------------------------------------------------------------------------

    def _require_libs(self) -> Path:
        if self._libs is None:
            raise KafkaClusterError("the cluster has not been started")
        return self._libs

    def _server_properties(self, node: _Node) -> dict[str, str]:
        admin = self.admin_credentials
        voters = ",".join(f"{n.index}@{HOST}:{n.controller_port}" for n in self._nodes)
        scram_login = "org.apache.kafka.common.security.scram.ScramLoginModule required"
        plain_login = "org.apache.kafka.common.security.plain.PlainLoginModule required"
        config = {
            "process.roles": "broker,controller",
            "node.id": str(node.index),
            "controller.quorum.voters": voters,
            "listeners": (f"CLIENT://{HOST}:{node.client_port},INTERNAL://{HOST}:{node.internal_port},"
                          f"CONTROLLER://{HOST}:{node.controller_port}"),
            "advertised.listeners": (f"CLIENT://{HOST}:{node.client_port},"
                                     f"INTERNAL://{HOST}:{node.internal_port}"),
            "listener.security.protocol.map": ("CLIENT:SASL_PLAINTEXT,INTERNAL:SASL_PLAINTEXT,"
                                               "CONTROLLER:SASL_PLAINTEXT"),
            "inter.broker.listener.name": "INTERNAL",
            "controller.listener.names": "CONTROLLER",
            "sasl.enabled.mechanisms": MECHANISM,
            "listener.name.client.sasl.enabled.mechanisms": MECHANISM,
            "listener.name.internal.sasl.enabled.mechanisms": MECHANISM,
            "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
            "sasl.mechanism.inter.broker.protocol": MECHANISM,
            "sasl.mechanism.controller.protocol": "PLAIN",
            "listener.name.client.scram-sha-512.sasl.jaas.config": f"{scram_login};",
            "listener.name.internal.scram-sha-512.sasl.jaas.config": (
                f'{scram_login} username="{admin.username}" password="{admin.password}";'),
            "listener.name.controller.plain.sasl.jaas.config": (
                f'{plain_login} username="{admin.username}" password="{admin.password}" '
                f'user_{admin.username}="{admin.password}";'),
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users": f"User:{admin.username}",
            "allow.everyone.if.no.acl.found": "false",
            "log.dirs": str(node.home / "data"),
            "auto.create.topics.enable": "false",
            "num.partitions": "1",
            "default.replication.factor": "3",
            "min.insync.replicas": "2",
            "unclean.leader.election.enable": "false",
            "offsets.topic.replication.factor": "3",
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.replication.factor": "3",
            "transaction.state.log.min.isr": "2",
            "transaction.state.log.num.partitions": "10",
            "group.initial.rebalance.delay.ms": "0",
        }
        config.update(self._extra_config)
        return config

    def _write_configs(self) -> None:
        root = self.root
        (root / "admin.properties").write_text(self.admin_credentials.java_properties())
        (root / "tools-log4j2.properties").write_text(
            "status = error\n"
            "appender.err.type = Console\nappender.err.name = err\nappender.err.target = SYSTEM_ERR\n"
            "appender.err.layout.type = PatternLayout\nappender.err.layout.pattern = %p %m (%c)%n\n"
            "rootLogger.level = WARN\nrootLogger.appenderRef.err.ref = err\n")
        for node in self._nodes:
            (node.home / "logs").mkdir(parents=True)
            (node.home / "data").mkdir()
            properties = "".join(f"{key}={_escape(value)}\n"
                                 for key, value in self._server_properties(node).items())
            (node.home / "server.properties").write_text(properties)
            logs = node.home / "logs"
            (node.home / "log4j2.properties").write_text(
                "status = error\n"
                f"appender.server.type = File\nappender.server.name = server\n"
                f"appender.server.fileName = {logs / 'server.log'}\n"
                "appender.server.layout.type = PatternLayout\n"
                "appender.server.layout.pattern = [%d] %p %m (%c)%n\n"
                f"appender.auth.type = File\nappender.auth.name = auth\n"
                f"appender.auth.fileName = {logs / 'authorizer.log'}\n"
                "appender.auth.layout.type = PatternLayout\n"
                "appender.auth.layout.pattern = [%d] %p %m (%c)%n\n"
                "rootLogger.level = INFO\nrootLogger.appenderRef.server.ref = server\n"
                "logger.auth.name = kafka.authorizer.logger\nlogger.auth.level = INFO\n"
                "logger.auth.additivity = false\nlogger.auth.appenderRef.auth.ref = auth\n"
                "logger.request.name = kafka.request.logger\nlogger.request.level = WARN\n")

    def _format(self) -> None:
        """kafka-storage format on every node, in parallel, with the admin's SCRAM credentials."""
        cluster_id = _cluster_id()
        admin = self.admin_credentials
        scram = f"{MECHANISM}=[name={admin.username},password={admin.password}]"

        def format_node(node: _Node) -> str:
            return self.tool(_STORAGE_TOOL, "format", "--cluster-id", cluster_id,
                             "--config", str(node.home / "server.properties"),
                             "--add-scram", scram)

        with concurrent.futures.ThreadPoolExecutor(BROKERS) as pool:
            list(pool.map(format_node, self._nodes))

    def _launch(self, node: _Node) -> None:
        libs = self._require_libs()
        main = self._classes.get(_BROKER_MAIN) or self._classes.setdefault(
            _BROKER_MAIN, _find_class(libs, _BROKER_MAIN))
        command = [self._java, f"-Xmx{self.heap}", *self.jvm_options,
                   f"-Dlog4j2.configurationFile={node.home / 'log4j2.properties'}",
                   f"-Dkafka.logs.dir={node.home / 'logs'}",
                   "-cp", str(libs / "*"), main, str(node.home / "server.properties")]
        self._close_output(node)
        node.output = (node.home / "logs" / "stdout.log").open("ab")
        # Own session: a Ctrl-C meant for the caller doesn't hit the JVMs, stop() shuts them
        # down. Die with the parent, so a killed test run leaves no broker behind; only from the
        # main thread, as the kernel ties that signal to the thread that forked, not the process.
        main_thread = threading.current_thread() is threading.main_thread()
        node.process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=node.output, stderr=subprocess.STDOUT,
            cwd=node.home, start_new_session=True,
            preexec_fn=_die_with_parent if main_thread and sys.platform == "linux" else None)

    def _reap(self, node: _Node, deadline: float) -> None:
        if node.process is None:
            return
        try:
            node.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            node.process.kill()
            node.process.wait(30)
        self._close_output(node)

    @staticmethod
    def _close_output(node: _Node) -> None:
        if node.output is not None:
            node.output.close()
            node.output = None


def _escape(value: str) -> str:
    """A Java properties value: backslashes doubled (paths and JAAS strings have none here)."""
    return value.replace("\\", "\\\\")
