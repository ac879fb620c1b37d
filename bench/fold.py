"""The replay's fold alone, for instruction counts: `CaseFold` over bench/replay.py's records.

The records of `--cases` cases (bench/replay.py's `generate`, its default mix) are generated
once and kept in `--records` (a pickle; generated again only when the file is missing), so
that every run, and a run of another worktree's code, folds the same bytes. Then `--rounds`
times: a new `CaseFold` is given every record (a ledger page at a time, with the garbage
collection `rules replay` does) and its states are made. Two runs that differ only in
`--rounds` differ only in folding: under callgrind, the difference of their instruction counts
divided by the cases is the fold's cost a case, without the machine's noise.

    PYTHONHASHSEED=0 valgrind --tool=callgrind --callgrind-out-file=/tmp/f1.out \\
        python bench/fold.py --cases 2000 --rounds 1
    (and --rounds 0; then callgrind_annotate /tmp/f1.out | head)

Without callgrind it prints the fold's CPU µs per case (this process's CPU time).
"""

from __future__ import annotations

import argparse
import gc
import pickle
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hub.commands.rules_cmds import LEDGER_CHUNK, fewer_collections, fold_page, folded_states
from streams.rules_runner import CaseFold


def records(path: Path, cases: int) -> list[bytes]:
    """The records of `cases` cases, from `path` or generated into it."""
    if path.exists():
        found: list[bytes] = pickle.loads(path.read_bytes())
        return found
    from bench.replay import generate
    values = [r.value for r in generate(cases)]
    path.write_bytes(pickle.dumps(values))
    return values


def fold(values: list[bytes]) -> int:
    """Fold every record into a new `CaseFold` as `rules replay` does (its collections
    included: `fewer_collections`, the pages frozen); how many states."""
    with fewer_collections():
        return _fold(values)


def _fold(values: list[bytes]) -> int:
    folding = CaseFold()
    for page in range(0, len(values), LEDGER_CHUNK):
        fold_page(folding, values[page:page + LEDGER_CHUNK])
    return len(folded_states(folding))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--records", type=Path, default=None,
                        help="default: /tmp/fold-records-<cases>.pickle")
    args = parser.parse_args()
    values = records(args.records or Path(f"/tmp/fold-records-{args.cases}.pickle"), args.cases)
    gc.freeze()
    cpu = time.process_time()
    states = 0
    for _ in range(args.rounds):
        states = fold(values)
    cpu = time.process_time() - cpu
    per_case = cpu / max(1, states * args.rounds) * 1e6
    print(f"fold: {len(values):,} records, {states:,} cases, {args.rounds} rounds: "
          f"{per_case:.1f} µs CPU a case")


if __name__ == "__main__":
    main()
