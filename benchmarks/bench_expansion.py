"""Doc2query measured: BM25, hybrid and hybrid+rerank without and with predicted queries (N per product),
expanded into BM25 only or into BM25 and the dense index, on the public dev set (strict and judged) and
natural-dev. An expansion file may cover a slice of the catalog (``daraz-llama expand --category``): the
queries whose product lies in an expanded category are then reported apart ("slice") as well as all of them.

    python benchmarks/bench_expansion.py --expansions models/work/data/expansions-slice.jsonl \
        --index-dir models/work/index-ft [--reranker models/reranker-ft] [--per-product 3,10,20] [--dense 20]

Indexes are built in memory from the corpus the index was built from, with its embedder; vectors of the
real chunks are reused from ``--index-dir`` (only expansion chunks are embedded, for the dense variants).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
from llama_index.core.schema import MetadataMode

from daraz_llama.corpus import parse_corpus
from daraz_llama.evaluation import evaluate_retriever
from daraz_llama.expansions import Expansions, expansion_nodes, load_expansions
from daraz_llama.index import ProductIndex, corpus_nodes, index_nodes, load_index
from daraz_llama.judgments import load_judgments
from daraz_llama.node_parser import ProductNodeParser
from daraz_llama.queries import QueryRecord, load_queries
from daraz_llama.retriever import build_retriever

SHARED = Path(__file__).resolve().parents[2] / "shared"
MODES = ("bm25", "hybrid", "hybrid+rerank")
COLUMNS = (
    "recall@1",
    "mrr@10",
    "recall@10",
    "success@1",
    "ndcg@5",
    "judged@5",
    "success@1_condensed",
    "ndcg@5_condensed",
)


def table(rows: dict[str, dict[str, float]]) -> str:
    """One row per expansion and mode: strict (R@1, MRR@10, R@10) and judged (S@1, nDCG@5, judged share of the
    first 5, and both condensed: unjudged products removed from the ranking)."""
    lines = [
        f"| expansion | mode | {' | '.join(COLUMNS)} | p50 ms | n |",
        "| --- | --- |" + " ---: |" * (len(COLUMNS) + 2),
    ]
    for label, summary in rows.items():
        expansion, mode = label.rsplit(" ", 1)
        values = " | ".join(f"{summary[c]:.3f}" if c in summary else "–" for c in COLUMNS)
        lines.append(f"| {expansion} | {mode} | {values} | {summary['p50_ms']:.0f} | {int(summary['queries'])} |")
    return "\n".join(lines)


def expanded_index(base: ProductIndex, index_dir: str, nodes: list, extra: list, dense: bool) -> ProductIndex:
    return index_nodes(
        nodes,
        base.embedder,
        reuse_from=index_dir,
        backend=base.embedder_backend,
        expansions=extra,
        expand_dense=dense,
    )


def relevance_filtered(expansions: Expansions, nodes: list, reranker: str, shares: list[float]) -> list[Expansions]:
    """Doc2Query--: for each share, only the predicted queries the cross-encoder scores in the best ``share`` of
    all (query, product) pairs, so hallucinated ones (a colour or size the product lacks) are dropped. The pairs
    are scored once for all shares."""
    from sentence_transformers import CrossEncoder

    from daraz_llama.postprocessor import product_id_of

    passage: dict[str, str] = {}
    for node in nodes:
        passage.setdefault(product_id_of(node), node.get_content(metadata_mode=MetadataMode.EMBED))
    pairs = [(query, pid) for pid, queries in expansions.by_product.items() for query in queries]
    model = CrossEncoder(reranker, max_length=64)
    scores = model.predict([(query, passage[pid]) for query, pid in pairs], batch_size=64)
    filtered = []
    for share in shares:
        threshold = float(np.quantile(scores, 1 - share))
        kept: dict[str, list[str]] = {}
        for (query, pid), value in zip(pairs, scores):
            if value >= threshold:
                kept.setdefault(pid, []).append(query)
        filtered.append(replace(expansions, by_product=kept))
    return filtered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--expansions", required=True)
    parser.add_argument("--index-dir", default="models/work/index-ft")
    parser.add_argument("--reranker", default="models/reranker-ft")
    parser.add_argument("--dev", default=str(SHARED / "eval" / "dev_queries.jsonl"))
    parser.add_argument("--judgments", default=str(SHARED / "eval" / "dev_judgments.jsonl"))
    parser.add_argument("--natural-dev", default="models/work/data/natural-dev.jsonl")
    parser.add_argument("--per-product", default="3,10,20", help="N values for BM25 expansion")
    parser.add_argument("--dense", default="20", help="N values also expanded into the dense index")
    parser.add_argument("--modes", default=",".join(MODES), help="retrieval modes to measure")
    parser.add_argument(
        "--appended",
        default="",
        help="N values whose queries are appended to the product's first chunk's text "
        "(doc2query's layout) instead of to its title",
    )
    parser.add_argument(
        "--filtered",
        default="",
        help="shares of the predicted queries kept by cross-encoder score (Doc2Query--), "
        "e.g. 0.3,0.5: BM25 expansion with all N of them, filtered",
    )
    parser.add_argument("--json", dest="json_out", help="write every row here")
    args = parser.parse_args()

    base = load_index(args.index_dir)
    corpus = base.manifest["corpus"]["path"]
    parsed = parse_corpus(corpus)
    category = {p.product_id: p.category for p in parsed.products}
    expansions = load_expansions(args.expansions, set(category))
    expanded_categories = {category[pid] for pid in expansions.by_product}
    chunking = base.manifest["chunking"]
    chunker = ProductNodeParser(min_words=chunking["min_words"], max_words=chunking["max_words"])
    _, nodes = corpus_nodes(corpus, chunker, parsed, False)
    dev = load_queries(args.dev).queries
    grades = load_judgments(args.judgments, known_qids={q.qid for q in dev}).grades
    sets: dict[str, list[QueryRecord]] = {"dev": dev, "natural-dev": load_queries(args.natural_dev).queries}
    for name in list(sets):
        sets[f"{name} slice"] = [q for q in sets[name] if category.get(q.relevant_ids[0]) in expanded_categories]
    print(
        f"{sum(map(len, expansions.by_product.values()))} predicted queries of {len(expansions.by_product)} "
        f"products in {len(expanded_categories)} categories; "
        + ", ".join(f"{name}: {len(queries)} queries" for name, queries in sets.items())
    )
    variants: list[tuple[str, Expansions | None, int | None, bool]] = [("none", None, None, False)]
    variants += [(f"N={n} bm25", expansions, n, False) for n in map(int, args.per_product.split(","))]
    variants += [
        (f"N={n} bm25 appended", expansions, n, False)
        for n in map(int, args.appended.split(",") if args.appended else [])
    ]
    variants += (
        [(f"N={n} bm25+dense", expansions, n, True) for n in map(int, args.dense.split(","))] if args.dense else []
    )
    shares = [float(x) for x in args.filtered.split(",") if x]
    if shares:
        for share, kept in zip(shares, relevance_filtered(expansions, nodes, args.reranker, shares)):
            variants.append((f"best {share:.0%} bm25", kept, None, False))
    rows: dict[str, dict[str, dict[str, float]]] = {name: {} for name in sets}
    for label, chosen, per_product, dense in variants:
        extra = expansion_nodes(nodes, chosen, per_product, append=label.endswith("appended")) if chosen else []
        index = base if not extra else expanded_index(base, args.index_dir, nodes, extra, dense)
        for mode in args.modes.split(","):
            if label != "none" and mode == "bm25" and dense:
                continue  # BM25 sees the same text with or without the dense expansion
            retriever = build_retriever(index, mode=mode, reranker=args.reranker)
            for name, queries in sets.items():
                if name.endswith("slice"):
                    continue
                report = evaluate_retriever(retriever, queries, mode, show_progress=False, judgments=grades)
                rows[name][f"{label} {mode}"] = report.summary()
                in_slice = {q.qid for q in sets[f"{name} slice"]}
                rows[f"{name} slice"][f"{label} {mode}"] = report.summary(
                    [r for r in report.results if r.qid in in_slice]
                )
            print(f"  {label} {mode}: dev slice R@1 {rows['dev slice'][f'{label} {mode}']['recall@1']:.3f}", flush=True)
    for name, rows_of_set in rows.items():
        print(f"\n## {name}\n")
        print(table(rows_of_set))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(rows, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
