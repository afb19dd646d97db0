"""Foundation benchmark on the real corpus: parse, chunk, build, reload, query latency per mode, memory.

    python benchmarks/bench_foundation.py [--corpus FILE] [--queries FILE] [--index-dir DIR] [--reranker DIR]

Without --reranker, hybrid+rerank latency is measured with a cross-encoder made from the
packaged MiniLM weights (same architecture as the fine-tuned one; its scores are meaningless).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from daraz_llama.corpus import parse_corpus
from daraz_llama.index import build_index, load_index
from daraz_llama.models import packaged_minilm_path
from daraz_llama.node_parser import ProductNodeParser
from daraz_llama.reader import DarazCorpusReader
from daraz_llama.retriever import build_retriever

SHARED = Path(__file__).resolve().parents[2] / "shared"


def _timed(fn, *args, **kwargs):
    started = time.perf_counter()
    value = fn(*args, **kwargs)
    return value, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=str(SHARED / "data" / "daraz_products_corpus.md"))
    parser.add_argument("--queries", default=str(SHARED / "eval" / "dev_queries.jsonl"))
    parser.add_argument("--index-dir", help="build here (default: a temporary folder)")
    parser.add_argument("--reranker", help="cross-encoder folder for hybrid+rerank")
    parser.add_argument("--rerank-candidates", type=int, default=30)
    args = parser.parse_args()

    rows: list[tuple[str, str]] = []
    result, seconds = _timed(parse_corpus, args.corpus)
    rows.append(("parse corpus", f"{seconds:.2f} s ({len(result.products)} products, {len(result.problems)} problems)"))
    documents, seconds = _timed(DarazCorpusReader().load_data, args.corpus)
    rows.append(("parse + Documents", f"{seconds:.2f} s"))
    nodes, seconds = _timed(ProductNodeParser().get_nodes_from_documents, documents)
    rows.append(("chunk", f"{seconds:.2f} s ({len(nodes)} chunks)"))

    index_dir = Path(args.index_dir) if args.index_dir else Path(tempfile.mkdtemp(prefix="daraz-bench-"))
    index, seconds = _timed(build_index, args.corpus, index_dir, embedder=packaged_minilm_path())
    counts = index.manifest["counts"]
    rows.append(
        (
            "index build",
            f"{seconds:.1f} s; embedded {counts['embedded']} chunks "
            f"({counts['embedded'] / seconds:.0f} chunks/s overall), reused {counts['reused_vectors']}",
        )
    )
    loaded, seconds = _timed(load_index, index_dir)
    rows.append(("reload index", f"{seconds:.2f} s"))
    _, seconds = _timed(lambda: loaded.vector_index())
    rows.append(("load embedder (first dense query)", f"{seconds:.2f} s"))

    reranker = args.reranker
    if reranker is None:
        from sentence_transformers import CrossEncoder

        reranker = tempfile.mkdtemp(prefix="daraz-ce-")
        CrossEncoder(packaged_minilm_path(), num_labels=1).save(reranker)
    queries = [
        json.loads(line)["query"]
        for line in Path(args.queries).read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    latencies: dict[str, list[float]] = {}
    for mode in ("bm25", "dense", "hybrid", "hybrid+rerank"):
        retriever = build_retriever(loaded, mode=mode, reranker=reranker, rerank_candidates=args.rerank_candidates)
        retriever.retrieve(queries[0])  # warm-up
        latencies[mode] = [_timed(retriever.retrieve, q)[1] * 1000 for q in queries]
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(f"\nFoundation benchmark: {args.corpus}\n")
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print(f"\n{'mode':<14} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8}   ({len(queries)} queries)")
    for mode, values in latencies.items():
        p95 = float(np.percentile(values, 95, method="nearest"))
        print(f"{mode:<14} {statistics.median(values):>8.1f} {p95:>8.1f} {statistics.mean(values):>8.1f}")
    print(f"\nrerank candidates: {args.rerank_candidates}; peak memory (RSS): {peak_mib:.0f} MiB")


if __name__ == "__main__":
    main()
