"""The cost curve: synthetic catalogs of growing size, and what each index backend costs at each size.

    python benchmarks/bench_scale.py --corpus ../shared/data/daraz_products_corpus.md \\
        --vectors benchmarks/results/index-ft-onnx --sizes 10000,100000 [--backends faiss-flat,faiss-hnsw,milvus] \\
        [--queries 200] [--out benchmarks/results/scale] [--plot docs/scale.png]

Synthetic catalogs (labelled so in their header, written under --out, never mixed into the real corpus) recombine
fields of real products: one product's title and category, another's brand, a third's price and rating, and
description sentences of two more. Vectors are the real chunk vectors of the --vectors index, reused with small
noise (embedding a million chunks on this CPU takes hours: `benchmarks/bench_backends.py` measures that cost).

Per size: streaming parse (seconds, Python heap peak), chunking, BM25 build (bm25s), and per backend: insert
seconds, index disk size, query p50/p95 of bm25, dense and hybrid (both searches and reciprocal-rank fusion, no
re-ranking). FAISS HNSW reports its recall@10 against exact (flat) search.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import time
import tracemalloc
from pathlib import Path
from typing import Any, Callable

import faiss
import numpy as np
from llama_index.core.schema import MetadataMode

from daraz_llama.corpus import CorpusStream, Product, parse_corpus
from daraz_llama.faiss_store import FilterableFaissVectorStore
from daraz_llama.index import current_version_dir
from daraz_llama.node_parser import ProductNodeParser
from daraz_llama.reader import product_to_document

SENTENCE_RE = re.compile(r"(?<=[.!?])\s+")
HEADER = (
    "# SYNTHETIC catalog for the scale benchmark\n\n> Made by benchmarks/bench_scale.py by recombining fields "
    "of real products. Not a real catalog.\n\n"
)


def _block(number: int, title: Product, brand: Product, price: Product, sentences: list[str]) -> str:
    lines = [
        f"<!--DOC:START id=S{number:08d} category={title.category} -->",
        f"## {title.title}",
        f"**DocID:** S{number:08d}",
        "",
        f"**Category:** {title.category}  ",
    ]
    if brand.brand:
        lines.append(f"**Brand:** {brand.brand}  ")
    if price.price is not None:
        lines.append(f"**Price:** ৳ {price.price:,.0f}  ")
    if price.rating is not None:
        lines.append(f"**Rating:** {price.rating}/5 ({price.rating_count or 1} ratings)")
    lines += ["", "**Description:**", " ".join(sentences), "", "<!--DOC:END-->", ""]
    return "\n".join(lines)


def write_synthetic(products: list[Product], size: int, path: Path, seed: int = 13) -> None:
    """A synthetic corpus of ``size`` products, streamed to ``path``."""
    rng = random.Random(seed)
    described = [p for p in products if p.description]
    with path.open("w", encoding="utf-8") as out:
        out.write(HEADER)
        for number in range(size):
            title, brand, price = (rng.choice(products) for _ in range(3))
            sentences = [s for p in rng.sample(described, 2) for s in SENTENCE_RE.split(p.description or "")[:3]]
            out.write(_block(number, title, brand, price, sentences))


def _chunks(corpus: Path, keep_nodes: bool, batch: int = 5000) -> tuple[list[Any], list[str]]:
    """The chunk texts of ``corpus`` (and the nodes, only when a backend needs them), chunked ``batch`` products
    at a time so that memory holds the texts, not every product and node at once."""
    parser, nodes, texts, products = ProductNodeParser(), [], [], []

    def flush() -> None:
        made = parser.get_nodes_from_documents([product_to_document(p) for p in products])
        texts.extend(node.get_content(metadata_mode=MetadataMode.EMBED) for node in made)
        if keep_nodes:
            nodes.extend(made)
        products.clear()

    for product in CorpusStream(corpus):
        products.append(product)
        if len(products) == batch:
            flush()
    flush()
    return nodes, texts


def _percentiles(times: list[float]) -> tuple[float, float]:
    ms = np.asarray(times) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 95))


def _timed(run: Callable[[Any], Any], queries: list[Any]) -> tuple[float, float]:
    times = []
    for query in queries:
        started = time.perf_counter()
        run(query)
        times.append(time.perf_counter() - started)
    return _percentiles(times)


def _folder_mb(path: Path) -> float:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files) / 1e6


def _fuse(*rankings: list[int], k: int = 60) -> list[int]:
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking):
            scores[item] = scores.get(item, 0.0) + 1 / (k + rank)
    return sorted(scores, key=scores.__getitem__, reverse=True)[:10]


def measure_size(
    size: int, products: list[Product], real_vectors: np.ndarray, backends: list[str], queries: int, out: Path
) -> dict[str, Any]:
    import bm25s

    from daraz_llama.bm25_terms import bm25_tokenize

    corpus = out / f"synthetic-{size}.md"
    started = time.perf_counter()
    write_synthetic(products, size, corpus)
    row: dict[str, Any] = {"size": size, "write_s": time.perf_counter() - started, "corpus_mb": _folder_mb(corpus)}
    tracemalloc.start()
    started = time.perf_counter()
    parsed = sum(1 for _ in CorpusStream(corpus))
    row["parse_s"] = time.perf_counter() - started
    row["parse_peak_mb"] = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    assert parsed == size, (parsed, size)
    started = time.perf_counter()
    nodes, texts = _chunks(corpus, keep_nodes="milvus" in backends)
    row["chunks"], row["chunk_s"] = len(texts), time.perf_counter() - started
    started = time.perf_counter()
    bm25 = bm25s.BM25()
    bm25.index(bm25_tokenize(texts), show_progress=False)
    row["bm25_build_s"] = time.perf_counter() - started
    bm25_dir = out / f"bm25-{size}"
    bm25.save(str(bm25_dir))
    row["bm25_disk_mb"] = _folder_mb(bm25_dir)
    shutil.rmtree(bm25_dir, ignore_errors=True)
    rng = np.random.default_rng(13)
    vectors = real_vectors[np.arange(len(texts)) % len(real_vectors)] + rng.normal(
        0, 0.01, (len(texts), real_vectors.shape[1])
    )
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype("float32")
    picks = rng.choice(len(texts), size=queries, replace=False)
    query_texts = [" ".join(texts[i].split()[:4]) for i in picks]
    query_vectors = vectors[picks] + rng.normal(0, 0.05, (queries, vectors.shape[1])).astype("float32")
    query_vectors /= np.linalg.norm(query_vectors, axis=1, keepdims=True)

    def bm25_search(text: str) -> list[int]:
        found, _ = bm25.retrieve(
            bm25_tokenize([text]),
            k=50,
            show_progress=False,
            n_threads=1,
        )
        return [int(i) for i in found[0]]

    row["bm25_p50_ms"], row["bm25_p95_ms"] = _timed(bm25_search, query_texts)
    exact = None
    for backend in backends:
        if backend.startswith("faiss"):
            row.update(_measure_faiss(backend, vectors, query_vectors, query_texts, bm25_search, out, size))
            if backend == "faiss-flat":
                exact = faiss.IndexFlatIP(vectors.shape[1])
                exact.add(vectors)
        else:
            row.update(_measure_milvus(nodes, texts, vectors, query_vectors, query_texts, out, size))
    if exact is not None and "faiss-hnsw" in backends:
        row["faiss-hnsw_recall@10"] = _hnsw_recall(vectors, query_vectors, exact)
    corpus.unlink()
    return row


def _measure_faiss(
    backend: str,
    vectors: np.ndarray,
    query_vectors: np.ndarray,
    query_texts: list[str],
    bm25_search: Callable[[str], list[int]],
    out: Path,
    size: int,
) -> dict[str, Any]:
    dim = vectors.shape[1]
    index = (
        faiss.IndexFlatIP(dim) if backend == "faiss-flat" else faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
    )
    if backend == "faiss-hnsw":
        index.hnsw.efConstruction, index.hnsw.efSearch = 80, 64
    started = time.perf_counter()
    index.add(vectors)
    row: dict[str, Any] = {f"{backend}_insert_s": time.perf_counter() - started}
    path = out / f"{backend}-{size}.faiss"
    faiss.write_index(index, str(path))
    row[f"{backend}_disk_mb"] = _folder_mb(path)
    path.unlink()

    def dense(vector: np.ndarray) -> list[int]:
        return [int(i) for i in index.search(vector[np.newaxis, :], 50)[1][0]]

    row[f"{backend}_dense_p50_ms"], row[f"{backend}_dense_p95_ms"] = _timed(dense, list(query_vectors))
    pairs = list(zip(query_texts, query_vectors))
    row[f"{backend}_hybrid_p50_ms"], row[f"{backend}_hybrid_p95_ms"] = _timed(
        lambda pair: _fuse(bm25_search(pair[0]), dense(pair[1])), pairs
    )
    return row


def _hnsw_recall(vectors: np.ndarray, query_vectors: np.ndarray, exact: Any) -> float:
    hnsw = faiss.IndexHNSWFlat(vectors.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efConstruction, hnsw.hnsw.efSearch = 80, 64
    hnsw.add(vectors)
    truth = exact.search(query_vectors, 10)[1]
    found = hnsw.search(query_vectors, 10)[1]
    return float(np.mean([len(set(t) & set(f)) / 10 for t, f in zip(truth, found)]))


def _measure_milvus(
    nodes: list[Any],
    texts: list[str],
    vectors: np.ndarray,
    query_vectors: np.ndarray,
    query_texts: list[str],
    out: Path,
    size: int,
) -> dict[str, Any]:
    from daraz_llama.bm25_terms import bm25_terms
    from daraz_llama.index import chunk_key
    from daraz_llama.milvus_build import chunk_row
    from daraz_llama.milvus_store import connect, create_collection

    uri = str(out / f"milvus-{size}.db")
    shutil.rmtree(uri, ignore_errors=True)
    client = connect(uri)
    create_collection(client, "scale", vectors.shape[1], hnsw=False)
    started = time.perf_counter()
    for start in range(0, len(nodes), 1000):
        batch = range(start, min(start + 1000, len(nodes)))
        terms = bm25_terms([texts[i] for i in batch])
        client.insert(
            "scale",
            [chunk_row(nodes[i], chunk_key(None, texts[i]), t, vectors[i].tolist()) for i, t in zip(batch, terms)],
        )
    client.flush("scale")
    row: dict[str, Any] = {"milvus_insert_s": time.perf_counter() - started}

    def search(field: str, data: Any, params: dict[str, Any]) -> list[str]:
        hits = client.search(
            "scale", data=[data], anns_field=field, limit=50, search_params=params, output_fields=["id"]
        )
        return [hit["id"] for hit in hits[0]]

    def bm25(text: str) -> list[str]:
        return search("sparse", bm25_terms([text])[0], {"metric_type": "BM25"})

    def dense(vector: np.ndarray) -> list[str]:
        return search("dense", vector.tolist(), {"metric_type": "IP"})

    row["milvus_bm25_p50_ms"], row["milvus_bm25_p95_ms"] = _timed(bm25, query_texts)
    row["milvus_dense_p50_ms"], row["milvus_dense_p95_ms"] = _timed(dense, list(query_vectors))
    row["milvus_hybrid_p50_ms"], row["milvus_hybrid_p95_ms"] = _timed(
        lambda pair: _fuse(bm25(pair[0]), dense(pair[1])), list(zip(query_texts, query_vectors))
    )
    client.close()
    row["milvus_disk_mb"] = _folder_mb(Path(uri))
    shutil.rmtree(uri, ignore_errors=True)
    return row


def _real_vectors(index_dir: str) -> np.ndarray:
    version = current_version_dir(index_dir)
    if version is None:
        raise SystemExit(f"no index in {index_dir}")
    return FilterableFaissVectorStore.from_persist_path(str(version / "default__vector_store.json")).vectors()


def plot(rows: list[dict[str, Any]], backends: list[str], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(11, 4))

    def curve(axis: Any, key: str, label: str) -> None:
        points = [(row["size"], row[key]) for row in rows if key in row]  # a backend may skip a size
        axis.plot([size for size, _ in points], [value for _, value in points], marker="o", label=label)

    curve(axes[0], "bm25_p50_ms", "bm25 (bm25s)")
    curve(axes[1], "bm25_build_s", "bm25s build")
    for backend in backends:
        curve(axes[0], f"{backend}_hybrid_p50_ms", f"hybrid, {backend}")
        curve(axes[1], f"{backend}_insert_s", backend)
    axes[0].axhline(100, color="grey", linestyle="--", linewidth=1)
    for axis, title, unit in ((axes[0], "query p50 (synthetic catalogs)", "ms"), (axes[1], "build / insert time", "s")):
        axis.set(xscale="log", yscale="log", xlabel="products", ylabel=unit, title=title)
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", help="the real corpus whose fields are recombined (required to measure)")
    parser.add_argument("--vectors", help="an index folder with dense vectors to reuse (required to measure)")
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--backends", default="faiss-flat,faiss-hnsw,milvus")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--out", default="benchmarks/results/scale")
    parser.add_argument("--plot", help="write the curves here (PNG)")
    parser.add_argument("--plot-only", nargs="+", metavar="SCALE_JSON", help="plot these result files and exit")
    args = parser.parse_args()
    if args.plot_only:
        rows = sorted(
            (row for name in args.plot_only for row in json.loads(Path(name).read_text())), key=lambda row: row["size"]
        )
        plot(rows, [b for b in args.backends.split(",") if b], args.plot or "scale.png")
        return
    if not (args.corpus and args.vectors):
        parser.error("--corpus and --vectors are needed to measure")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    products = parse_corpus(args.corpus).products
    vectors = _real_vectors(args.vectors)
    backends = [b for b in args.backends.split(",") if b]
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        row = measure_size(size, products, vectors, backends, args.queries, out)
        rows.append(row)
        print(
            json.dumps({key: round(value, 3) if isinstance(value, float) else value for key, value in row.items()}),
            flush=True,
        )
        (out / "scale.json").write_text(json.dumps(rows, indent=2), encoding="utf-8")
    if args.plot:
        plot(rows, backends, args.plot)
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
