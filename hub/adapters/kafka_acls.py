"""Kafka ACLs and SCRAM users over the Kafka protocol itself (no Java tools on the hub).

aiokafka 0.14's admin client has no create_acls, and Kafka 4 refuses the v0/v1 ACL requests
aiokafka ships, so the flexible (v2) DescribeAcls, CreateAcls and DeleteAcls requests and
AlterUserScramCredentials v0 (KIP-554) are declared here with aiokafka's protocol types and
sent through its admin client. A broker forwards them to the KRaft controller.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import for_code
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import (
    CompactArray,
    CompactBytes,
    CompactString,
    Int8,
    Int16,
    Int32,
    Schema,
    TaggedFields,
)

from connectors.kafka_security import KafkaSecurity
from hub.kafka_access import AclBinding, Operation, PatternType, Permission, ResourceType


class KafkaAdminError(RuntimeError):
    """The broker refused an ACL or credential change."""


_STR = CompactString("utf-8")

_ACL_FILTER = (("resource_type", Int8), ("resource_name", _STR), ("pattern_type", Int8),
               ("principal", _STR), ("host", _STR), ("operation", Int8),
               ("permission_type", Int8), ("tags", TaggedFields))


class DescribeAclsResponse_v2(Response):
    API_KEY = 29
    API_VERSION = 2
    SCHEMA = Schema(
        ("throttle_time_ms", Int32), ("error_code", Int16), ("error_message", _STR),
        ("resources", CompactArray(
            ("resource_type", Int8), ("resource_name", _STR), ("pattern_type", Int8),
            ("acls", CompactArray(("principal", _STR), ("host", _STR), ("operation", Int8),
                                  ("permission_type", Int8), ("tags", TaggedFields))),
            ("tags", TaggedFields))),
        ("tags", TaggedFields))


class DescribeAclsRequest_v2(RequestStruct):
    FLEXIBLE_VERSION = True
    API_KEY = 29
    API_VERSION = 2
    RESPONSE_TYPE = DescribeAclsResponse_v2
    SCHEMA = Schema(*_ACL_FILTER)


class CreateAclsResponse_v2(Response):
    API_KEY = 30
    API_VERSION = 2
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("results", CompactArray(("error_code", Int16), ("error_message", _STR),
                                 ("tags", TaggedFields))),
        ("tags", TaggedFields))


class CreateAclsRequest_v2(RequestStruct):
    FLEXIBLE_VERSION = True
    API_KEY = 30
    API_VERSION = 2
    RESPONSE_TYPE = CreateAclsResponse_v2
    SCHEMA = Schema(("creations", CompactArray(*_ACL_FILTER)), ("tags", TaggedFields))


class DeleteAclsResponse_v2(Response):
    API_KEY = 31
    API_VERSION = 2
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("filter_results", CompactArray(
            ("error_code", Int16), ("error_message", _STR),
            ("matching_acls", CompactArray(
                ("error_code", Int16), ("error_message", _STR), ("resource_type", Int8),
                ("resource_name", _STR), ("pattern_type", Int8), ("principal", _STR),
                ("host", _STR), ("operation", Int8), ("permission_type", Int8),
                ("tags", TaggedFields))),
            ("tags", TaggedFields))),
        ("tags", TaggedFields))


class DeleteAclsRequest_v2(RequestStruct):
    FLEXIBLE_VERSION = True
    API_KEY = 31
    API_VERSION = 2
    RESPONSE_TYPE = DeleteAclsResponse_v2
    SCHEMA = Schema(("filters", CompactArray(*_ACL_FILTER)), ("tags", TaggedFields))


class AlterUserScramCredentialsResponse_v0(Response):
    API_KEY = 51
    API_VERSION = 0
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("results", CompactArray(("user", _STR), ("error_code", Int16),
                                 ("error_message", _STR), ("tags", TaggedFields))),
        ("tags", TaggedFields))


class AlterUserScramCredentialsRequest_v0(RequestStruct):
    FLEXIBLE_VERSION = True
    API_KEY = 51
    API_VERSION = 0
    RESPONSE_TYPE = AlterUserScramCredentialsResponse_v0
    SCHEMA = Schema(
        ("deletions", CompactArray(("name", _STR), ("mechanism", Int8), ("tags", TaggedFields))),
        ("upsertions", CompactArray(("name", _STR), ("mechanism", Int8), ("iterations", Int32),
                                    ("salt", CompactBytes), ("salted_password", CompactBytes),
                                    ("tags", TaggedFields))),
        ("tags", TaggedFields))


class _Fixed(Request[RequestStruct]):
    """A request of exactly one (flexible) version, built from its field values."""

    API_KEY = -1  # the struct's key is what goes on the wire

    def __init__(self, struct: type[RequestStruct], *fields: Any) -> None:
        self._struct = struct
        self._fields = fields

    def prepare(self, versions: dict[int, tuple[int, int]]) -> RequestStruct:
        low, high = versions.get(self._struct.API_KEY, (0, -1))
        if not low <= self._struct.API_VERSION <= high:
            raise KafkaAdminError(
                f"代理不支持 {self._struct.__name__} / the broker does not support "
                f"{self._struct.__name__} (it supports versions {low}..{high})")
        return self._struct(*self._fields)

    def build(self, request_struct_class: type[RequestStruct]) -> RequestStruct:
        return self._struct(*self._fields)


def _request(struct: type[RequestStruct], *fields: Any) -> Request[Any]:
    return _Fixed(struct, *fields)


def _acl_fields(acl: AclBinding) -> tuple[Any, ...]:
    return (int(acl.resource_type), acl.resource_name, int(acl.pattern_type), acl.principal,
            acl.host, int(acl.operation), int(acl.permission), {})


def _check(code: int, message: str | None, what: str) -> None:
    if code:
        error = for_code(code)
        raise KafkaAdminError(f"{what}: {error.__name__} ({code}) {message or ''}".rstrip())


SCRAM_MECHANISMS = {"SCRAM-SHA-256": (1, "sha256"), "SCRAM-SHA-512": (2, "sha512")}
SCRAM_ITERATIONS = 8192


def salted_password(password: str, salt: bytes, iterations: int, mechanism: str) -> bytes:
    """RFC 5802 Hi(): PBKDF2 with the mechanism's HMAC (what the broker stores, never the password)."""
    _, digest = SCRAM_MECHANISMS[mechanism]
    return hashlib.pbkdf2_hmac(digest, password.encode("utf-8"), salt, iterations)


class KafkaAccessAdmin:
    """ACLs and SCRAM users of a Kafka cluster, as a principal allowed to change them."""

    def __init__(self, bootstrap: str, security: KafkaSecurity) -> None:
        self._admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000,
                                          **security.aiokafka())

    async def __aenter__(self) -> KafkaAccessAdmin:
        await self._admin.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._admin.close()

    async def _send(self, request: Request[Any]) -> Any:
        return await self._admin._send_request(request)

    async def list_acls(self, principal: str | None = None) -> list[AclBinding]:
        """Every ACL (or one principal's), as bindings."""
        response = await self._send(_request(
            DescribeAclsRequest_v2, int(ResourceType.ANY), None, int(PatternType.ANY),
            principal, None, int(Operation.ANY), int(Permission.ANY), {}))
        _check(response.error_code, response.error_message, "DescribeAcls")
        found = []
        for rtype, rname, pattern, acls, _tags in response.resources:
            for who, host, operation, permission, _t in acls:
                found.append(AclBinding(who, ResourceType(rtype), rname, PatternType(pattern),
                                        Operation(operation), Permission(permission), host))
        return found

    async def create_acls(self, acls: Sequence[AclBinding]) -> None:
        if not acls:
            return
        response = await self._send(_request(CreateAclsRequest_v2,
                                             [_acl_fields(a) for a in acls], {}))
        for acl, (code, message, _tags) in zip(acls, response.results, strict=True):
            _check(code, message, f"CreateAcls {acl}")

    async def delete_acls(self, acls: Sequence[AclBinding]) -> None:
        if not acls:
            return
        response = await self._send(_request(DeleteAclsRequest_v2,
                                             [_acl_fields(a) for a in acls], {}))
        for acl, result in zip(acls, response.filter_results, strict=True):
            _check(result[0], result[1], f"DeleteAcls {acl}")

    async def upsert_scram_user(self, name: str, password: str,
                                mechanism: str = "SCRAM-SHA-512",
                                iterations: int = SCRAM_ITERATIONS) -> None:
        """Create or change a SCRAM user; the broker receives only salt and salted password."""
        code, _ = SCRAM_MECHANISMS[mechanism]
        salt = os.urandom(32)
        response = await self._send(_request(
            AlterUserScramCredentialsRequest_v0, [],
            [(name, code, iterations, salt,
              salted_password(password, salt, iterations, mechanism), {})], {}))
        for user, error, message, _tags in response.results:
            _check(error, message, f"AlterUserScramCredentials {user}")

    async def delete_scram_user(self, name: str, mechanism: str = "SCRAM-SHA-512") -> None:
        code, _ = SCRAM_MECHANISMS[mechanism]
        response = await self._send(_request(AlterUserScramCredentialsRequest_v0,
                                             [(name, code, {})], [], {}))
        for user, error, message, _tags in response.results:
            _check(error, message, f"AlterUserScramCredentials {user}")


def _principals(acls: Iterable[AclBinding]) -> set[str]:
    return {acl.principal for acl in acls}


__all__ = ["KafkaAccessAdmin", "KafkaAdminError", "salted_password"]
