"""A connector checks that the hub's ledger holds its own event: fetch an inclusion proof, verify it.

    checkpoint = await fetch_and_verify_inclusion(
        "http://127.0.0.1:8470", event_id, envelope_bytes, parse_vkey(hub_vkey))

``leaf_bytes`` are the exact record bytes the connector sent (its outbox keeps them).
Raises :class:`audit.errors.VerificationError` if the proof, the checkpoint signature or
the leaf does not check out, and :class:`ProofUnavailable` if the hub cannot serve one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiohttp

from audit.checkpoint import Checkpoint
from audit.note_keys import NoteVerifier
from audit.proofs import verify_inclusion_json

__all__ = ["FetchProof", "ProofUnavailable", "fetch_and_verify_inclusion"]

FetchProof = Callable[[str], Awaitable[str | bytes]]
"""Returns the inclusion proof JSON document for an event id."""


class ProofUnavailable(Exception):
    """The hub did not serve a proof (unknown event, not reachable): retry later."""


def _http_fetcher(base_url: str, timeout: float) -> FetchProof:
    async def fetch(event_id: str) -> bytes:
        url = base_url.rstrip("/") + "/v1/ledger/proof/inclusion"
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as s, \
                    s.get(url, params={"event_id": event_id}) as response:
                body = await response.read()
                if response.status != 200:
                    raise ProofUnavailable(
                        f"枢纽未提供证明 / hub served no proof ({response.status}): "
                        f"{body.decode('utf-8', 'replace')[:300]}")
                return body
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ProofUnavailable(f"无法连接枢纽 / cannot reach the hub: {exc}") from exc

    return fetch


async def fetch_and_verify_inclusion(
    source: str | FetchProof,
    event_id: str,
    leaf_bytes: bytes,
    hub_note_verifier: NoteVerifier,
    *,
    timeout: float = 10.0,
) -> Checkpoint:
    """Fetch the inclusion proof of ``event_id`` (from a hub URL or a callable) and verify it.

    Returns the verified checkpoint the event is included in; its origin must be the hub
    key's name.
    """
    fetch = _http_fetcher(source, timeout) if isinstance(source, str) else source
    document = await fetch(event_id)
    return verify_inclusion_json(document, leaf_bytes, hub_note_verifier,
                                 origin=hub_note_verifier.name)
