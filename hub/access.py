"""Who may do what: roles, capabilities, and the one `Scope` every case or alert query uses.

三员分立 (contract section 7): the admin manages users and agencies and reads no case; the
auditor reads the ledger, statistics and the access log, with party identity numbers
masked; a supervisor (of a procuratorate) sees every case and issues supervision; an officer
sees its agency's cases only. A case outside the caller's scope is answered exactly like an
unknown one (404): `Scope.sql` is the only place the visibility rule is written, and every
query of hub/adapters/workbench_store.py that touches a case or an alert takes a `Scope`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    OFFICER = "officer"
    SUPERVISOR = "supervisor"
    AUDITOR = "auditor"
    ADMIN = "admin"


ROLE_LABEL = {Role.OFFICER: "执法人员 officer", Role.SUPERVISOR: "检察监督 supervisor",
              Role.AUDITOR: "审计 auditor", Role.ADMIN: "管理员 admin"}


class Capability(StrEnum):
    READ_CASES = "read_cases"  # alerts, cases, timelines (masked for auditors)
    ISSUE_SUPERVISION = "issue_supervision"
    READ_LEDGER = "read_ledger"  # ledger browser, checkpoints, proofs
    READ_ACCESS_LOG = "read_access_log"
    MANAGE_USERS = "manage_users"  # users and agencies


CAPABILITIES: dict[Role, frozenset[Capability]] = {
    Role.OFFICER: frozenset({Capability.READ_CASES}),
    Role.SUPERVISOR: frozenset({Capability.READ_CASES, Capability.ISSUE_SUPERVISION,
                                Capability.READ_LEDGER}),
    Role.AUDITOR: frozenset({Capability.READ_CASES, Capability.READ_LEDGER,
                             Capability.READ_ACCESS_LOG}),
    Role.ADMIN: frozenset({Capability.READ_ACCESS_LOG, Capability.MANAGE_USERS}),
}


@dataclass(frozen=True)
class Principal:
    """An authenticated person."""

    username: str
    role: Role
    agency_id: str

    def can(self, capability: Capability) -> bool:
        return capability in CAPABILITIES[self.role]

    @property
    def scope(self) -> Scope:
        return Scope.of(self)

    @property
    def masks_identities(self) -> bool:
        """Auditors and admins never see a party's identity number."""
        return self.role in (Role.AUDITOR, Role.ADMIN)


@dataclass(frozen=True)
class Scope:
    """The cases a principal may see: all, none, or those of one agency (via case_scope)."""

    everything: bool
    agency_id: str | None

    @classmethod
    def of(cls, principal: Principal) -> Scope:
        if not principal.can(Capability.READ_CASES):
            return cls(everything=False, agency_id=None)
        if principal.role is Role.OFFICER:
            return cls(everything=False, agency_id=principal.agency_id)
        return cls(everything=True, agency_id=None)

    def sql(self, case_column: str, params: list[object]) -> str:
        """A SQL predicate true for rows whose `case_column` is in scope; appends its
        parameter to `params` (asyncpg numbering, $n)."""
        if self.everything:
            return "TRUE"
        if self.agency_id is None:
            return "FALSE"
        params.append(self.agency_id)
        return (f"EXISTS (SELECT 1 FROM case_scope cs WHERE cs.case_id = {case_column}"
                f" AND cs.agency_id = ${len(params)})")
