"""Finding the running hub's broker and database for CLI commands.

Order: the environment (LINKAGE_KAFKA / LINKAGE_DATABASE_URL), then the runtime file that
`linkage-hub up` writes in LINKAGE_HOME, then (database only) the embedded PostgreSQL
data directory under LINKAGE_HOME, started on demand.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

from hub.settings import HomeNotInitialised, Settings

RUNTIME_FILE = "runtime.json"


def runtime_path(settings: Settings) -> Path:
    return settings.home / RUNTIME_FILE


def write_runtime(settings: Settings, kafka: str, database_url: str, pid: int) -> None:
    settings.home.mkdir(parents=True, exist_ok=True)
    runtime_path(settings).write_text(
        json.dumps({"kafka": kafka, "database_url": database_url, "pid": pid,
                    "http_port": settings.http_port}, indent=2)
    )


def clear_runtime(settings: Settings) -> None:
    runtime_path(settings).unlink(missing_ok=True)


def _read_runtime(settings: Settings) -> dict[str, str]:
    path = runtime_path(settings)
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    try:
        os.kill(int(data.get("pid", 0)), 0)
    except (OSError, ValueError):
        return {}
    return {k: str(v) for k, v in data.items()}


_embedded: list[object] = []


def embedded_pgdata(settings: Settings) -> Path:
    return settings.home / "pgdata"


def resolve(settings: Settings, *, need_kafka: bool = False, need_database: bool = True,
            init: bool = False) -> Settings:
    """Settings with kafka / database_url filled from the runtime file or embedded data.

    Without LINKAGE_DATABASE_URL or a running `up`, the embedded database under LINKAGE_HOME
    is started; it is created only when `init` is true (`linkage-hub init`), so a command
    run in the wrong directory refuses instead of answering from a new, empty database.
    """
    runtime = _read_runtime(settings)
    kafka = settings.kafka or runtime.get("kafka")
    database_url = settings.database_url or runtime.get("database_url")
    if need_database and not database_url:
        from hub.embedded import EmbeddedDatabase

        pgdata = embedded_pgdata(settings)
        if not init and not (pgdata / "PG_VERSION").exists():
            raise HomeNotInitialised(settings.home, "没有数据库", "no database")
        db = EmbeddedDatabase(pgdata).start()
        _embedded.append(db)
        database_url = db.dsn
    resolved = replace(settings, kafka=kafka, database_url=database_url)
    if need_kafka:
        resolved.require_kafka()
    return resolved


def signal_up(settings: Settings) -> bool:
    """Ask a running `linkage-hub up` (from the runtime file) to restart its worker."""
    import signal

    pid = _read_runtime(settings).get("pid")
    if not pid:
        return False
    try:
        os.kill(int(pid), signal.SIGHUP)
    except (OSError, ValueError):
        return False
    return True
