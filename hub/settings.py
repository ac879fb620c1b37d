"""Runtime settings from the environment (contract section 6) and the state directory."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from schemas.signing import SigningKey


@dataclass(frozen=True)
class Settings:
    """Where the hub's broker, database and state live."""

    home: Path
    kafka: str | None
    database_url: str | None
    deployment: str
    http_port: int
    fast_rebalance: bool
    checkpoint_interval: float
    checkpoint_every: int

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        return cls(
            home=Path(env.get("LINKAGE_HOME", "./.linkage-hub")).resolve(),
            kafka=env.get("LINKAGE_KAFKA") or None,
            database_url=env.get("LINKAGE_DATABASE_URL") or None,
            deployment=env.get("LINKAGE_DEPLOYMENT", "local"),
            http_port=int(env.get("LINKAGE_HTTP_PORT", "8470")),
            fast_rebalance=env.get("LINKAGE_FAST_REBALANCE", "0") == "1",
            checkpoint_interval=float(env.get("LINKAGE_CHECKPOINT_INTERVAL", "5")),
            checkpoint_every=int(env.get("LINKAGE_CHECKPOINT_EVERY", "1000")),
        )

    @property
    def origin(self) -> str:
        """Checkpoint origin line, `<deployment>.linkage-hub/ledger`."""
        return f"{self.deployment}.linkage-hub/ledger"

    @property
    def keys_dir(self) -> Path:
        return self.home / "keys"

    def hub_key(self) -> SigningKey:
        """The hub's own Ed25519 key; generated on first use under LINKAGE_HOME/keys."""
        path = self.keys_dir / "hub.key.pem"
        if not path.exists():
            SigningKey.generate().write_pair(self.keys_dir, "hub")
        return SigningKey.from_file(path)

    def require_database(self) -> str:
        if not self.database_url:
            raise SystemExit(
                "未配置数据库:请设置 LINKAGE_DATABASE_URL 或先运行 `linkage-hub up`\n"
                "no database: set LINKAGE_DATABASE_URL or run `linkage-hub up` first"
            )
        return self.database_url

    def require_kafka(self) -> str:
        if not self.kafka:
            raise SystemExit(
                "未配置 Kafka:请设置 LINKAGE_KAFKA 或先运行 `linkage-hub up`\n"
                "no Kafka: set LINKAGE_KAFKA or run `linkage-hub up` first"
            )
        return self.kafka
