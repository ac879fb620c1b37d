"""The PostgreSQL seam skips TLS only to loopback servers and only when nobody chose a mode."""

from __future__ import annotations

import pytest

from hub.adapters.postgres import connection_options

NO_ENV: dict[str, str] = {}


@pytest.mark.parametrize("dsn", [
    "postgresql://postgres:postgres@127.0.0.1:5432/postgres",
    "postgresql://u@127.0.0.2/db",
    "postgresql://u:p@localhost/db",
    "postgresql://u:p@LOCALHOST:5433/db",
    "postgresql://u:p@[::1]:5432/db",
    "postgresql://u:p@127.0.0.1:5432,[::1]:5433/db",
    "postgresql://u:p@/db?host=127.0.0.1",
])
def test_loopback_without_a_chosen_mode_connects_without_tls(dsn: str) -> None:
    assert connection_options(dsn, NO_ENV) == {"ssl": False}


@pytest.mark.parametrize("dsn", [
    "postgresql://u:p@db.example.gov.cn:5432/db",
    "postgresql://u:p@10.0.0.5/db",
    "postgresql://u:p@127.0.0.1:5432,10.0.0.6:5432/db",  # one remote host is enough
    "postgresql://u:p@127.0.0.1/db?sslmode=require",
    "postgresql://u:p@localhost/db?sslmode=verify-full&sslrootcert=/etc/ca.pem",
    "postgresql://u:p@127.0.0.1/db?ssl=true",
    "postgresql://u:p@/db",  # no host: asyncpg's own default (a socket, or PGHOST)
    "postgresql://u:p@/db?host=/var/run/postgresql",
    "postgresql://u:p@127.0.0.1:5432/db?host=db.example.gov.cn",
])
def test_remote_hosts_and_chosen_modes_are_left_to_asyncpg(dsn: str) -> None:
    assert connection_options(dsn, NO_ENV) == {}


def test_pgsslmode_in_the_environment_is_a_chosen_mode() -> None:
    dsn = "postgresql://u:p@127.0.0.1/db"
    assert connection_options(dsn, {"PGSSLMODE": "require"}) == {}
    assert connection_options(dsn, {"PGSSLMODE": ""}) == {"ssl": False}
