"""When an agency key may sign a ledger entry: registered before the entry was received, not revoked yet.

The rule, for an entry received at ``r`` under a key added at ``a`` and revoked at ``v``
(or never): ``a <= r + tolerance`` and ``r < v``. ``r`` is stamped by the hub process's
clock when it takes up an ingress batch; ``a`` and ``v`` by the database's clock
(``now()`` when the key row is inserted, ``clock_timestamp()`` under the ledger's append
lock when revoked). The revocation side needs no tolerance: ingress re-reads revocations
under the append lock and applies the same ``v <= r`` test before appending. The addition
side does: the batch is stamped *before* the registry snapshot that accepts its records
is read (a key unknown to the cached snapshot makes ingress re-read the registry after
verifying the batch), so an honest entry can carry ``r`` slightly earlier than its key's
``a``, by the batch's verification time plus any offset between the hub's and the
database's clocks. ``KEY_ADDED_TOLERANCE`` bounds that (docs/ledger.md explains the
choice); an auditor may pass another value.

A key record without ``added_at`` (exports written before it was exported) cannot be
checked on that side: :func:`key_window_violation` then passes it and the caller reports
that the rule was not applied.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from schemas.signing import KeyRecord

__all__ = ["KEY_ADDED_TOLERANCE", "KeyWindowViolation", "key_window_violation"]

KEY_ADDED_TOLERANCE = timedelta(seconds=60)
"""How much earlier than its key's ``added_at`` an entry's ``received_at`` may honestly be."""


class KeyWindowViolation(StrEnum):
    """Why a key was not valid when an entry was received (the finding's reason code)."""

    NOT_YET_ADDED = "key_not_yet_added"
    REVOKED = "key_revoked"


def key_window_violation(key: KeyRecord, received_at: datetime,
                         tolerance: timedelta = KEY_ADDED_TOLERANCE) -> KeyWindowViolation | None:
    """None when ``key`` could sign an entry received at ``received_at``; else why not."""
    if tolerance < timedelta(0):
        raise ValueError("tolerance must not be negative")
    if key.added_at is not None and key.added_at > received_at + tolerance:
        return KeyWindowViolation.NOT_YET_ADDED
    if key.revoked_by(received_at):
        return KeyWindowViolation.REVOKED
    return None
