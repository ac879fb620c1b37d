"""Who may do what on the hub's Kafka topics: the ACLs derived from the agency registry (pure).

Principals are `User:<agency_id>` (SCRAM user = agency id) and the hub's own user. Design
(issue 10 item 3; deploy/README.md "Access control"):

- an agency with at least one active key may WRITE (and DESCRIBE) `linkage.ingress.<agency>`;
  once its last key is revoked it may not (nothing it could sign would verify anyway);
- every agency may READ (and DESCRIBE) `linkage.receipts.<agency>`, also after revocation,
  so it can still collect the receipts of what it sent;
- a procuratorate may READ (and DESCRIBE) `linkage.alerts`;
- the hub's principal may do everything on topics prefixed `linkage.` and on consumer groups
  prefixed with its group id, and DESCRIBE the cluster;
- nobody else gets anything: no ACL on `linkage.events` (personal data), `linkage.quarantine`
  or `linkage.checkpoints` names another principal, and the brokers run with
  `allow.everyone.if.no.acl.found=false`.

Agencies' connectors read receipts with manual assignment (no consumer group), so they need
no group ACL.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum

from schemas import topics
from schemas.events import Role


class ResourceType(IntEnum):
    """Kafka's resource type codes (org.apache.kafka.common.resource.ResourceType)."""

    ANY = 1
    TOPIC = 2
    GROUP = 3
    CLUSTER = 4


class PatternType(IntEnum):
    ANY = 1
    MATCH = 2
    LITERAL = 3
    PREFIXED = 4


class Operation(IntEnum):
    """Kafka's ACL operation codes (org.apache.kafka.common.acl.AclOperation)."""

    ANY = 1
    ALL = 2
    READ = 3
    WRITE = 4
    CREATE = 5
    DELETE = 6
    ALTER = 7
    DESCRIBE = 8
    CLUSTER_ACTION = 9
    DESCRIBE_CONFIGS = 10
    ALTER_CONFIGS = 11
    IDEMPOTENT_WRITE = 12


class Permission(IntEnum):
    ANY = 1
    DENY = 2
    ALLOW = 3


CLUSTER_RESOURCE = "kafka-cluster"
TOPIC_PREFIX = "linkage."


@dataclass(frozen=True, order=True)
class AclBinding:
    """One ALLOW/DENY rule: principal may do operation on a resource (literal or prefixed)."""

    principal: str
    resource_type: ResourceType
    resource_name: str
    pattern_type: PatternType
    operation: Operation
    permission: Permission = Permission.ALLOW
    host: str = "*"

    def __str__(self) -> str:
        pattern = "" if self.pattern_type == PatternType.LITERAL else f" ({self.pattern_type.name.lower()})"
        return (f"{self.permission.name} {self.principal} {self.operation.name} "
                f"{self.resource_type.name} {self.resource_name}{pattern}")


@dataclass(frozen=True)
class AgencyAccess:
    """What the plan needs of a registered agency."""

    agency_id: str
    role: Role
    active_keys: int


def principal(username: str) -> str:
    return f"User:{username}"


def _topic(who: str, name: str, *operations: Operation) -> list[AclBinding]:
    return [AclBinding(who, ResourceType.TOPIC, name, PatternType.LITERAL, op)
            for op in operations]


def agency_acls(agency: AgencyAccess) -> list[AclBinding]:
    """The ACLs of one agency's principal."""
    who = principal(agency.agency_id)
    acls = _topic(who, topics.receipts_topic(agency.agency_id), Operation.READ, Operation.DESCRIBE)
    if agency.active_keys > 0:
        acls += _topic(who, topics.ingress_topic(agency.agency_id),
                       Operation.WRITE, Operation.DESCRIBE)
    if agency.role == Role.PROCURATORATE:
        acls += _topic(who, topics.ALERTS, Operation.READ, Operation.DESCRIBE)
    return acls


def hub_acls(hub_user: str, group_id: str) -> list[AclBinding]:
    """The hub's principal: every `linkage.` topic and its consumer groups, cluster DESCRIBE."""
    who = principal(hub_user)
    return [
        AclBinding(who, ResourceType.TOPIC, TOPIC_PREFIX, PatternType.PREFIXED, Operation.ALL),
        AclBinding(who, ResourceType.GROUP, group_id, PatternType.PREFIXED, Operation.ALL),
        AclBinding(who, ResourceType.CLUSTER, CLUSTER_RESOURCE, PatternType.LITERAL,
                   Operation.DESCRIBE),
    ]


def plan(agencies: Iterable[AgencyAccess], hub_user: str, group_id: str) -> set[AclBinding]:
    """Every ACL the registry calls for."""
    wanted = set(hub_acls(hub_user, group_id))
    for agency in agencies:
        wanted.update(agency_acls(agency))
    return wanted


@dataclass(frozen=True)
class AclChanges:
    """What `kafka acls apply` does: create the missing, delete the stale."""

    create: tuple[AclBinding, ...]
    delete: tuple[AclBinding, ...]


def diff(wanted: set[AclBinding], existing: Iterable[AclBinding],
         managed_principals: set[str]) -> AclChanges:
    """Changes that make the managed principals' ACLs exactly `wanted`.

    ACLs of other principals (operators, other applications) are left alone.
    """
    current = {acl for acl in existing if acl.principal in managed_principals}
    return AclChanges(create=tuple(sorted(wanted - current)),
                      delete=tuple(sorted(current - wanted)))
