"""Embedding throughput and re-ranking latency on torch and on int8 ONNX Runtime, on real catalog chunks.

    python benchmarks/bench_backends.py --corpus ../shared/data/daraz_products_corpus.md \
        [--embedder models/embedder-ft] [--reranker models/reranker-ft] [--chunks 1024]

Rows: chunks/s embedding the first N chunks of the corpus (the index build's cost; texts as the index embeds
them, run as each backend runs them: torch in batches, ONNX one text a call on every core), the mean cosine of
ONNX vectors to torch's, and the milliseconds to re-rank 10 products for a query (median of 20). Quality on the
dev set: `daraz-llama eval --backend`.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import numpy as np
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle

from daraz_llama.corpus import parse_corpus
from daraz_llama.models import default_embedder, default_reranker, load_embedder, load_reranker
from daraz_llama.node_parser import ProductNodeParser
from daraz_llama.reader import product_to_document


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--embedder", default=None, help="default: the fine-tuned one if present, else MiniLM")
    parser.add_argument("--reranker", default=None, help="default: the fine-tuned one if present (else skipped)")
    parser.add_argument("--chunks", type=int, default=1024)
    args = parser.parse_args()
    products = parse_corpus(args.corpus).products
    nodes = ProductNodeParser().get_nodes_from_documents([product_to_document(p) for p in products])
    texts = [node.get_content(metadata_mode=MetadataMode.EMBED) for node in nodes[: args.chunks]]
    embedder = args.embedder or default_embedder()
    print(f"{len(texts)} chunks of {args.corpus}; embedder {embedder}")
    print(f"{'backend':<8} {'chunks/s':>9} {'cos to torch':>13} {'rerank 10 ms':>13}")
    reference = None
    reranker = args.reranker or default_reranker()
    query = QueryBundle("black slim fit jeans for men")
    candidates = [NodeWithScore(node=node, score=0.0) for node in nodes[:10]]
    for backend in ("torch", "onnx"):
        model = load_embedder(embedder, backend)
        model.get_text_embedding_batch(texts[:32])  # warm up
        started = time.perf_counter()
        vectors = np.asarray(model.get_text_embedding_batch(texts))
        rate = len(texts) / (time.perf_counter() - started)
        reference = vectors if reference is None else reference
        cosine = float(np.mean((vectors * reference).sum(axis=1)))
        rerank_ms = float("nan")
        if reranker:
            postprocessor = load_reranker(reranker, top_n=10, backend=backend)
            times = []
            for _ in range(21):
                started = time.perf_counter()
                postprocessor.postprocess_nodes(copy.deepcopy(candidates), query)
                times.append(time.perf_counter() - started)
            rerank_ms = statistics.median(times[1:]) * 1000
        print(f"{backend:<8} {rate:>9.1f} {cosine:>13.4f} {rerank_ms:>13.1f}")


if __name__ == "__main__":
    main()
