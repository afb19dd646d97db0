"""Markdown rows from `daraz-llama eval --json` files, for RESULTS.md.

    python benchmarks/eval_table.py LABEL=benchmarks/results/eval-dev-nat-bce64.json [LABEL=FILE ...] [--styles]

One row per file and mode: strict R@1 / MRR@10 and, when the eval had judgments, Success@1, nDCG@5,
P@5(E), the judged share and the condensed Success@1 / nDCG@5; p50 latency. ``--styles`` adds a row per
query style.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def row(label: str, mode: str, s: dict) -> str:
    graded = (
        f" {s['success@1']:.3f} | {s['ndcg@5']:.3f} | {s['p@5(E)']:.3f} | {s['judged@5']:.2f} | "
        f"{s['success@1_condensed']:.3f} / {s['ndcg@5_condensed']:.3f} |"
        if "success@1" in s
        else ""
    )
    return f"| {label} | {mode} | {s['recall@1']:.3f} | {s['mrr@10']:.3f} |{graded} {s['p50_ms']:.0f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", help="LABEL=eval.json")
    parser.add_argument("--styles", action="store_true")
    args = parser.parse_args()
    for item in args.files:
        label, _, path = item.partition("=")
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
        for mode, summary in payload["summary"].items():
            print(row(label, mode, summary))
            if args.styles:
                for style, by_style in payload["by_style"][mode].items():
                    print(row(f"{label} ({style})", mode, by_style))


if __name__ == "__main__":
    main()
