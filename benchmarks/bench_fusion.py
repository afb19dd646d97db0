"""Fusion and re-rank depth choices, measured: pick on the silver dev split, report on the public dev set.

    python benchmarks/bench_fusion.py --index-dir models/work/index-ft --reranker models/reranker-ft \
        [--silver-dev models/work/data/dev.jsonl] [--dev ../shared/eval/dev_queries.jsonl] [--limit 600]

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


def score(retriever, label: str, silver: list, dev: list, rows: dict, dev_rows: dict) -> None:
    """One row in each table: the silver dev split (where choices are made) and the public dev set."""
    rows[label] = evaluate_retriever(retriever, silver, label, show_progress=False).summary()
    dev_rows[label] = evaluate_retriever(retriever, dev, label, show_progress=False).summary()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index-dir", default="models/work/index-ft")
    parser.add_argument("--reranker", default="models/reranker-ft")
    parser.add_argument("--silver-dev", default="models/work/data/dev.jsonl")
    parser.add_argument("--dev", default=str(SHARED / "eval" / "dev_queries.jsonl"))
    parser.add_argument("--limit", type=int, default=600, help="silver dev queries used (default: 600)")
    parser.add_argument("--skip-fusion", action="store_true")
    parser.add_argument("--skip-depth", action="store_true")
    parser.add_argument("--skip-blend", action="store_true")
    parser.add_argument("--blends", default="0.3,0.5,0.7,1.0", help="cross-encoder weights for the blend table")
    parser.add_argument("--fusion", help="fusion row to use for the re-rank depth table (default: best)")
    args = parser.parse_args()

    index = load_index(args.index_dir)
    known = set(index.product_ids())
    silver = load_queries(args.silver_dev, known).queries[: args.limit]
    dev = load_queries(args.dev, known).queries
    print(f"index {args.index_dir} (embedder {index.embedder}); silver dev {len(silver)} queries, dev {len(dev)}")

    best = args.fusion or "rrf k=50"
    if not args.skip_fusion:
        rows, dev_rows = {}, {}
        for label, settings in [("bm25", dict(mode="bm25")), ("dense", dict(mode="dense"))] + FUSIONS:
            score(build_retriever(index, **{"mode": "hybrid", **settings}), label, silver, dev, rows, dev_rows)
        fused = [label for label, _ in FUSIONS]
        best = args.fusion or max(fused, key=lambda label: (rows[label]["mrr@10"], rows[label]["recall@1"]))
        print("\nFusion on the silver dev split (choose here):")
        print(format_table(rows, "setting"))
        print("\nFusion on the public dev set (report only):")
        print(format_table(dev_rows, "setting"))
        print(f"\nbest on silver dev by MRR@10: {best}")

    settings = dict(FUSIONS)[best]
    if not args.skip_blend:
        blend_rows, blend_dev = {}, {}
        for blend in [float(b) for b in args.blends.split(",")]:
            retriever = build_retriever(index, mode="hybrid+rerank", reranker=args.reranker, rerank_blend=blend,
                                        **settings)
            score(retriever, f"blend {blend:g}", silver, dev, blend_rows, blend_dev)
        print(f"\nRe-ranking blend (cross-encoder weight) with {best}, silver dev (choose here):")
        print(format_table(blend_rows, "blend"))
        print(f"\nRe-ranking blend with {best}, public dev (report only):")
        print(format_table(blend_dev, "blend"))
    if args.skip_depth:
        return
    depth_rows, depth_dev = {}, {}
    score(build_retriever(index, mode="hybrid", **settings), "no rerank", silver, dev, depth_rows, depth_dev)
    for candidates in (10, 20, 30, 50):
        retriever = build_retriever(index, mode="hybrid+rerank", reranker=args.reranker,
                                    rerank_candidates=candidates, **settings)
        score(retriever, f"rerank {candidates}", silver, dev, depth_rows, depth_dev)
    print(f"\nRe-rank depth with {best}, silver dev:")
    print(format_table(depth_rows, "candidates"))
    print(f"\nRe-rank depth with {best}, public dev:")
    print(format_table(depth_dev, "candidates"))


if __name__ == "__main__":
    main()
