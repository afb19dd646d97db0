"""Milvus as the index store: one collection holds every chunk with its BM25 terms (Milvus' built-in BM25 function
over the chunk's search text) and its dense vector; shopper filters are Milvus expressions evaluated inside each
search. Fusion, one result per product and re-ranking stay in :class:`~daraz_llama.retriever.ProductRetriever`.

``uri`` is a ``.db`` file (Milvus Lite, in-process) or a server URL (``http://host:19530``, token from
``$MILVUS_TOKEN``). pymilvus is used directly rather than ``llama-index-vector-stores-milvus``: BM25 here must read
the terms of the text the embedder reads (title, category and brand with the chunk), while that store's BM25 reads
the bare node text, and filters need case-folded category and brand fields.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.schema import BaseNode, NodeWithScore, QueryBundle, TextNode

from daraz_llama.bm25_terms import bm25_terms
from daraz_llama.filters import ProductFilters
from daraz_llama.index import BuiltWith, ProductIndexError
from daraz_llama.models import load_embedder
from daraz_llama.postprocessor import best_first
from daraz_llama.schema import keys

TOKEN_ENV = "MILVUS_TOKEN"
DEFAULT_COLLECTION = "daraz_products"
MANIFEST_SUFFIX = "_manifest"
# BM25 reads the terms of daraz_llama.bm25_terms (stemmed, stop words dropped, in Python), so the standard tokenizer
# only splits them at spaces: the FAISS store's bm25s and Milvus score the same terms. Milvus Lite (3.2) ignores
# analyzer filters, so stemming inside Milvus would not work there anyway.
ANALYZER = {"tokenizer": "standard"}
BM25_PARAMS = {"bm25_k1": 1.5, "bm25_b": 0.75}  # bm25s' defaults; Milvus Lite applies these values whatever is asked
# Milvus' BM25 keeps Lucene's (k1 + 1) factor, which bm25s drops: divided out, the two stores give equal scores.
SCORE_SCALE = 1.0 + BM25_PARAMS["bm25_k1"]
MAX_TEXT = 65535  # a VARCHAR's limit in bytes


class MilvusStoreError(ProductIndexError):
    """Milvus cannot be reached, or holds no index under that name."""


def milvus_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("pymilvus") is not None


def connect(uri: str) -> Any:
    """A ``MilvusClient`` for ``uri``; a clear error naming it when it cannot be reached."""
    if not milvus_installed():
        raise MilvusStoreError("the Milvus store needs pymilvus: pip install 'daraz-llama[milvus]'")
    # gRPC's core logs keep-alive renegotiations with Milvus Lite's server as errors: harmless, and not ours to show.
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    from pymilvus import MilvusClient

    # Milvus Lite's in-process server logs each call it does not implement (a timestamp for iterators, which
    # then use the client's clock): noise for a user.
    for name, level in (
        ("grpc._server", logging.CRITICAL),
        ("pymilvus", logging.ERROR),
        ("milvus_lite", logging.CRITICAL),
    ):  # our error below says what went wrong
        logging.getLogger(name).setLevel(level)
    if is_lite(uri):
        _check_lite_file_name(uri)
        Path(uri).parent.mkdir(parents=True, exist_ok=True)
    try:
        return MilvusClient(uri=uri, token=os.environ.get(TOKEN_ENV, ""), timeout=10)
    except Exception as err:  # noqa: BLE001 - pymilvus raises its own and grpc's errors
        detail = (str(err).strip().splitlines() or [""])[0][:160]
        hint = (
            " (a Milvus Lite file serves one process at a time: is another process using it?)" if is_lite(uri) else ""
        )
        raise MilvusStoreError(f"cannot reach Milvus at {uri}{hint}: {type(err).__name__}: {detail}") from None


def _check_lite_file_name(uri: str) -> None:
    if not uri.endswith(".db"):
        raise MilvusStoreError(f"Milvus URI {uri!r}: give a .db file (Milvus Lite) or http://host:19530")


def is_lite(uri: str) -> bool:
    """Whether ``uri`` is a local Milvus Lite file rather than a server address."""
    return not uri.startswith(("http://", "https://", "tcp://", "unix:"))


def _schema(client: Any, dim: int | None) -> Any:
    from pymilvus import DataType, Function, FunctionType

    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=512)
    schema.add_field("product_id", DataType.VARCHAR, max_length=512)
    schema.add_field("key", DataType.VARCHAR, max_length=64)  # what the chunk's text and model were
    schema.add_field(
        "search_text", DataType.VARCHAR, max_length=MAX_TEXT, enable_analyzer=True, analyzer_params=ANALYZER
    )
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    if dim:
        schema.add_field("dense", DataType.FLOAT_VECTOR, dim=dim)
    schema.add_field("category_key", DataType.VARCHAR, max_length=1024, nullable=True)
    schema.add_field("brand_key", DataType.VARCHAR, max_length=1024, nullable=True)
    schema.add_field("price", DataType.DOUBLE, nullable=True)
    schema.add_field("rating", DataType.DOUBLE, nullable=True)
    schema.add_field("node", DataType.JSON)
    schema.add_function(
        Function(
            name="bm25",
            function_type=FunctionType.BM25,
            input_field_names=["search_text"],
            output_field_names=["sparse"],
        )
    )
    return schema


def create_collection(client: Any, collection: str, dim: int | None, hnsw: bool) -> None:
    params = client.prepare_index_params()
    params.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25", params=BM25_PARAMS)
    if dim:
        dense = {"index_type": "HNSW", "params": {"M": 16, "efConstruction": 200}} if hnsw else {"index_type": "FLAT"}
        params.add_index(field_name="dense", metric_type="IP", **dense)
    client.create_collection(collection, schema=_schema(client, dim), index_params=params)


def manifest_collection(client: Any, collection: str) -> str:
    """A one-row collection beside the chunks holding the manifest (Milvus wants a vector field in each)."""
    from pymilvus import DataType

    name = collection + MANIFEST_SUFFIX
    if not client.has_collection(name):
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=64)
        schema.add_field("manifest", DataType.JSON)
        schema.add_field("unused", DataType.FLOAT_VECTOR, dim=2)
        params = client.prepare_index_params()
        params.add_index(field_name="unused", index_type="FLAT", metric_type="L2")
        client.create_collection(name, schema=schema, index_params=params)
    return name


def read_manifest(client: Any, collection: str, uri: str) -> dict[str, Any]:
    name = collection + MANIFEST_SUFFIX
    rows = []
    if client.has_collection(name) and client.has_collection(collection):
        for loaded in (name, collection):
            client.load_collection(loaded)  # a collection another process made starts released
        rows = client.query(name, ids=["manifest"], output_fields=["manifest"])
    if not rows:
        raise _no_index(collection, uri)
    return dict(rows[0]["manifest"])


def _no_index(collection: str, uri: str) -> MilvusStoreError:
    return MilvusStoreError(
        f"no index {collection!r} in Milvus at {uri}: build one with `daraz-llama index CORPUS "
        f"--store milvus --milvus-uri {uri}`"
    )


def filter_expression(filters: ProductFilters) -> str:
    """``filters`` as a Milvus boolean expression ("" for none); a missing price or rating never passes a bound."""
    parts = []
    if filters.category is not None:
        parts.append(f"category_key == {json.dumps(filters.category.casefold())}")
    if filters.brand is not None:
        parts.append(f"brand_key == {json.dumps(filters.brand.casefold())}")
    if filters.min_price is not None:
        parts.append(f"price >= {float(filters.min_price)!r}")
    if filters.max_price is not None:
        parts.append(f"price <= {float(filters.max_price)!r}")
    if filters.min_rating is not None:
        parts.append(f"rating >= {float(filters.min_rating)!r}")
    return " and ".join(parts)


@dataclass
class MilvusIndex(BuiltWith):
    """A product index kept in Milvus (the same role as :class:`~daraz_llama.index.ProductIndex`)."""

    uri: str
    collection: str
    manifest: dict[str, Any]
    client: Any = field(repr=False)
    cache: dict[str, Any] = field(default_factory=dict, repr=False)
    problems: list[Any] = field(default_factory=list)
    path: Path | None = None

    @classmethod
    def load(cls, uri: str, collection: str = DEFAULT_COLLECTION) -> "MilvusIndex":
        if is_lite(uri):
            _check_lite_file_name(uri)
            if not Path(uri).exists():  # connecting would create an empty Milvus Lite file
                raise _no_index(collection, uri)
        client = connect(uri)
        return cls(uri, collection, read_manifest(client, collection, uri), client)

    @property
    def has_vectors(self) -> bool:
        return self.embedder is not None

    @property
    def chunks(self) -> list[dict[str, Any]]:
        """Every chunk's id and catalog fields (read once), as ``ProductIndex.chunks``."""
        if "chunks" not in self.cache:
            rows: list[dict[str, Any]] = []
            titles: dict[str, str] = {}
            iterator = self.client.query_iterator(
                self.collection, batch_size=1000, filter='id != ""', output_fields=["id", "product_id", "node"]
            )
            while batch := iterator.next():
                for row in batch:
                    meta = row["node"].get("metadata", {})
                    catalog = {name: meta[name] for name in keys("catalog") if name in meta}
                    rows.append({**catalog, "id": row["id"], "product_id": row["product_id"]})
                    titles[row["product_id"]] = str(meta.get("title", ""))
            iterator.close()
            self.cache["chunks"] = sorted(rows, key=lambda row: row["id"])
            self.cache["titles"] = titles
        return self.cache["chunks"]

    def titles(self) -> dict[str, str]:
        """Each product's title, by product id."""
        if "titles" not in self.cache:
            _ = self.chunks  # read with them
        return self.cache["titles"]

    def product_ids(self) -> list[str]:
        return list(dict.fromkeys(chunk["product_id"] for chunk in self.chunks))

    def nodes(self, node_ids: list[str]) -> list[BaseNode]:
        """The chunks with these ids, in that order."""
        rows = {row["id"]: row for row in self.client.get(self.collection, ids=node_ids, output_fields=["node"])}
        return [TextNode.from_dict(rows[node_id]["node"]) for node_id in node_ids if node_id in rows]

    def close(self) -> None:
        """Let go of Milvus; for a Milvus Lite file, stop its in-process server (it serves one process at a time)."""
        self.client.close()
        if is_lite(self.uri):
            from milvus_lite.server_manager import server_manager_instance

            server_manager_instance.release_server(self.uri)

    def retriever(self, kind: str, filters: ProductFilters, top_k: int) -> "MilvusRetriever":
        """BM25 (``kind="bm25"``) or dense search in Milvus, restricted to ``filters`` inside the search."""
        embed_model = load_embedder(self.embedder, self.embedder_backend) if kind == "dense" and self.embedder else None
        return MilvusRetriever(self, kind, filter_expression(filters), top_k, embed_model)


class MilvusRetriever(BaseRetriever):
    """One Milvus search (BM25 or dense) as a LlamaIndex retriever."""

    def __init__(self, index: MilvusIndex, kind: str, expression: str, top_k: int, embed_model: Any = None) -> None:
        super().__init__()
        self._index, self._kind, self._expression, self._top_k, self._embed_model = (
            index,
            kind,
            expression,
            top_k,
            embed_model,
        )

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        params: dict[str, Any] = {"metric_type": "BM25"}
        if self._kind == "bm25":
            data: Any = bm25_terms([query_bundle.query_str])
            if not data[0]:  # only stop words or one-letter words: nothing to match
                return []
            field_name = "sparse"
        else:
            embedding = query_bundle.embedding or self._embed_model.get_query_embedding(query_bundle.query_str)
            data, field_name, params = [embedding], "dense", {"metric_type": "IP", "params": {"ef": 128}}
        hits = self._index.client.search(
            self._index.collection,
            data=data,
            anns_field=field_name,
            limit=self._top_k,
            filter=self._expression,
            search_params=params,
            output_fields=["node"],
        )[0]
        return best_first(
            [NodeWithScore(node=TextNode.from_dict(hit["entity"]["node"]), score=self._score(hit)) for hit in hits]
        )

    def _score(self, hit: dict[str, Any]) -> float:
        """Inner product as it is (it can be negative); BM25 made positive (Milvus Lite negates it) and brought to
        bm25s' scale."""
        distance = float(hit["distance"])
        return abs(distance) / SCORE_SCALE if self._kind == "bm25" else distance
