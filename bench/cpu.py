"""CPU time per process from /proc, the machine's load, and the hub's crypto floor.

On a shared machine events/s moves with everyone else's work; the CPU a process spent
per event (utime + stime from /proc/<pid>/stat, children it waited for excluded) does not,
so the benchmarks report that as their primary figure.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import astuple, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process (all its threads); 0.0 when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # fields 14 and 15 of proc(5)


def descendants(pid: int) -> list[int]:
    """pid and every process below it (from /proc/<pid>/task/*/children)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                todo.extend(int(c) for c in (task / "children").read_text().split())
            except OSError:
                pass
    return found


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / TICK, sum(values[:8]) / TICK


@dataclass
class CpuMeter:
    """CPU seconds per named group of processes between start() and stop()."""

    groups: dict[str, list[int]] = field(default_factory=dict)
    _before: dict[tuple[str, int], float] = field(default_factory=dict)
    _after: dict[tuple[str, int], float] = field(default_factory=dict)
    _machine: tuple[float, float] = (0.0, 0.0)
    _machine_after: tuple[float, float] = (0.0, 0.0)
    _load: tuple[float, float, float] = (0.0, 0.0, 0.0)
    _wall: float = 0.0

    def add(self, name: str, pids: Iterable[int]) -> None:
        """Processes of a group. Added before start(): counted from start(). Added between
        start() and stop() (e.g. a database backend opened during the phase, found when it
        ends): every second of its CPU is the phase's, as it was not there at start()."""
        known = self.groups.setdefault(name, [])
        for pid in pids:
            if pid not in known:
                known.append(pid)
                self._before[(name, pid)] = 0.0 if self._wall else cpu_seconds(pid)

    def start(self) -> None:
        self._before = {(n, p): cpu_seconds(p) for n, pids in self.groups.items() for p in pids}
        assert self._wall == 0.0, "a CpuMeter measures one phase"
        self._machine = machine_busy()
        self._load = os.getloadavg()
        self._wall = time.monotonic()

    def stop(self) -> None:
        self._after = {(n, p): cpu_seconds(p) for n, pids in self.groups.items() for p in pids}
        self._machine_after = machine_busy()
        self._wall = time.monotonic() - self._wall

    def seconds(self, name: str) -> float:
        return sum(max(0.0, self._after.get((name, p), 0.0) - self._before.get((name, p), 0.0))
                   for p in self.groups.get(name, []))

    def report(self, events: int, floor_us: float, hub_groups: Iterable[str],
               openssl_floor_us: float | None = None) -> list[str]:
        """Lines: µs of CPU per event per group, the hub's total against the floor, load."""
        lines = []
        for name in self.groups:
            lines.append(f"  {name:<22} : {self.seconds(name) / events * 1e6:8,.0f} µs/event")
        hub = sum(self.seconds(n) for n in hub_groups) / events * 1e6
        lines.append(f"  {'hub total':<22} : {hub:8,.0f} µs/event = {hub / floor_us:.1f}× the "
                     f"crypto floor ({floor_us:,.0f} µs)")
        if openssl_floor_us is not None:
            lines.append(f"  {'':<22}   {'':>8}         = {hub / openssl_floor_us:.1f}× the "
                         f"OpenSSL floor ({openssl_floor_us:,.0f} µs)")
        busy = self._machine_after[0] - self._machine[0]
        total = self._machine_after[1] - self._machine[1]
        ours = sum(self.seconds(n) for n in self.groups)
        lines.append(f"  machine                : load average {self._load[0]:.2f} at start, "
                     f"{os.getloadavg()[0]:.2f} at end; {busy / total:.0%} of "
                     f"{os.cpu_count()} cores busy over {self._wall:.0f} s, "
                     f"{max(0.0, busy - ours) / self._wall:.2f} cores of it not ours")
        return lines


@dataclass(frozen=True)
class CryptoFloor:
    """CPU µs of one agency-signature verify and one receipt signature with its JSON, as the
    hub does them (libsodium, schemas/signing.py) and with OpenSSL (cryptography), which the
    hub used until issue 14 and which the issue's floor was stated in."""

    verify: float
    sign: float
    openssl_verify: float
    openssl_sign: float

    @property
    def total(self) -> float:
        return self.verify + self.sign

    @property
    def openssl_total(self) -> float:
        return self.openssl_verify + self.openssl_sign

    @staticmethod
    def bracketing(before: CryptoFloor, after: CryptoFloor) -> CryptoFloor:
        """The mean of a floor measured just before a phase and one just after it.

        The machine's speed moves by ±20 % within minutes; a floor taken once, after the run,
        compared the phase's CPU with one moment's speed. Measured on both sides of the phase,
        the floor follows the speed the phase ran at, as far as two samples can."""
        return CryptoFloor(*((a + b) / 2 for a, b in zip(astuple(before), astuple(after),
                                                          strict=True)))


def crypto_floor(seconds: float = 1.0) -> CryptoFloor:
    """The crypto floor measured now (CryptoFloor)."""
    from connectors.events import build_event
    from schemas.dsse import EVENT_PAYLOAD_TYPE, Envelope, pae
    from schemas.receipt import ReceiptStatus
    from schemas.signing import SigningKey, verify_envelope_signature
    from streams.ingress import receipt_envelope, receipt_signer
    from streams.ports import StoredOutcome
    from tests.records import sample_data

    agency, hub = SigningKey.generate(), SigningKey.generate()
    event_id, event = build_event("zs-aic", "case.assessed", "B-1", sample_data("case.assessed"))
    envelope = Envelope.model_validate_json(agency.sign_envelope(EVENT_PAYLOAD_TYPE, event)
                                            .to_json_bytes())
    signature = envelope.signatures[0].signature_bytes()
    receipt = StoredOutcome(("linkage.ingress.zs-aic", 0, 123456, b"\xab" * 32),
                            ReceiptStatus.ACCEPTED, event_id, datetime.now(UTC), None, None,
                            123456, b"\x00" * 32, None)

    def per_call(operation: object) -> float:
        assert callable(operation)
        count, started = 0, time.process_time()
        while time.process_time() - started < seconds / 2:
            for _ in range(200):
                operation()
            count += 200
        return (time.process_time() - started) / count * 1e6

    class OpenSSLKey(SigningKey):
        def sign(self, message: bytes) -> bytes:
            return self.private_key.sign(message)

    signed = pae(envelope.payload_type, envelope.payload_bytes())
    hub_signer, openssl_signer = receipt_signer(hub), receipt_signer(OpenSSLKey(hub.private_key))
    return CryptoFloor(
        verify=per_call(lambda: verify_envelope_signature(envelope, signature, agency.public_key)),
        sign=per_call(lambda: receipt_envelope(hub_signer, receipt)),
        openssl_verify=per_call(lambda: agency.public_key.verify(signature, signed)),
        openssl_sign=per_call(lambda: receipt_envelope(openssl_signer, receipt)))
