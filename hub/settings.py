"""Runtime settings from the environment (contract section 6) and the state directory."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from connectors.kafka_security import PLAINTEXT, KafkaSecurity
from schemas.signing import SigningKey


class HomeNotInitialised(RuntimeError):
    """LINKAGE_HOME holds no hub (no hub key, no embedded database) and nobody asked to make one.

    Only `linkage-hub init` and `linkage-hub up` create a hub home: a command run in the wrong
    directory must not silently mint a new hub key or an empty database.
    """

    def __init__(self, home: Path, missing_zh: str, missing_en: str) -> None:
        super().__init__(
            f"{home} 不是已初始化的枢纽目录（{missing_zh}）：请先运行 `linkage-hub init` 或 "
            f"`linkage-hub up`，或将 LINKAGE_HOME 指向枢纽目录 / {home} is not an initialised "
            f"hub home ({missing_en}): run `linkage-hub init` or `linkage-hub up` first, or "
            "point LINKAGE_HOME at the hub's home")
        self.home = home


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
    embedded_durable: bool = True
    """`up`'s embedded broker keeps topics on disk (Tansu s3:// on SeaweedFS); LINKAGE_EMBEDDED_STORAGE=memory for the fast, forgetful engine."""
    kafka_security: KafkaSecurity = field(default=PLAINTEXT)
    """The hub's own Kafka principal (LINKAGE_KAFKA_SECURITY_PROTOCOL, LINKAGE_KAFKA_SASL_*)."""
    kafka_admin_security: KafkaSecurity | None = None
    """Who changes ACLs and SCRAM users (LINKAGE_KAFKA_ADMIN_SASL_*); None: the hub's principal."""
    partitions: int = 1
    """Partitions of every topic the hub creates (LINKAGE_KAFKA_PARTITIONS); keyed by case id."""
    replication: int = 1
    """Replication factor of those topics (LINKAGE_KAFKA_REPLICATION; 3 on Apache Kafka)."""
    rules_http_port: int = 8471
    """The rules process's /healthz and /metrics (LINKAGE_RULES_HTTP_PORT, default
    LINKAGE_HTTP_PORT + 1)."""
    rules_fetch_wait_ms: int = 500
    """How long the broker may hold the rules consumer's fetches (LINKAGE_RULES_FETCH_WAIT_MS;
    see fetch_wait_ms for the ingress consumer's). No receipt waits on the
    rules, and a short wait there only buys polling: on Tansu it cost the broker, PostgreSQL
    and the rules process more CPU per event (smaller batches) for alerts ~0.2 s sooner."""
    fetch_wait_ms: int = 500
    """How long the broker may hold the hub's consumer fetches (LINKAGE_FETCH_WAIT_MS).
    Apache Kafka's long poll answers as soon as data arrives, so there the wait costs no
    latency and 500 ms (aiokafka's default) keeps idle fetches rare; Tansu holds a fetch for
    about half the wait even when data is there, so for the embedded broker
    (LINKAGE_FAST_REBALANCE=1, set by `up` and the tests) the default is 50 ms: faust's
    hard-coded 1,500 ms made p99 send→commit ~1.7 s at 300 events/s."""
    witnesses: tuple[str, ...] = ()
    """Verifier keys (vkeys) of the witnesses whose cosignatures the hub keeps: from
    LINKAGE_WITNESSES (separated by spaces, commas or newlines) and, one per line,
    $LINKAGE_HOME/witnesses.txt (`#` starts a comment)."""

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
            embedded_durable=env.get("LINKAGE_EMBEDDED_STORAGE", "durable") != "memory",
            kafka_security=KafkaSecurity.from_env(env),
            kafka_admin_security=(KafkaSecurity.from_env(env, "LINKAGE_KAFKA_ADMIN_")
                                  if env.get("LINKAGE_KAFKA_ADMIN_SASL_USERNAME") else None),
            partitions=int(env.get("LINKAGE_KAFKA_PARTITIONS", "1")),
            replication=int(env.get("LINKAGE_KAFKA_REPLICATION", "1")),
            rules_http_port=int(env.get("LINKAGE_RULES_HTTP_PORT")
                                or int(env.get("LINKAGE_HTTP_PORT", "8470")) + 1),
            rules_fetch_wait_ms=int(env.get("LINKAGE_RULES_FETCH_WAIT_MS") or "500"),
            fetch_wait_ms=int(env.get("LINKAGE_FETCH_WAIT_MS") or (
                50 if env.get("LINKAGE_FAST_REBALANCE", "0") == "1" else 500)),
            witnesses=tuple(env.get("LINKAGE_WITNESSES", "").replace(",", " ").split()),
        )

    def witness_vkeys(self) -> tuple[str, ...]:
        """The configured witnesses: LINKAGE_WITNESSES, then $LINKAGE_HOME/witnesses.txt."""
        path = self.home / "witnesses.txt"
        listed = [line.split("#", 1)[0].strip()
                  for line in path.read_text("utf-8").splitlines()] if path.exists() else []
        return tuple(dict.fromkeys([*self.witnesses, *(v for v in listed if v)]))

    @property
    def origin(self) -> str:
        """Checkpoint origin line, `<deployment>.linkage-hub/ledger`."""
        return f"{self.deployment}.linkage-hub/ledger"

    @property
    def keys_dir(self) -> Path:
        return self.home / "keys"

    @property
    def hub_key_path(self) -> Path:
        return self.keys_dir / "hub.key.pem"

    def hub_key(self) -> SigningKey:
        """The hub's own Ed25519 key from LINKAGE_HOME/keys; refuses when there is none."""
        if not self.hub_key_path.exists():
            raise HomeNotInitialised(self.home, "没有枢纽密钥", "no hub key")
        return SigningKey.from_file(self.hub_key_path)

    def ensure_hub_key(self) -> SigningKey:
        """The hub's key, generated if missing (only initialising commands call this)."""
        if not self.hub_key_path.exists():
            SigningKey.generate().write_pair(self.keys_dir, "hub")
        return SigningKey.from_file(self.hub_key_path)

    @property
    def admin_security(self) -> KafkaSecurity:
        """The principal that manages ACLs and credentials."""
        return self.kafka_admin_security or self.kafka_security

    def require_database(self) -> str:
        if not self.database_url:
            raise SystemExit(
                "错误 / error: 未配置数据库：请设置 LINKAGE_DATABASE_URL 或先运行 `linkage-hub up` / "
                "no database: set LINKAGE_DATABASE_URL or run `linkage-hub up` first"
            )
        return self.database_url

    def require_kafka(self) -> str:
        if not self.kafka:
            raise SystemExit(
                "错误 / error: 未配置 Kafka：请设置 LINKAGE_KAFKA 或先运行 `linkage-hub up` / "
                "no Kafka: set LINKAGE_KAFKA or run `linkage-hub up` first"
            )
        return self.kafka
