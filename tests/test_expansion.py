"""Doc2query: a tiny real query-writer run, expansion files, and an index that searches predicted queries
without ever showing them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from daraz_llama.answers.chat_engine import ProductChatEngine
from daraz_llama.answers.offline_llm import CatalogAnswerLLM
from daraz_llama.cli import main, product_row
from daraz_llama.corpus import parse_corpus
from daraz_llama.expansions import ExpansionError, load_expansions
from daraz_llama.gemma_query_writer import GemmaQueryWriter
from daraz_llama.index import build_index, load_index, staleness
from daraz_llama.query_writer import write_queries_with_llm, writer_messages
from daraz_llama.retriever import build_retriever
from daraz_llama.training.querywriter import QUERYWRITER_PRESETS, run_querywriter_pipeline
from tests.conftest import RecordingLLM, openai_test_server

WORD = "zorblaxian"  # in no product of the demo corpus: only in the predicted queries


@pytest.fixture(scope="module")
def demo_products(demo_corpus: Path) -> list:
    return parse_corpus(demo_corpus).products


def _natural_queries(products: list, path: Path) -> Path:
    """Shopper-style queries for the demo products (two words of the title and a need)."""
    lines = [
        json.dumps(
            {
                "qid": f"q{i}",
                "query": f"{' '.join(p.title.lower().split()[:2])} for my brother",
                "relevant_ids": [p.product_id],
            }
        )
        for i, p in enumerate(products[:30])
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def query_writer(demo_corpus: Path, demo_products: list, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny real LoRA run of Gemma 3 270M as a query writer on the demo corpus."""
    folder = tmp_path_factory.mktemp("querywriter")
    queries = _natural_queries(demo_products, folder / "queries.jsonl")
    card = run_querywriter_pipeline(demo_corpus, [queries], folder / "models", size="tiny")
    assert card["examples"] == QUERYWRITER_PRESETS["tiny"].train_questions
    assert "held_out_answer_loss" in card["dev_before"] and "held_out_answer_loss" in card["dev_after"]
    return folder / "models" / "querywriter-ft"


@pytest.mark.parametrize("runtime", ["ctranslate2", "transformers"])
def test_the_tiny_query_writer_loads_and_writes_queries(query_writer: Path, demo_products: list, runtime: str) -> None:
    for name in ("config.json", "model.safetensors", "card.json", "README.md", "loss.png"):
        assert (query_writer / name).is_file()
    writer = GemmaQueryWriter(model=str(query_writer), samples=3, max_new_tokens=8, runtime=runtime)
    lines = writer.write(writer_messages(demo_products[0]))
    assert len(lines) == 3 and any(line.strip() for line in lines)
    assert writer.stats.tokens > 0 and writer.stats.tokens_per_s > 0
    if runtime == "ctranslate2":
        assert (query_writer / "ct2-int8" / "model.bin").is_file()


def test_expand_command_writes_resumes_and_counts(query_writer: Path, demo_corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "expansions.jsonl"
    common = ["expand", str(demo_corpus), "--out", str(out), "--model", str(query_writer), "--per-product", "2"]
    assert main([*common, "--limit", "2"]) == 0
    first = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["product_id"] for r in first} <= {p.product_id for p in parse_corpus(demo_corpus).products[:2]}
    assert all(r["writer"].startswith("gemma:") and r["query"].strip() for r in first)
    assert main([*common, "--limit", "3"]) == 0
    again = [json.loads(line) for line in out.read_text().splitlines()]
    assert again[: len(first)] == first  # the first two products were not written again
    assert main([*common, "--category", "no such category"]) == 2


class EchoTitle(RecordingLLM):
    """A writer that copies the title, repeats itself and leaves blank lines: only one usable query each."""

    def reply(self, prompt: str) -> str:
        title = prompt.split("Title: ", 1)[1].splitlines()[0]
        return f"{title}\n\nblue one\nBlue one\n"


def test_expansion_skips_bad_output(demo_products: list, tmp_path: Path) -> None:
    out = tmp_path / "expansions.jsonl"
    report = write_queries_with_llm(
        EchoTitle(prompts=[]), demo_products[:3], out, 5, [], "echo", show_progress=False, messages_for=writer_messages
    )
    assert report.queries == 3 and report.bad_lines == 6  # per product: the title copy and the repeat
    assert [json.loads(line)["query"] for line in out.read_text().splitlines()] == ["blue one"] * 3


def _expansion_file(path: Path, product_id: str) -> Path:
    lines = [
        json.dumps({"product_id": product_id, "query": f"{WORD} gadget for my father"}),
        json.dumps({"product_id": product_id, "query": f"{WORD.upper()} GADGET FOR MY FATHER"}),  # a repeat
        "not json",
        json.dumps({"product_id": "999999999", "query": "unknown product"}),
        json.dumps({"product_id": product_id, "query": "   "}),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_load_expansions_reports_bad_lines(demo_products: list, tmp_path: Path) -> None:
    target = demo_products[5].product_id
    expansions = load_expansions(_expansion_file(tmp_path / "x.jsonl", target), {p.product_id for p in demo_products})
    assert expansions.by_product == {target: [f"{WORD} gadget for my father"]}
    assert [p.split(": ", 1)[1] for p in expansions.problems] == [
        "not a JSON object with product_id and query",
        "product 999999999 is not in the corpus",
        "empty query",
    ]
    assert all(p.startswith(f"{tmp_path / 'x.jsonl'}:") for p in expansions.problems)
    with pytest.raises(ExpansionError, match="not found"):
        load_expansions(tmp_path / "missing.jsonl")


@pytest.mark.parametrize("dense", [False, True])
def test_an_expanded_index_finds_by_predicted_words_and_never_shows_them(
    demo_corpus: Path, demo_products: list, minilm: str, tmp_path: Path, dense: bool
) -> None:
    target = demo_products[5].product_id
    expansions_path = _expansion_file(tmp_path / "x.jsonl", target)
    index_dir = tmp_path / "index"
    plain = build_retriever(build_index(demo_corpus, None, embedder=None, show_progress=False), mode="bm25")
    assert plain.retrieve(f"{WORD} gadget") == []
    build_index(
        demo_corpus,
        index_dir,
        embedder=minilm if dense else None,
        show_progress=False,
        expansions=load_expansions(expansions_path),
        expand_dense=dense,
    )
    index = load_index(index_dir)
    assert index.manifest["expansions"]["into"] == ("bm25+dense" if dense else "bm25")
    assert index.manifest["counts"]["expansion_chunks"] == 1
    for mode in ("bm25", "hybrid") if dense else ("bm25",):
        hits = build_retriever(index, mode=mode, top_k=3).retrieve(WORD)
        assert hits[0].node.metadata["product_id"] == target
        assert WORD not in hits[0].node.get_content().lower()  # the product's own first chunk is what is shown
        assert WORD not in json.dumps(product_row(hits[0])).lower()
    engine = ProductChatEngine(build_retriever(index, mode="bm25", top_k=3), CatalogAnswerLLM())
    messages, products = engine.prepare(f"do you have the {demo_products[5].title} ({WORD})?")
    assert products and products[0].node.metadata["product_id"] == target
    context = str(messages[0].content)  # the numbered products; the question is the next message
    assert "PRODUCTS (" in context and WORD not in context.lower()
    expansions_path.write_text(expansions_path.read_text() + json.dumps({"product_id": target, "query": "x y"}) + "\n")
    assert any("expansion file" in reason for reason in staleness(index.manifest))


def test_expand_with_an_openai_compatible_writer(
    demo_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same command and code path as ``queries --writer openai``: the real client against a local server."""
    with openai_test_server(EchoTitle(prompts=[]), "writer") as url:
        monkeypatch.setenv("OPENAI_BASE_URL", url)
        monkeypatch.setenv("OPENAI_API_KEY", "local")
        out = tmp_path / "expansions.jsonl"
        command = ["expand", str(demo_corpus), "--writer", "openai", "--model", "writer", "--out", str(out)]
        assert main([*command, "--per-product", "3", "--limit", "2"]) == 0
    assert "2 queries for 2 products" in capsys.readouterr().out
    assert [json.loads(line)["query"] for line in out.read_text().splitlines()] == ["blue one", "blue one"]


def test_index_command_with_expansions(
    demo_corpus: Path, demo_products: list, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    expansions = _expansion_file(tmp_path / "x.jsonl", demo_products[5].product_id)
    index_dir = tmp_path / "index"
    command = ["index", str(demo_corpus), "--embedder", "none", "--index-dir", str(index_dir)]
    assert main([*command, "--expansions", str(expansions), "--expansions-per-product", "1"]) == 0
    captured = capsys.readouterr()
    assert "expansions: 1 predicted queries of 1 products (bm25)" in captured.out
    assert f"expansion skipped: {expansions}:3: not a JSON object" in captured.err
    assert load_index(index_dir).manifest["expansions"]["per_product"] == 1
    milvus = ["index", str(demo_corpus), "--store", "milvus", "--milvus-uri", str(tmp_path / "m.db")]
    assert main([*milvus, "--expansions", str(expansions)]) == 2
    assert "not supported with --store milvus" in capsys.readouterr().err
