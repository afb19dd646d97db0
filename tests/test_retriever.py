"""Each retrieval mode, filters and product-level results on the demo corpus with real models."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.retrievers import QueryFusionRetriever

from daraz_llama.filters import ProductFilters
from daraz_llama.index import build_index, load_index
from daraz_llama.models import load_embedder
from daraz_llama.retriever import ProductRetriever, RetrievalWarning, RetrieverConfig, build_retriever


@pytest.fixture(scope="module")
def demo_index(demo_index_dir: Path):
    return load_index(demo_index_dir)


def _titles(results) -> list[str]:
    return [r.node.metadata["title"] for r in results]


@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid"])
def test_each_mode_finds_the_product(demo_index, mode: str) -> None:
    results = build_retriever(demo_index, mode=mode, top_k=5).retrieve("fantech wired gamepad for pc")
    assert results[0].node.metadata["title"].startswith("Fantech WGP13")
    ids = [r.node.metadata["product_id"] for r in results]
    assert len(ids) == len(set(ids)) == 5  # one result per product
    assert all(r.score is not None for r in results)


def test_hybrid_fuses_bm25_and_dense_with_query_fusion(demo_index) -> None:
    retriever = build_retriever(demo_index, mode="hybrid")
    assert isinstance(retriever._candidates(ProductFilters()), QueryFusionRetriever)
    scores = [r.score for r in retriever.retrieve("noise cancelling headphones")]
    assert scores == sorted(scores, reverse=True)


def test_dense_understands_paraphrase(demo_index) -> None:
    results = build_retriever(demo_index, mode="dense", top_k=3).retrieve("watch that tracks my children")
    assert any("Kids Smart Watch" in t for t in _titles(results))


def test_rerank_mode_uses_the_cross_encoder(demo_index, tiny_cross_encoder: str) -> None:
    retriever = build_retriever(
        demo_index, mode="hybrid+rerank", reranker=tiny_cross_encoder, top_k=4, rerank_candidates=6
    )
    assert retriever.mode == "hybrid+rerank"
    results = retriever.retrieve("jamdani saree")
    assert len(results) == 4
    hybrid_top6 = {r.node.node_id for r in build_retriever(demo_index, top_k=6).retrieve("jamdani saree")}
    assert {r.node.node_id for r in results} <= hybrid_top6  # re-ranks only the candidates
    scores = [r.score for r in results]
    assert scores == sorted(scores, reverse=True)


def test_fallbacks_are_said_once(tmp_path: Path, demo_corpus: Path) -> None:
    bm25_only = build_index(demo_corpus, None, embedder=None, show_progress=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")  # Python's default: each message once per place
        retriever = build_retriever(bm25_only, mode="hybrid")
        build_retriever(bm25_only, mode="hybrid")
    assert retriever.mode == "bm25"
    said = [w for w in caught if issubclass(w.category, RetrievalWarning) and "using bm25" in str(w.message)]
    assert len(said) == 1
    assert retriever.retrieve("saree")


def test_rerank_without_cross_encoder_falls_back_to_hybrid(demo_index) -> None:
    assert build_retriever(demo_index, mode="hybrid+rerank", reranker="none").mode == "hybrid"


@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid"])
def test_filters_hold_in_every_mode(demo_index, mode: str) -> None:
    filters = ProductFilters(category="Mens Jeans", max_price=600)
    results = build_retriever(demo_index, mode=mode, filters=filters, top_k=20).retrieve("black slim jeans")
    assert results
    for r in results:
        assert r.node.metadata["category"] == "mens jeans" and r.node.metadata["price"] <= 600
    # No recall lost: every matching product that shares a word with the query is reachable.
    assert any("Budget Edition" in t for t in _titles(results))


def test_brand_and_rating_filters(demo_index) -> None:
    results = build_retriever(demo_index, filters=ProductFilters(brand="fantech", min_rating=4.5)).retrieve("gaming")
    assert {r.node.metadata["brand"] for r in results} == {"Fantech"}
    assert all(r.node.metadata["rating"] >= 4.5 for r in results)
    unrated = build_retriever(demo_index, filters=ProductFilters(min_rating=0.1), top_k=60).retrieve("jeans")
    assert all("rating" in r.node.metadata for r in unrated)  # unknown rating never passes


def test_filters_that_match_nothing_give_no_results(demo_index) -> None:
    assert build_retriever(demo_index, filters=ProductFilters(category="rockets")).retrieve("anything") == []
    with pytest.raises(ValueError, match="min_price"):
        ProductFilters(min_price=10, max_price=5)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown mode"):
        RetrieverConfig(mode="magic")
    with pytest.raises(ValueError, match="top_k"):
        RetrieverConfig(top_k=0)


def test_models_load_once_per_process(minilm: str) -> None:
    assert load_embedder(minilm) is load_embedder(minilm)


def test_query_engine_from_another_llamaindex_app(demo_index_dir: Path) -> None:
    """What any LlamaIndex app does with our retriever: plug it into a standard query engine."""
    from llama_index.core.llms import MockLLM

    retriever = build_retriever(demo_index_dir, top_k=3)
    assert isinstance(retriever, ProductRetriever)
    engine = RetrieverQueryEngine.from_args(retriever, llm=MockLLM(max_tokens=8))
    response = engine.query("xbox controller")
    assert str(response)
    assert response.source_nodes[0].node.metadata["title"].startswith("Xbox Series X|S Wireless Controller")


def test_corpus_source_persists_and_reuses_its_index(tmp_path: Path, demo_corpus: Path, minilm: str) -> None:
    retriever = build_retriever(demo_corpus, index_dir=tmp_path / "idx", embedder=minilm)
    assert retriever.retrieve("saree petticoat")[0].node.metadata["title"].startswith("Saree Petticoat")
    version = next((tmp_path / "idx" / "versions").iterdir())
    build_retriever(demo_corpus, index_dir=tmp_path / "idx", embedder=minilm)
    assert next((tmp_path / "idx" / "versions").iterdir()) == version  # fresh: not rebuilt


def test_price_typed_in_the_query_becomes_a_filter(demo_index) -> None:
    retriever = build_retriever(demo_index, mode="hybrid", top_k=10)
    results, applied = retriever.search("black slim jeans under 500 taka")
    assert results and all(r.node.metadata["price"] <= 500 for r in results)
    assert results[0].node.metadata["title"] == "Black Slim Jeans Budget Edition"
    assert applied.max_price == 500 and retriever.config.filters == ProductFilters()  # nothing kept per query
    # Explicit filters win over the query's words; parsing can be turned off.
    fixed = build_retriever(demo_index, mode="hybrid", filters=ProductFilters(max_price=700))
    assert max(r.node.metadata["price"] for r in fixed.retrieve("jeans under 500 taka")) > 500
    plain = build_retriever(demo_index, mode="bm25", parse_price=False, top_k=20)
    assert any(r.node.metadata.get("price", 0) > 500 for r in plain.retrieve("jeans under 500 taka"))


def test_a_price_limit_nothing_meets_is_dropped(demo_index) -> None:
    retriever = build_retriever(demo_index, mode="hybrid", top_k=3)
    results, applied = retriever.search("apple watch under 10 taka")
    assert results and applied == ProductFilters()


def test_llamaindex_metadata_filters_and_similarity_top_k(demo_index_dir: Path) -> None:
    from llama_index.core.vector_stores.types import FilterOperator, MetadataFilter, MetadataFilters

    filters = MetadataFilters(
        filters=[
            MetadataFilter(key="category", value="mens jeans"),
            MetadataFilter(key="price", operator=FilterOperator.LTE, value=500),
        ]
    )
    retriever = build_retriever(demo_index_dir, mode="hybrid", similarity_top_k=3, filters=filters)
    hits = retriever.retrieve("slim jeans")
    assert 0 < len(hits) <= 3
    assert all(h.node.metadata["category"] == "mens jeans" and h.node.metadata["price"] <= 500 for h in hits)
    assert retriever.config.filters.to_metadata_filters() == filters
    with pytest.raises(ValueError, match="unsupported filter colour == 'black'"):
        build_retriever(demo_index_dir, filters=MetadataFilters(filters=[MetadataFilter(key="colour", value="black")]))
    with pytest.raises(ValueError, match="filter price <= needs a number, got 'cheap'"):
        build_retriever(
            demo_index_dir,
            filters=MetadataFilters(filters=[MetadataFilter(key="price", operator=FilterOperator.LTE, value="cheap")]),
        )


def test_from_defaults_takes_an_index_nodes_from_any_pipeline_or_a_persist_dir(
    demo_index_dir: Path, demo_corpus: Path, minilm: str, tmp_path: Path
) -> None:
    from llama_index.core.node_parser import SentenceSplitter

    from daraz_llama.index import IndexNotFoundError, current_version_dir
    from daraz_llama.reader import DarazCorpusReader

    before = current_version_dir(demo_index_dir)
    from_disk = ProductRetriever.from_defaults(persist_dir=demo_index_dir, mode="bm25", similarity_top_k=3)
    assert len(from_disk.retrieve("fantech gamepad")) == 3 and current_version_dir(demo_index_dir) == before
    from_index = ProductRetriever.from_defaults(index=load_index(demo_index_dir), mode="hybrid")
    assert "Fantech WGP13" in from_index.retrieve("wired controller for pc games")[0].node.metadata["title"]

    # Another library's chunking: product ids come from the metadata, every product appears once.
    nodes = SentenceSplitter(chunk_size=200, chunk_overlap=0).get_nodes_from_documents(
        DarazCorpusReader().load_data(demo_corpus)
    )
    assert len(nodes) > 60  # some of the 60 products span several chunks
    for retriever in (
        ProductRetriever.from_defaults(nodes=nodes, similarity_top_k=5),
        ProductRetriever.from_defaults(nodes=nodes, embedder=minilm, mode="dense", similarity_top_k=5),
    ):
        results = retriever.retrieve("fantech wired gamepad")
        ids = [r.node.metadata["product_id"] for r in results]
        assert len(ids) == len(set(ids)) == 5 and "Fantech WGP13" in results[0].node.metadata["title"]
    assert ProductRetriever.from_defaults(nodes=nodes).mode == "bm25"

    with pytest.raises(ValueError, match="exactly one of index, nodes or persist_dir"):
        ProductRetriever.from_defaults(index=load_index(demo_index_dir), persist_dir=demo_index_dir)
    with pytest.raises(IndexNotFoundError, match="no index in"):
        ProductRetriever.from_defaults(persist_dir=tmp_path / "nothing-here")
    assert not (tmp_path / "nothing-here").exists()  # loading never writes
