"""The long run of the corpus fuzzer: structural and field-level mutants of a corpus, parsed one by one.

    python benchmarks/fuzz_corpus.py [--corpus ../shared/data/daraz_sample_200.md] [--mutants 3000] [--seed 1]

Prints the mutants tried, tracebacks, silent losses (a START marker that is neither a product nor a
reported problem) and the worst parse time per MB; exits 1 when any traceback or loss is found.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.corpus_fuzzer import fuzz  # noqa: E402

SHARED = ROOT.parent / "shared"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=str(SHARED / "data" / "daraz_sample_200.md"))
    parser.add_argument("--mutants", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    started = time.perf_counter()
    report = fuzz(Path(args.corpus).read_text(encoding="utf-8"), args.mutants, args.seed)
    print(f"corpus {args.corpus}, seed {args.seed}: {report.mutants} mutants in {time.perf_counter() - started:.0f} s")
    print(f"  mutations applied: {dict(sorted(report.by_mutation.items()))}")
    print(
        f"  tracebacks: {len(report.tracebacks)}   silent losses: {len(report.silent_losses)}   "
        f"worst parse time: {report.worst_seconds_per_mb:.2f} s/MB"
    )
    for line in (report.tracebacks + report.silent_losses)[:20]:
        print(f"  {line}")
    return 1 if report.tracebacks or report.silent_losses else 0


if __name__ == "__main__":
    sys.exit(main())
