"""The replay's assess phase alone, over fixed cases: instructions (callgrind) and CPU per case.

`bench/replay.py`'s generator (its v1.0 or v1.1 mix) with a fixed clock, folded as the replay
folds (not measured), then every case assessed once as `linkage-hub rules replay` does, with
its related cases and its garbage collector's settings (`fewer_collections`, the states
frozen): the pass is timed (CPU of this process) and, with `--callgrind` under callgrind,
collected alone and dumped as `assess`. `--digest` prints a SHA-256 over every
decision's JSON and next due time, the same on both sides of a change that keeps decisions.

    valgrind --tool=callgrind --collect-atstart=no --callgrind-out-file=/tmp/a.out \
        python bench/assess_path.py --cases 2000 --callgrind
    python bench/connector_path.py --sum /tmp/a.out -n 2000   # instructions per case

`--root DIR` runs another checkout's code (a detached worktree of main, for "before").
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, sys.argv[sys.argv.index("--root") + 1] if "--root" in sys.argv
                else str(Path(__file__).resolve().parents[1]))

from bench import replay
from bench.connector_path import Marks
from hub.commands.rules_cmds import LEDGER_CHUNK, fewer_collections, fold_page, folded_states
from streams.rules import CaseState, assess, load_rules
from streams.rules_runner import CaseFold

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


class _FixedClock(datetime):
    """`datetime` whose `now` is NOW: the generator's cases the same in every run."""

    @classmethod
    def now(cls, tz: object = None) -> datetime:  # type: ignore[override]
        return NOW


def states(cases: int, mix: str) -> dict[str, CaseState]:
    """The folded cases of the generator's records, as `bench/replay.py`'s fold makes them."""
    replay.datetime = _FixedClock  # type: ignore[attr-defined]
    records = replay.generate(cases, mix=mix)
    fold = CaseFold()
    gc.freeze()
    for page in range(0, len(records), LEDGER_CHUNK):
        fold_page(fold, [record.value for record in records[page:page + LEDGER_CHUNK]])
    return folded_states(fold)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--mix", choices=["v1.0", "v1.1"], default="v1.0")
    parser.add_argument("--callgrind", action="store_true",
                        help="collect the assess pass alone (run under callgrind)")
    parser.add_argument("--digest", action="store_true", help="print the decisions' digest")
    parser.add_argument("--root", help="the checkout whose code runs (read before the imports)")
    args = parser.parse_args()
    rules = load_rules()
    folded = states(args.cases, args.mix)
    by_party: dict[tuple[str, str], list[str]] = {}
    for state in folded.values():
        for key in state.party_keys:
            by_party.setdefault(key, []).append(state.case_id)
    work = [(state, [folded[other] for key in state.party_keys for other in by_party[key]
                     if other != case_id]) for case_id, state in folded.items()]
    with tempfile.TemporaryDirectory() as tmp:
        marks = Marks(args.callgrind, Path(tmp))
        gc.freeze()
        with fewer_collections():  # as `rules replay` evaluates
            marks.on()
            started = time.process_time()
            assessed = [assess(state, rules, NOW, related) for state, related in work]
            spent = time.process_time() - started
            marks.off("assess")
    print(f"assess: {spent / len(work) * 1e6:.1f} µs CPU per case ({len(work):,} cases, "
          f"{sum(len(a.decisions) for a in assessed):,} decisions, code {sys.path[0]})")
    if args.digest:
        digest = hashlib.sha256()
        for assessment in assessed:
            for decision in assessment.decisions:
                digest.update(decision.model_dump_json().encode())
            digest.update(repr(assessment.next_due).encode())
        print(f"digest: {digest.hexdigest()}")


if __name__ == "__main__":
    main()
