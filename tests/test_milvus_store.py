"""The Milvus store end to end on Milvus Lite (a real in-process Milvus from a local file): index, every mode,
filters inside the search, an incremental update, a reload in a new process, and a clear error for a bad URI."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from daraz_llama.filters import ProductFilters
from daraz_llama.milvus_build import build_milvus_index
from daraz_llama.milvus_store import MilvusStoreError, filter_expression
from daraz_llama.retriever import StaleIndexError, build_retriever, open_milvus_index
from tests.conftest import DEMO_CORPUS

pytest.importorskip("milvus_lite")
CLI = str(Path(__file__).resolve().parents[1] / ".venv" / "bin" / "daraz-llama")


@pytest.fixture(scope="module")
def milvus_uri(tmp_path_factory: pytest.TempPathFactory, minilm: str) -> str:
    uri = str(tmp_path_factory.mktemp("milvus") / "demo.db")
    build_milvus_index(DEMO_CORPUS, uri, embedder=minilm, show_progress=False)
    return uri


@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid"])
def test_each_mode_finds_the_product_in_milvus(milvus_uri: str, mode: str) -> None:
    retriever = build_retriever(open_milvus_index(milvus_uri), mode=mode, similarity_top_k=3)
    assert retriever.mode == mode
    hits = retriever.retrieve("fantech wired gamepad for pc")
    assert "Fantech WGP13" in hits[0].node.metadata["title"]
    assert len({hit.node.metadata["product_id"] for hit in hits}) == len(hits)


@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid"])
def test_milvus_ranks_as_the_faiss_folder_does(milvus_uri: str, demo_index_dir: Path, mode: str) -> None:
    """Same terms (stemmed and stop-worded in Python, as bm25s does: Milvus Lite applies no analyzer filter),
    same BM25 formula and scale, same vectors, ties broken by chunk id: the two stores give the same ranking."""
    milvus = build_retriever(open_milvus_index(milvus_uri), mode=mode, similarity_top_k=10)
    faiss = build_retriever(demo_index_dir, mode=mode, similarity_top_k=10)
    for query in ("gamepads for gaming", "the cotton sarees", "running shoes under 2000 taka", "watch"):
        ours, theirs = milvus.retrieve(query), faiss.retrieve(query)
        assert [h.node.node_id for h in ours] == [h.node.node_id for h in theirs], query
        assert [h.score for h in ours] == pytest.approx([h.score for h in theirs], rel=1e-3, abs=1e-4), query
    if mode == "bm25":  # "gamepads" matches the title's "Gamepad" only through the stemmer
        assert "Gamepad" in milvus.retrieve("gamepads")[0].node.metadata["title"]


def test_filters_run_inside_the_milvus_search(milvus_uri: str) -> None:
    filters = ProductFilters(category="MENS JEANS", max_price=500)
    assert filter_expression(filters) == 'category_key == "mens jeans" and price <= 500.0'
    for mode in ("bm25", "dense", "hybrid"):
        hits = build_retriever(open_milvus_index(milvus_uri), mode=mode, filters=filters).retrieve("jeans")
        assert hits and all(
            h.node.metadata["category"] == "mens jeans" and h.node.metadata["price"] <= 500 for h in hits
        )
    unrated = ProductFilters(min_rating=4.9)
    hits = build_retriever(open_milvus_index(milvus_uri), mode="bm25", filters=unrated).retrieve("watch")
    assert all(h.node.metadata.get("rating", 0) >= 4.9 for h in hits)  # no rating never passes a rating bound
    quoted = ProductFilters(brand='Nobody" or brand_key != "')
    assert build_retriever(open_milvus_index(milvus_uri), mode="bm25", filters=quoted).retrieve("watch") == []


def test_an_update_upserts_changed_chunks_deletes_removed_products_and_reloads_elsewhere(
    tmp_path: Path, minilm: str
) -> None:
    uri = str(tmp_path / "shop.db")
    first = build_milvus_index(DEMO_CORPUS, uri, embedder=minilm, show_progress=False)
    assert first.manifest["counts"]["upserted"] == first.manifest["counts"]["chunks"]
    text = DEMO_CORPUS.read_text(encoding="utf-8")
    blocks = text.split("<!--DOC:END-->")  # [0] ends inside the header, which names the marker
    removed_id = blocks[2].split("id=")[1].split()[0]
    changed = blocks[1].replace("Slim Fit Stretch Denim Jeans for Men", "Slim Fit Zorblax Jeans for Men", 1)
    assert changed != blocks[1]
    corpus = tmp_path / "shop.md"
    corpus.write_text("<!--DOC:END-->".join([blocks[0], changed, *blocks[3:]]), encoding="utf-8")
    second = build_milvus_index(corpus, uri, embedder=minilm, show_progress=False)
    counts = second.manifest["counts"]
    assert counts["upserted"] == 1 and counts["deleted"] == 1 and counts["unchanged"] == counts["chunks"] - 1
    assert removed_id not in second.product_ids()
    first.close(), second.close()  # a Milvus Lite file serves one process at a time
    found = subprocess.run(
        [CLI, "search", "zorblax", "--milvus-uri", uri, "--mode", "bm25", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert found.returncode == 0, found.stderr
    assert "Zorblax" in json.loads(found.stdout)[0]["title"]
    corpus.write_text(corpus.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    with pytest.raises(StaleIndexError, match="--store milvus --milvus-uri"):
        open_milvus_index(uri)


def test_unreachable_or_empty_milvus_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(MilvusStoreError, match="no index 'daraz_products' in Milvus"):
        open_milvus_index(str(tmp_path / "empty.db"))
    assert not (tmp_path / "empty.db").exists()  # opening never creates a Milvus Lite file
    with pytest.raises(MilvusStoreError, match="cannot reach Milvus at http://127.0.0.1:9"):
        open_milvus_index("http://127.0.0.1:9")
    with pytest.raises(MilvusStoreError, match="give a .db file"):
        open_milvus_index(str(tmp_path / "shop.sqlite"))


def test_the_chat_catalog_reads_an_index_in_milvus(milvus_uri: str) -> None:
    from daraz_llama.chat.catalog import Catalog, CatalogSource
    from daraz_llama.chat.options import ChatOptions

    catalog = Catalog.load(CatalogSource(None, Path("unused"), milvus_uri))
    assert catalog.products == 60 and "gaming controllers" in catalog.categories
    assert len(catalog.starters()) >= 3 and all(" under " in question for question in catalog.starters())
    hits = catalog.retriever(ChatOptions(mode="hybrid")).retrieve("fantech wired gamepad for pc")
    assert "Fantech WGP13" in hits[0].node.metadata["title"]
