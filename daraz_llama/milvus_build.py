"""Index a corpus into Milvus: new and changed chunks embedded and upserted, removed products' chunks deleted,
the manifest written last (see :mod:`daraz_llama.milvus_store` for the collection and the search)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Iterator

from llama_index.core.schema import BaseNode, MetadataMode
from llama_index.core.utils import get_tqdm_iterable

from daraz_llama import __version__
from daraz_llama.bm25_terms import BM25_TERMS, bm25_terms
from daraz_llama.corpus import ParseResult, file_sha256
from daraz_llama.index import INDEX_FORMAT, chunk_key, corpus_nodes, vectors_made_by
from daraz_llama.milvus_store import (
    ANALYZER,
    BM25_PARAMS,
    DEFAULT_COLLECTION,
    MAX_TEXT,
    MilvusIndex,
    MilvusStoreError,
    connect,
    create_collection,
    manifest_collection,
    read_manifest,
)
from daraz_llama.models import load_embedder, model_id, resolve_model_name
from daraz_llama.node_parser import ProductNodeParser
from daraz_llama.postprocessor import product_id_of

BATCH = 500  # chunks embedded and upserted at a time
# What the collection's BM25 depends on: a collection built otherwise is rebuilt.
BM25_SETTINGS = {"terms": BM25_TERMS, "analyzer": ANALYZER, **BM25_PARAMS}


def chunk_row(node: BaseNode, key: str, terms: str, vector: list[float] | None) -> dict[str, Any]:
    """A chunk as a Milvus row: ``terms`` (its BM25 terms) feed Milvus' BM25 function."""
    meta = node.metadata
    row: dict[str, Any] = {
        "id": node.node_id,
        "product_id": product_id_of(node),
        "key": key,
        "search_text": terms.encode("utf-8")[: MAX_TEXT - 4].decode("utf-8", errors="ignore"),
        "category_key": str(meta["category"]).casefold() if meta.get("category") else None,
        "brand_key": str(meta["brand"]).casefold() if meta.get("brand") else None,
        "price": float(meta["price"]) if meta.get("price") is not None else None,
        "rating": float(meta["rating"]) if meta.get("rating") is not None else None,
        "node": node.to_dict(),
    }
    if vector is not None:
        row["dense"] = vector
    return row


def _existing_keys(client: Any, collection: str) -> dict[str, str]:
    """Chunk id → key of what the collection holds now."""
    found: dict[str, str] = {}
    iterator = client.query_iterator(collection, batch_size=1000, filter='id != ""', output_fields=["id", "key"])
    while rows := iterator.next():
        found.update({row["id"]: row["key"] for row in rows})
    iterator.close()
    return found


def build_milvus_index(
    corpus: str | Path,
    uri: str,
    collection: str = DEFAULT_COLLECTION,
    embedder: str | None = None,
    backend: str = "torch",
    parser: ProductNodeParser | None = None,
    show_progress: bool = True,
    parsed: ParseResult | None = None,
    hnsw: bool = False,
) -> MilvusIndex:
    """Index ``corpus`` into ``collection`` at ``uri``: new and changed chunks are embedded and upserted, chunks
    of removed products deleted, the rest left as they are (no full rebuild). The manifest is written last."""
    started = time.perf_counter()
    parser = parser or ProductNodeParser()
    parsed, nodes = corpus_nodes(corpus, parser, parsed, show_progress)
    embedder = resolve_model_name(embedder) if embedder else None
    model = model_id(embedder) if embedder else None
    made_by = vectors_made_by(model, backend)
    embed_texts = {node.node_id: node.get_content(metadata_mode=MetadataMode.EMBED) for node in nodes}
    node_keys = {node_id: chunk_key(made_by, text) for node_id, text in embed_texts.items()}
    client = connect(uri)
    embed_model = load_embedder(embedder, backend) if embedder else None
    dim = len(embed_model.get_text_embedding("dimension")) if embed_model else None
    existing = _compatible_keys(client, collection, uri, dim, hnsw)
    changed = [node for node in nodes if existing.get(node.node_id) != node_keys[node.node_id]]
    removed = [chunk_id for chunk_id in existing if chunk_id not in node_keys]
    batches = list(_batches(changed, BATCH))
    for batch in get_tqdm_iterable(
        batches, show_progress and bool(batches), f"Embedding and upserting ({BATCH} a batch)"
    ):
        texts = [embed_texts[node.node_id] for node in batch]
        vectors = embed_model.get_text_embedding_batch(texts) if embed_model else [None] * len(batch)
        rows = [
            chunk_row(node, node_keys[node.node_id], terms, vector)
            for node, terms, vector in zip(batch, bm25_terms(texts), vectors)
        ]
        client.upsert(collection, rows)
    for batch_ids in _batches(removed, BATCH):
        client.delete(collection, ids=batch_ids)
    corpus_path = Path(corpus).resolve()
    manifest = {
        "package_version": __version__,
        "format": INDEX_FORMAT,
        "store": {"kind": "milvus", "uri": uri, "collection": collection, "dense_index": "HNSW" if hnsw else "FLAT"},
        "chunking": parser.settings(),
        "bm25": BM25_SETTINGS,
        "corpus": {"path": str(corpus_path), "sha256": file_sha256(corpus_path)},
        "embedder": {"name": embedder, "id": model, "dim": dim, "backend": backend} if embedder else None,
        "counts": {
            "products": len(parsed.products),
            "chunks": len(nodes),
            "problems": len(parsed.problems),
            "embedded": len(changed) if embedder else 0,
            "upserted": len(changed),
            "deleted": len(removed),
            "unchanged": len(nodes) - len(changed),
        },
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "build_seconds": round(time.perf_counter() - started, 2),
    }
    client.flush(collection)
    client.upsert(
        manifest_collection(client, collection), [{"id": "manifest", "manifest": manifest, "unused": [0.0, 0.0]}]
    )
    return MilvusIndex(uri, collection, manifest, client, problems=parsed.problems)


def _compatible_keys(client: Any, collection: str, uri: str, dim: int | None, hnsw: bool) -> dict[str, str]:
    """The chunk keys already in ``collection``, or {} after (re)creating it when its vectors or BM25 settings
    are not the ones asked for."""
    if client.has_collection(collection):
        try:
            built = read_manifest(client, collection, uri)
        except MilvusStoreError:
            built = {}
        same_shape = (
            (built.get("embedder") or {}).get("dim") == dim
            and (built.get("store") or {}).get("dense_index") == ("HNSW" if hnsw else "FLAT")
            and built.get("bm25") == BM25_SETTINGS
        )
        if built and same_shape:
            return _existing_keys(client, collection)
        client.drop_collection(collection)
    create_collection(client, collection, dim, hnsw)
    return {}


def _batches(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
