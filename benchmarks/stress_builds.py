"""Concurrent builds into one index folder: N `daraz-llama index` processes at once, R rounds.

    python benchmarks/stress_builds.py [--corpus daraz_llama/data/demo_corpus.md] [--builders 4] [--rounds 20]

After each round: every builder exited 0, the live index loads with all its chunks, and `versions/` holds
the live version and the one before it, nothing half-written.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from daraz_llama.index import load_index


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--corpus", default=str(Path(__file__).resolve().parents[1] / "daraz_llama/data/demo_corpus.md")
    )
    parser.add_argument("--builders", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    good = 0
    with tempfile.TemporaryDirectory() as folder:
        index_dir = Path(folder) / "idx"
        for round_number in range(1, args.rounds + 1):
            started = time.perf_counter()
            builders = [
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "daraz_llama.cli",
                        "index",
                        args.corpus,
                        "--index-dir",
                        str(index_dir),
                        "--embedder",
                        "none",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                for _ in range(args.builders)
            ]
            codes = [b.wait() for b in builders]
            chunks = len(load_index(index_dir).chunks)
            versions = sorted(p.name for p in (index_dir / "versions").iterdir())
            ok = (
                codes == [0] * args.builders
                and chunks > 0
                and len(versions) <= 2
                and not any(v.endswith(".partial") for v in versions)
            )
            good += ok
            print(
                f"round {round_number:>2}: exit codes {codes}, {chunks} chunks, versions {len(versions)}, "
                f"{'good' if ok else 'BAD'} ({time.perf_counter() - started:.1f} s)"
            )
    print(f"{good} of {args.rounds} rounds left one good index")
    return 0 if good == args.rounds else 1


if __name__ == "__main__":
    sys.exit(main())
