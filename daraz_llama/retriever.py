"""The hybrid product retriever: BM25 + FAISS fused by QueryFusionRetriever, optional re-ranking,
one result per product, shopper filters."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.indices.vector_store.retrievers import VectorIndexRetriever
from llama_index.core.llms import MockLLM
from llama_index.core.retrievers import QueryFusionRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle
from llama_index.retrievers.bm25 import BM25Retriever

from daraz_llama.filters import ProductFilters
from daraz_llama.index import ProductIndex, StaleIndexError, build_index, current_version_dir, load_index, staleness
from daraz_llama.models import default_embedder, default_reranker, load_reranker
from daraz_llama.postprocessor import BestChunkPerProduct

logger = logging.getLogger(__name__)

MODES = ("bm25", "dense", "hybrid", "hybrid+rerank")
FUSION_MODES = ("reciprocal_rerank", "relative_score", "dist_based_score")
NO_MODEL = "none"
_said: set[str] = set()


def say_once(message: str) -> None:
    """Log ``message`` as a warning the first time only."""
    if message not in _said:
        _said.add(message)
        logger.warning(message)


@dataclass
class RetrieverConfig:
    """How to retrieve.

    ``embedder``/``reranker``: a sentence-transformers name or folder; None picks the
    default (fine-tuned models when present, else the packaged MiniLM embedder and no
    re-ranker); ``"none"`` turns the model off.
    """

    mode: str = "hybrid"
    top_k: int = 10
    embedder: str | None = None
    reranker: str | None = None
    candidate_k: int = 50  # chunks fetched from each retriever before fusion
    rerank_candidates: int = 30  # products handed to the cross-encoder
    rerank_max_length: int = 64  # tokens of query + product text the cross-encoder reads
    rerank_int8: bool = True  # dynamic int8 quantisation of the cross-encoder on the CPU
    fusion: str = "reciprocal_rerank"
    retriever_weights: tuple[float, float] | None = None  # (bm25, dense); ignored by reciprocal_rerank
    filters: ProductFilters = field(default_factory=ProductFilters)
    index_dir: str | Path | None = None  # where build_retriever(corpus) persists its index

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r}: choose one of {', '.join(MODES)}")
        if self.fusion not in FUSION_MODES:
            raise ValueError(f"unknown fusion {self.fusion!r}: choose one of {', '.join(FUSION_MODES)}")
        for name in ("top_k", "candidate_k", "rerank_candidates", "rerank_max_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")

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
        return [n for n in super()._retrieve(query_bundle) if (n.score or 0.0) > 0.0]


class ProductRetriever(BaseRetriever):
    """Retrieve products (best chunk of each) from a :class:`ProductIndex`.

    A standard LlamaIndex retriever: use it in ``RetrieverQueryEngine`` or any app.
    """

    def __init__(self, index: ProductIndex, config: RetrieverConfig | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.index = index
        self.config = config or RetrieverConfig()
        self.mode = self._effective_mode()
        allowed = self._allowed_chunks()
        self._empty = allowed is not None and not allowed
        self._best_chunk = BestChunkPerProduct()
        self._reranker = None
        if self._empty:
            return
        sparse = self._bm25(allowed) if self.mode != "dense" else None
        dense = self._dense(allowed) if self.mode != "bm25" else None
        if sparse and dense:
            weights = list(self.config.retriever_weights) if self.config.retriever_weights else None
            self._base: BaseRetriever = QueryFusionRetriever(
                [sparse, dense], llm=MockLLM(), mode=self.config.fusion, num_queries=1, use_async=False,
                similarity_top_k=2 * self.config.candidate_k, retriever_weights=weights,
            )
        else:
            self._base = sparse or dense  # type: ignore[assignment]
        if self.mode == "hybrid+rerank":
            self._reranker = load_reranker(self.config.resolved_reranker(), self.config.rerank_candidates,
                                           self.config.rerank_max_length, self.config.rerank_int8)

    def _effective_mode(self) -> str:
        mode = self.config.mode
        if mode != "bm25" and self.index.storage is None:
            say_once(f"mode {mode!r} needs dense vectors but this index has none (built without an embedder): "
                     "using bm25")
            return "bm25"
        if mode == "hybrid+rerank" and self.config.resolved_reranker() is None:
            say_once("mode 'hybrid+rerank' needs a cross-encoder but none is configured "
                     "(train one or pass --reranker): using hybrid")
            return "hybrid"
        embedder = self.config.resolved_embedder()
        if mode != "bm25" and embedder is not None and self.config.embedder is not None:
            reasons = staleness(self.index.manifest, embedder=embedder)
            if reasons:
                raise StaleIndexError("; ".join(reasons) + ": rebuild the index with this embedder")
        return mode

    def _allowed_chunks(self) -> list[str] | None:
        """Ids of the chunks that pass the filters (None: no filter)."""
        filters = self.config.filters
        if not filters.active:
            return None
        return [chunk["id"] for chunk in self.index.chunks if filters.matches(chunk)]

    def _bm25(self, allowed: list[str] | None) -> MatchingBM25Retriever:
        shared = self.index.bm25
        mask = None
        if allowed is not None:
            keep = set(allowed)
            mask = [int(chunk["id"] in keep) for chunk in self.index.chunks]
        return MatchingBM25Retriever(existing_bm25=shared.bm25, stemmer=shared.stemmer,
                             similarity_top_k=min(self.config.candidate_k, len(self.index.chunks)),
                             corpus_weight_mask=mask)

    def _dense(self, allowed: list[str] | None) -> BaseRetriever:
        vector_index = self.index.vector_index()
        assert vector_index is not None
        # Built directly: as_retriever() would restrict every search to all node ids.
        return VectorIndexRetriever(vector_index, similarity_top_k=self.config.candidate_k, node_ids=allowed)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        if self._empty or not query_bundle.query_str.strip():
            return []
        nodes = self._base.retrieve(query_bundle)
        products = self._best_chunk.postprocess_nodes(nodes, query_bundle)
        if self._reranker is not None:
            products = self._reranker.postprocess_nodes(products[: self.config.rerank_candidates], query_bundle)
        return products[: self.config.top_k]


def open_index(source: str | Path, config: RetrieverConfig | None = None, show_progress: bool = True) -> ProductIndex:
    """An index for ``source``: an index folder, or a corpus file (index built, or reused from
    ``config.index_dir`` when it is fresh, and rebuilt incrementally when it is not)."""
    config = config or RetrieverConfig()
    source = Path(source)
    if source.is_dir():
        index = load_index(source)
        reasons = staleness(index.manifest)
        if reasons:
            raise StaleIndexError(f"index {source} is stale: " + "; ".join(reasons)
                                  + f". Rebuild it: daraz-llama index {index.manifest['corpus']['path']} "
                                  f"--index-dir {source}")
        return index
    embedder = config.resolved_embedder()
    if config.index_dir is not None and current_version_dir(config.index_dir) is not None:
        index = load_index(config.index_dir)
        reasons = staleness(index.manifest, corpus=source, embedder=embedder)
        if not reasons:
            return index
        say_once(f"index {config.index_dir} is stale ({'; '.join(reasons)}): rebuilding")
    return build_index(source, config.index_dir, embedder=embedder, show_progress=show_progress)


def build_retriever(source: str | Path | ProductIndex, config: RetrieverConfig | None = None,
                    **overrides: Any) -> ProductRetriever:
    """The one public builder: a LlamaIndex retriever over a corpus file, an index folder or a loaded index.

    ``overrides`` replace fields of ``config``, e.g. ``build_retriever(path, mode="bm25", top_k=5)``.
    """
    config = replace(config or RetrieverConfig(), **overrides)
    index = source if isinstance(source, ProductIndex) else open_index(source, config)
    return ProductRetriever(index, config)
