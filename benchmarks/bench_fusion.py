"""Fusion and re-rank depth choices, measured: pick on a selection split (natural-dev when training wrote
one, else the silver dev split), report on the public dev set (graded when judgments are given).

    python benchmarks/bench_fusion.py --index-dir models/work/index-ft --reranker models/reranker-ft \
        [--select models/work/data/natural-dev.jsonl] [--dev ../shared/eval/dev_queries.jsonl] \
        [--judgments ../shared/eval/dev_judgments.jsonl] [--limit 600]

Prints one table for the fusion settings (RRF and QueryFusionRetriever's relative_score and
dist_based_score with retriever weights, at several candidate depths) and one for the number of
products handed to the cross-encoder, and one for the weight of the cross-encoder's order against
the first stage's (``rerank_blend``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from daraz_llama.evaluation import evaluate_retriever, format_table
from daraz_llama.index import load_index
from daraz_llama.judgments import load_judgments
from daraz_llama.queries import load_queries
from daraz_llama.retriever import build_retriever

SHARED = Path(__file__).resolve().parents[2] / "shared"
FUSIONS = [
    ("rrf k=10", dict(fusion="reciprocal_rerank", candidate_k=10)),
    ("rrf k=20", dict(fusion="reciprocal_rerank", candidate_k=20)),
    ("rrf k=50", dict(fusion="reciprocal_rerank", candidate_k=50)),
    ("rrf k=100", dict(fusion="reciprocal_rerank", candidate_k=100)),
    ("rel .3/.7", dict(fusion="relative_score", retriever_weights=(0.3, 0.7))),
    ("rel .5/.5", dict(fusion="relative_score", retriever_weights=(0.5, 0.5))),
    ("rel .7/.3", dict(fusion="relative_score", retriever_weights=(0.7, 0.3))),
    ("dist .3/.7", dict(fusion="dist_based_score", retriever_weights=(0.3, 0.7))),
    ("dist .5/.5", dict(fusion="dist_based_score", retriever_weights=(0.5, 0.5))),
    ("dist .7/.3", dict(fusion="dist_based_score", retriever_weights=(0.7, 0.3))),
    ("rel .2/.8", dict(fusion="relative_score", retriever_weights=(0.2, 0.8))),
    ("dist .2/.8", dict(fusion="dist_based_score", retriever_weights=(0.2, 0.8))),
]


def score(retriever, label: str, select: list, dev: list, rows: dict, dev_rows: dict, grades: dict | None) -> None:
    """One row in each table: the selection split (where choices are made) and the public dev set."""
    rows[label] = evaluate_retriever(retriever, select, label, show_progress=False).summary()
    dev_rows[label] = evaluate_retriever(retriever, dev, label, show_progress=False, judgments=grades).summary()


def best_of(rows: dict, labels: list[str]) -> str:
    """The row best by MRR@10, then R@1."""
    return max(labels, key=lambda label: (rows[label]["mrr@10"], rows[label]["recall@1"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index-dir", default="models/work/index-ft")
    parser.add_argument("--reranker", default="models/reranker-ft")
    parser.add_argument(
        "--select",
        help="queries the choices are made on (default: natural-dev.jsonl beside the "
        "index when training wrote one, else the silver dev.jsonl)",
    )
    parser.add_argument("--dev", default=str(SHARED / "eval" / "dev_queries.jsonl"))
    parser.add_argument("--judgments", help="graded judgments of the --dev queries (report only)")
    parser.add_argument("--limit", type=int, default=600, help="selection queries used (default: 600)")
    parser.add_argument("--skip-fusion", action="store_true")
    parser.add_argument("--skip-depth", action="store_true")
    parser.add_argument("--skip-blend", action="store_true")
    parser.add_argument("--blends", default="0.3,0.5,0.7,1.0", help="cross-encoder weights for the blend table")
    parser.add_argument("--fusion", help="fusion row to use for the re-rank depth table (default: best)")
    args = parser.parse_args()

    index = load_index(args.index_dir)
    known = set(index.product_ids())
    data_dir = Path(args.index_dir).parent / "data"
    select_file = args.select or str(
        data_dir / ("natural-dev.jsonl" if (data_dir / "natural-dev.jsonl").is_file() else "dev.jsonl")
    )
    select = load_queries(select_file, known).queries[: args.limit]
    dev = load_queries(args.dev, known).queries
    grades = load_judgments(args.judgments).grades if args.judgments else None
    name = Path(select_file).stem
    print(
        f"index {args.index_dir} (embedder {index.embedder}); choices on {select_file} ({len(select)} queries), "
        f"report on {args.dev} ({len(dev)})"
    )

    best = args.fusion or "rrf k=50"
    if not args.skip_fusion:
        rows, dev_rows = {}, {}
        for label, settings in [("bm25", dict(mode="bm25")), ("dense", dict(mode="dense"))] + FUSIONS:
            score(build_retriever(index, **{"mode": "hybrid", **settings}), label, select, dev, rows, dev_rows, grades)
        best = args.fusion or best_of(rows, [label for label, _ in FUSIONS])
        print(f"\nFusion on {name} (choose here):")
        print(format_table(rows, "setting"))
        print("\nFusion on the public dev set (report only):")
        print(format_table(dev_rows, "setting"))
        print(f"\nbest on {name} by MRR@10: {best}")

    settings = dict(FUSIONS)[best]
    if not args.skip_blend:
        blend_rows, blend_dev = {}, {}
        for blend in [float(b) for b in args.blends.split(",")]:
            retriever = build_retriever(
                index, mode="hybrid+rerank", reranker=args.reranker, rerank_blend=blend, **settings
            )
            score(retriever, f"blend {blend:g}", select, dev, blend_rows, blend_dev, grades)
        print(f"\nRe-ranking blend (cross-encoder weight) with {best}, {name} (choose here):")
        print(format_table(blend_rows, "blend"))
        print(f"\nRe-ranking blend with {best}, public dev (report only):")
        print(format_table(blend_dev, "blend"))
        print(f"\nbest on {name} by MRR@10: {best_of(blend_rows, list(blend_rows))}")
    if args.skip_depth:
        return
    depth_rows, depth_dev = {}, {}
    score(build_retriever(index, mode="hybrid", **settings), "no rerank", select, dev, depth_rows, depth_dev, grades)
    for candidates in (10, 20, 30, 50):
        retriever = build_retriever(
            index, mode="hybrid+rerank", reranker=args.reranker, rerank_candidates=candidates, **settings
        )
        score(retriever, f"rerank {candidates}", select, dev, depth_rows, depth_dev, grades)
    print(f"\nRe-rank depth with {best}, {name}:")
    print(format_table(depth_rows, "candidates"))
    print(f"\nRe-rank depth with {best}, public dev:")
    print(format_table(depth_dev, "candidates"))


if __name__ == "__main__":
    main()
