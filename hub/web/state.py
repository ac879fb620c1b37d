"""The workbench's running state: configuration, pools, stores, rules, the supervision desk."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from audit.checkpointer import LedgerProofs
from hub.access import Principal
from hub.adapters.accounts_store import PostgresAccounts
from hub.adapters.workbench_store import PostgresWorkbench
from hub.settings import Settings
from hub.web.supervision import SupervisionDesk
from hub.web.views import Names
from streams.rules.rules_config import RuleSet


@dataclass(frozen=True)
class WebConfig:
    """Policy knobs, from the environment (docs/workbench.md)."""

    lockout_threshold: int = 5
    lockout_minutes: float = 15.0
    token_hours: float = 8.0
    session_hours: float = 8.0
    yellow_days: float = 3.0
    secure_cookies: bool = False
    worker_metrics_url: str | None = None

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> WebConfig:
        env = dict(os.environ if env is None else env)
        return cls(
            lockout_threshold=int(env.get("LINKAGE_LOCKOUT_THRESHOLD", "5")),
            lockout_minutes=float(env.get("LINKAGE_LOCKOUT_MINUTES", "15")),
            token_hours=float(env.get("LINKAGE_TOKEN_HOURS", "8")),
            session_hours=float(env.get("LINKAGE_SESSION_HOURS", "8")),
            yellow_days=float(env.get("LINKAGE_YELLOW_DAYS", "3")),
            secure_cookies=env.get("LINKAGE_SECURE_COOKIES", "0") == "1",
            worker_metrics_url=env.get("LINKAGE_WORKER_METRICS_URL") or None,
        )


@dataclass
class Workbench:
    """Everything a request handler needs; built once by the app's lifespan."""

    settings: Settings
    config: WebConfig
    accounts: PostgresAccounts
    store: PostgresWorkbench
    ledger: LedgerProofs
    rules: RuleSet
    desk: SupervisionDesk
    _names: Names | None = None
    _names_at: float = 0.0

    async def names(self, *, fresh: bool = False) -> Names:
        """Agency names, re-read from the registry at most every 30 s (or now if `fresh`)."""
        if fresh or self._names is None or time.monotonic() - self._names_at > 30:
            self._names = Names(await self.store.agency_names())
            self._names_at = time.monotonic()
        return self._names

    @staticmethod
    def now() -> datetime:
        return datetime.now(UTC)

    async def log(self, principal: Principal | None, action: str, client: str | None, *,
                  target: str | None = None, outcome: str = "ok",
                  detail: dict[str, object] | None = None,
                  username: str | None = None) -> None:
        await self.accounts.log(principal, action, target=target, client=client,
                                outcome=outcome, detail=detail, username=username)


__all__ = ["WebConfig", "Workbench"]
