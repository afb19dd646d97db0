"""The hybrid product retriever: BM25 + FAISS fused by QueryFusionRetriever, optional re-ranking,
one result per product, shopper filters."""

from __future__ import annotations

import asyncio
import threading
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.indices.vector_store.retrievers import VectorIndexRetriever
from llama_index.core.llms import MockLLM
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.retrievers import QueryFusionRetriever
from llama_index.core.retrievers.fusion_retriever import FUSION_MODES
from llama_index.core.schema import BaseNode, NodeWithScore, QueryBundle
from llama_index.core.vector_stores.types import MetadataFilters
from llama_index.retrievers.bm25 import BM25Retriever

from daraz_llama.expansions import shown_instead
from daraz_llama.filters import ProductFilters
from daraz_llama.index import (
    ProductIndex,
    StaleIndexError,
    build_index,
    current_version_dir,
    load_index,
    rebuild_command,
    staleness,
)
from daraz_llama.milvus_store import DEFAULT_COLLECTION, MilvusIndex
from daraz_llama.models import (
    DENSE_EXTRA_HINT,
    default_embedder,
    default_reranker,
    dense_installed,
    fine_tuned_dir,
    load_reranker,
)
from daraz_llama.postprocessor import BestChunkPerProduct, best_first, product_id_of
from daraz_llama.query_parsing import parse_price_limit

MODES = ("bm25", "dense", "hybrid", "hybrid+rerank", "auto")
FUSION_MODES_BY_NAME = {mode.value: mode for mode in FUSION_MODES}  # QueryFusionRetriever's own fusion modes
NO_MODEL = "none"
BLEND_K = 5  # reciprocal-rank constant when blending cross-encoder and first-stage orders
MAX_QUERY_CHARS = 1000  # longer queries are cut: every model reads at most 256 tokens
MAX_FILTER_SETS = 32  # candidate retrievers kept per ProductRetriever, one per distinct filter set


class RetrievalWarning(UserWarning):
    """A setting could not be honoured and a fallback is used (shown once per message, by ``warnings``)."""


def _warn(message: str) -> None:
    warnings.warn(message, RetrievalWarning, stacklevel=3)


@dataclass
class RetrieverConfig:
    """How to retrieve.

    ``embedder``/``reranker``: a sentence-transformers name or folder; None picks the
    default (fine-tuned models when present, else the packaged MiniLM embedder and no
    re-ranker); ``"none"`` turns the model off.
    """

    mode: str = "auto"  # auto: hybrid+rerank when a cross-encoder is available, else hybrid (bm25 without vectors)
    top_k: int = 10
    embedder: str | None = None
    reranker: str | None = None
    candidate_k: int = 50  # chunks fetched from each retriever before fusion
    rerank_candidates: int = (
        10  # products handed to the cross-encoder (natural-dev: 20 a little better, p50 over 150 ms)
    )
    rerank_max_length: int | None = None  # tokens the cross-encoder reads (None: what it was trained on, else 64)
    backend: str | None = None  # torch or onnx (int8 ONNX Runtime); None: onnx when installed for the cross-encoder,
    # torch for an index this builds; queries are always embedded the way the index was built
    rerank_blend: float = 0.3  # weight of the cross-encoder's order against the first stage's (1: CE only)
    # Chosen on natural-dev (benchmarks/bench_fusion.py, benchmarks/RESULTS.md); the same as on the silver dev split.
    fusion: str = "dist_based_score"
    retriever_weights: tuple[float, float] | None = (0.3, 0.7)  # (bm25, dense); ignored by reciprocal_rerank
    filters: ProductFilters = field(default_factory=ProductFilters)
    parse_price: bool = True  # turn "under 500 taka" in a query into a price filter
    index_dir: str | Path | None = None  # where build_retriever(corpus) persists its index

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r}: choose one of {', '.join(MODES)}")
        if self.fusion not in FUSION_MODES_BY_NAME:
            raise ValueError(f"unknown fusion {self.fusion!r}: choose one of {', '.join(FUSION_MODES_BY_NAME)}")
        for name in ("top_k", "candidate_k", "rerank_candidates", "rerank_max_length"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if not 0.0 <= self.rerank_blend <= 1.0:
            raise ValueError(f"rerank_blend must be between 0 and 1, got {self.rerank_blend}")

    def resolved_embedder(self) -> str | None:
        if self.embedder == NO_MODEL:
            return None
        return self.embedder or default_embedder()

    def resolved_reranker(self) -> str | None:
        if self.reranker == NO_MODEL:
            return None
        return self.reranker or default_reranker()


class MatchingBM25Retriever(BM25Retriever):
    """BM25 that returns only chunks sharing a term with the query (and passing the weight mask):
    bm25s pads its top-k with zero-score chunks, masked-out ones included."""

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return best_first([n for n in super()._retrieve(query_bundle) if (n.score or 0.0) > 0.0])


class BestFirstVectorRetriever(VectorIndexRetriever):
    """Dense search with equal scores ordered by chunk id (:func:`best_first`), as in the Milvus store."""

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return best_first(super()._retrieve(query_bundle))

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return best_first(await super()._aretrieve(query_bundle))


class ProductRetriever(BaseRetriever):
    """Retrieve products (best chunk of each) from a :class:`ProductIndex`.

    A standard LlamaIndex retriever: use it in ``RetrieverQueryEngine`` or any app.
    """

    def __init__(self, index: ProductIndex | MilvusIndex, config: RetrieverConfig | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.index = index
        self.config = config or RetrieverConfig()
        self.mode = self._effective_mode()
        self._best_chunk = BestChunkPerProduct()
        self._reranker: BaseNodePostprocessor | None = None
        reranker = self.config.resolved_reranker()
        if self.mode == "hybrid+rerank" and reranker is not None:
            self._reranker = load_reranker(
                reranker, self.config.rerank_candidates, self.config.rerank_max_length, self.config.backend
            )
        self._candidate_retrievers: dict[ProductFilters, BaseRetriever | None] = {}
        self._candidates_lock = threading.Lock()  # async queries build per-filter retrievers from threads

    @classmethod
    def from_defaults(
        cls,
        index: ProductIndex | None = None,
        nodes: Sequence[BaseNode] | None = None,
        persist_dir: str | Path | None = None,
        similarity_top_k: int = 10,
        filters: MetadataFilters | ProductFilters | None = None,
        **settings: Any,
    ) -> "ProductRetriever":
        """A retriever over exactly one of: a loaded ``index``, ``nodes`` from any pipeline (indexed in memory with
        ``settings["embedder"]``, BM25 only when it is None or ``"none"``), or an index folder ``persist_dir``
        (only read). ``settings``: any :class:`RetrieverConfig` field (``mode``, ``reranker`` …)."""
        given = [
            name
            for name, value in (("index", index), ("nodes", nodes), ("persist_dir", persist_dir))
            if value is not None
        ]
        if len(given) != 1:
            raise ValueError(f"give exactly one of index, nodes or persist_dir (got {', '.join(given) or 'none'})")
        if nodes is not None:
            embedder = settings.get("embedder")
            index = ProductIndex.from_nodes(nodes, embedder=None if embedder in (None, NO_MODEL) else embedder)
        if index is None:
            assert persist_dir is not None
            index = load_index(persist_dir) if not Path(persist_dir).is_dir() else open_index(persist_dir)
        if filters is not None:
            settings["filters"] = filters
        return build_retriever(index, similarity_top_k=similarity_top_k, **settings)

    def _effective_mode(self) -> str:
        mode = self.config.mode
        embedder = self.config.resolved_embedder()
        if mode != "bm25" and self.config.embedder is not None and embedder is not None and self.index.has_vectors:
            reasons = staleness(self.index.manifest, embedder=embedder)
            if reasons:
                raise StaleIndexError("; ".join(reasons) + ": rebuild the index with this embedder")
        if mode == "auto":
            if not self.index.has_vectors or not dense_installed():
                return "bm25"
            return "hybrid+rerank" if self.config.resolved_reranker() else "hybrid"
        if mode != "bm25" and not self.index.has_vectors:
            _warn(f"mode {mode!r} needs dense vectors but this index has none (built without an embedder): using bm25")
            return "bm25"
        if mode != "bm25" and not dense_installed():
            _warn(f"mode {mode!r} needs sentence-transformers ({DENSE_EXTRA_HINT}): using bm25")
            return "bm25"
        if mode == "hybrid+rerank" and self.config.resolved_reranker() is None:
            _warn(
                "mode 'hybrid+rerank' needs a cross-encoder but none is configured "
                "(train one or pass --reranker): using hybrid"
            )
            return "hybrid"
        return mode

    def _allowed_chunks(self, filters: ProductFilters) -> list[str] | None:
        """Ids of the chunks that pass ``filters`` (None: no filter)."""
        if not filters.active:
            return None
        return [chunk["id"] for chunk in self.index.chunks if filters.matches(chunk)]

    def _candidates(self, filters: ProductFilters) -> BaseRetriever | None:
        """BM25, dense or both fused, restricted to ``filters`` (None when no chunk passes them).

        Built once per distinct filter set and kept (up to MAX_FILTER_SETS of them).
        """
        with self._candidates_lock:
            if filters not in self._candidate_retrievers:
                if len(self._candidate_retrievers) >= MAX_FILTER_SETS:
                    self._candidate_retrievers.pop(next(iter(self._candidate_retrievers)))
                self._candidate_retrievers[filters] = self._build_candidates(filters)
            return self._candidate_retrievers[filters]

    def _build_candidates(self, filters: ProductFilters) -> BaseRetriever | None:
        sparse: BaseRetriever | None
        dense: BaseRetriever | None
        if isinstance(self.index, MilvusIndex):  # the filters become an expression inside each Milvus search
            sparse = self.index.retriever("bm25", filters, self.config.candidate_k) if self.mode != "dense" else None
            dense = self.index.retriever("dense", filters, self.config.candidate_k) if self.mode != "bm25" else None
        else:
            allowed = self._allowed_chunks(filters)
            if allowed is not None and not allowed:
                return None
            sparse = self._bm25(allowed) if self.mode != "dense" else None
            dense = self._dense(allowed) if self.mode != "bm25" else None
        if not (sparse and dense):
            return sparse or dense
        weights = list(self.config.retriever_weights) if self.config.retriever_weights else None
        return QueryFusionRetriever(
            [sparse, dense],
            llm=MockLLM(),
            mode=FUSION_MODES_BY_NAME[self.config.fusion],
            num_queries=1,
            use_async=False,
            similarity_top_k=2 * self.config.candidate_k,
            retriever_weights=weights,
        )

    def _bm25(self, allowed: list[str] | None) -> MatchingBM25Retriever:
        assert isinstance(self.index, ProductIndex)
        shared = self.index.bm25
        mask = None
        if allowed is not None:
            keep = set(allowed)
            mask = [int(chunk["id"] in keep) for chunk in self.index.chunks]
        return MatchingBM25Retriever(
            existing_bm25=shared.bm25,
            stemmer=shared.stemmer,
            similarity_top_k=min(self.config.candidate_k, len(self.index.chunks)),
            corpus_weight_mask=mask,
        )

    def _dense(self, allowed: list[str] | None) -> BaseRetriever:
        assert isinstance(self.index, ProductIndex)
        vector_index = self.index.vector_index()
        assert vector_index is not None
        # Built directly: as_retriever() would restrict every search to all node ids.
        return BestFirstVectorRetriever(vector_index, similarity_top_k=self.config.candidate_k, node_ids=allowed)

    def _query_and_filters(self, query: str) -> tuple[str, ProductFilters]:
        """The text to search for and the filters to apply: a price limit typed in the query
        ("under 500 taka") becomes a price filter unless the configured filters set one."""
        filters = self.config.filters
        limit = parse_price_limit(query) if self.config.parse_price else None
        if limit is None or filters.min_price is not None or filters.max_price is not None:
            return query, filters
        return limit.text or query, replace(filters, min_price=limit.min_price, max_price=limit.max_price)

    def search(self, query: str | QueryBundle) -> tuple[list[NodeWithScore], ProductFilters]:
        """The products for ``query`` and the filters they were found with (a typed price limit included,
        or dropped when nothing met it). The retriever keeps no per-query state: safe to share."""
        query_bundle = QueryBundle(query) if isinstance(query, str) else query
        text = query_bundle.query_str[:MAX_QUERY_CHARS]  # a shopper can paste anything; no model reads more
        if not text.strip():
            return [], self.config.filters
        text, filters = self._query_and_filters(text)
        # A caller's precomputed query embedding is kept while the text is unchanged (no price limit cut out).
        bundle = QueryBundle(text, embedding=query_bundle.embedding if text == query_bundle.query_str else None)
        products = self._ranked_products(bundle, filters)
        if not products and filters != self.config.filters:  # the typed price limit matched nothing
            filters = self.config.filters
            products = self._ranked_products(bundle, filters)
        return products[: self.config.top_k], filters

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return self.search(query_bundle)[0]

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        """Retrieval in a worker thread: model inference never blocks the event loop."""
        return await asyncio.to_thread(self._retrieve, query_bundle)

    def _ranked_products(self, query_bundle: QueryBundle, filters: ProductFilters) -> list[NodeWithScore]:
        candidates = self._candidates(filters)
        if candidates is None:
            return []
        products = self._best_chunk.postprocess_nodes(candidates.retrieve(query_bundle), query_bundle)
        if isinstance(self.index, ProductIndex) and self.index.manifest.get("expansions"):
            products = shown_instead(products, self.index.first_chunks())  # predicted queries are never shown
        if self._reranker is not None:
            products = self._rerank(products[: self.config.rerank_candidates], query_bundle)
        return products

    def _rerank(self, products: list[NodeWithScore], query_bundle: QueryBundle) -> list[NodeWithScore]:
        """Cross-encoder order blended with the first-stage order by weighted reciprocal ranks."""
        assert self._reranker is not None
        first_rank = {product_id_of(n): rank for rank, n in enumerate(products)}
        by_cross_encoder = self._reranker.postprocess_nodes(products, query_bundle)
        weight = self.config.rerank_blend
        for rank, node in enumerate(by_cross_encoder):
            node.score = weight / (BLEND_K + rank) + (1 - weight) / (BLEND_K + first_rank[product_id_of(node)])
        return sorted(by_cross_encoder, key=lambda n: n.score or 0.0, reverse=True)


def open_index(source: str | Path, config: RetrieverConfig | None = None, show_progress: bool = True) -> ProductIndex:
    """An index for ``source``: an index folder, or a corpus file (index built, or reused from
    ``config.index_dir`` when it is fresh, and rebuilt incrementally when it is not)."""
    config = config or RetrieverConfig()
    source = Path(source)
    if source.is_dir():  # loading only reads: a newer model or a changed corpus is reported, never rebuilt here
        index = load_index(source)
        rebuild = rebuild_command(index.manifest, source)
        fine_tuned = default_embedder() if fine_tuned_dir("embedder-ft").is_dir() and config.embedder is None else None
        if fine_tuned and index.has_vectors and staleness(index.manifest, embedder=fine_tuned):
            _warn(
                f"a fine-tuned embedder is in {fine_tuned_dir('embedder-ft')} but {source} was built with "
                f"{index.embedder}: using the index as it is; `{rebuild}` rebuilds it with the new one"
            )
        reasons = staleness(index.manifest)
        if reasons:
            raise StaleIndexError(f"index {source} is stale: " + "; ".join(reasons) + f". Rebuild it: {rebuild}")
        return index
    embedder = config.resolved_embedder()
    if config.index_dir is not None and current_version_dir(config.index_dir) is not None:
        index = load_index(config.index_dir)
        reasons = staleness(index.manifest, corpus=source, embedder=embedder, backend=config.backend or "torch")
        if not reasons:
            return index
        _warn(f"index {config.index_dir} is stale ({'; '.join(reasons)}): rebuilding")
    return build_index(
        source, config.index_dir, embedder=embedder, show_progress=show_progress, backend=config.backend or "torch"
    )


def build_retriever(
    source: str | Path | ProductIndex | MilvusIndex, config: RetrieverConfig | None = None, **overrides: Any
) -> ProductRetriever:
    """The one public builder: a LlamaIndex retriever over a corpus file, an index folder or a loaded index
    (a Milvus one too: :func:`open_milvus_index`).

    ``overrides`` replace fields of ``config``, e.g. ``build_retriever(path, mode="bm25", similarity_top_k=5,
    filters=MetadataFilters(...))`` (``top_k`` and ``ProductFilters`` work too).
    """
    if "similarity_top_k" in overrides:  # LlamaIndex's name for top_k
        overrides["top_k"] = overrides.pop("similarity_top_k")
    if isinstance(overrides.get("filters"), MetadataFilters):
        overrides["filters"] = ProductFilters.from_metadata_filters(overrides["filters"])
    config = replace(config or RetrieverConfig(), **overrides)
    index = source if isinstance(source, (ProductIndex, MilvusIndex)) else open_index(source, config)
    return ProductRetriever(index, config)


def open_milvus_index(uri: str, collection: str = DEFAULT_COLLECTION) -> MilvusIndex:
    """The index kept in Milvus at ``uri``; a stale one (changed corpus or chunking) is reported with the command
    that updates it, never used silently."""
    index = MilvusIndex.load(uri, collection)
    reasons = staleness(index.manifest)
    if reasons:
        update = f"daraz-llama index {index.manifest['corpus']['path']} --store milvus --milvus-uri {uri}"
        raise StaleIndexError(
            f"Milvus index {collection} at {uri} is stale: " + "; ".join(reasons) + f". Update it: {update}"
        )
    return index
