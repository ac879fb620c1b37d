"""Secrets of the workbench: Argon2id passwords, random tokens stored hashed, CSRF, masking."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# argon2-cffi's defaults are RFC 9106's second recommended profile for Argon2id
# (t=3, m=64 MiB, p=4); the hash string records them, so they can be raised later.
_HASHER = PasswordHasher()
_DUMMY: list[str] = []


def _dummy_hash() -> str:
    """Verified when the user does not exist, so an unknown name costs as long as a wrong
    password (made on first use: importing this module stays cheap for the CLI)."""
    if not _DUMMY:
        _DUMMY.append(_HASHER.hash(secrets.token_urlsafe(16)))
    return _DUMMY[0]

MIN_PASSWORD_LENGTH = 10


def hash_password(password: str) -> str:
    """The Argon2id hash string of `password` (salted, parameters included)."""
    return _HASHER.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True if `password` matches; an absent user still pays for one verification."""
    try:
        return _HASHER.verify(stored_hash or _dummy_hash(), password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError, UnicodeEncodeError):
        return False


def password_problem(password: str) -> str | None:
    """Why a new password is refused (bilingual), or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return (f"密码至少 {MIN_PASSWORD_LENGTH} 个字符 / the password needs at least "
                f"{MIN_PASSWORD_LENGTH} characters")
    return None


def new_token() -> str:
    """A random bearer token or session id (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> bytes:
    """What the database stores of a token: its SHA-256 (a leaked table grants nothing)."""
    return hashlib.sha256(token.encode("utf-8")).digest()


def csrf_for(session_token: str) -> str:
    """The CSRF token of a session: an HMAC keyed by the (HttpOnly) session id itself, so a
    page of another origin can neither read nor compute it."""
    return hmac.new(session_token.encode("utf-8"), b"linkage-hub csrf v1",
                    hashlib.sha256).hexdigest()


def same_secret(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and hmac.compare_digest(a, b)


# -- identity numbers -------------------------------------------------------------------

# 18-character resident identity numbers / unified social credit codes, 15-digit old ids:
# runs of 15-20 digits and capital letters, standing alone.
_ID_LIKE = re.compile(r"(?<![0-9A-Za-z])(?=[0-9A-Z]*[0-9])[0-9A-Z]{15,20}(?![0-9A-Za-z])")
# Fields that hold hashes or ids of the hub itself, never a party's number.
_NOT_PERSONAL = frozenset({"event_id", "alert_id", "leaf_hash", "keyid", "record_sha256",
                           "case_id", "sha256"})


def mask_number(number: str) -> str:
    """`442000199001011234` -> `4420**********1234`: the first and last four stay."""
    keep = 4 if len(number) >= 12 else 2 if len(number) >= 6 else 0
    if keep == 0:
        return "*" * len(number)
    return number[:keep] + "*" * (len(number) - 2 * keep) + number[-keep:]


def mask_text(text: str) -> str:
    return _ID_LIKE.sub(lambda m: mask_number(m.group(0)), text)


def mask_identities(document: Any, key: str | None = None) -> Any:
    """A copy of a JSON document with every party identity number masked: `id_number`
    fields whole, `kind:number` party keys, and any id-like run inside free text."""
    if isinstance(document, Mapping):
        return {k: mask_identities(v, str(k)) for k, v in document.items()}
    if isinstance(document, list | tuple):
        return [mask_identities(v, key) for v in document]
    if isinstance(document, str):
        if key == "id_number":
            return mask_number(document)
        if key in _NOT_PERSONAL:
            return document
        if key == "shared_parties" and ":" in document:
            kind, _, number = document.partition(":")
            return f"{kind}:{mask_number(number)}"
        return mask_text(document)
    return document
