"""The LLM query writer, through the real openai client against a local OpenAI-compatible server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from daraz_llama.answers.generators import make_llm
from daraz_llama.cli import main
from daraz_llama.corpus import Product, parse_corpus
from daraz_llama.queries import load_queries
from daraz_llama.query_writer import DEFAULT_EXAMPLES, load_examples, parse_queries, write_queries_with_llm
from tests.conftest import RecordingLLM, openai_test_server

GAMEPAD = "700000471"


class FixedWriter(RecordingLLM):
    """Answers every prompt with fixed text: numbered queries, or junk for the gamepad."""

    def reply(self, prompt: str) -> str:
        if "Fantech WGP13" in prompt:
            return "Sure! Here are some queries:\n\n"
        return (
            'Here are queries:\n1. "cheap one for my brother"\n- Cheap one for my brother\n'
            "2) under 2000 taka please\n3. gift for brother\n4. one line too many"
        )


@pytest.fixture()
def writer_url():
    with openai_test_server(FixedWriter(prompts=[]), "writer") as url:
        yield url


def _product(title: str) -> Product:
    return Product(product_id="1", title=title, category="mens jeans", line=1)


def test_parse_queries_keeps_usable_lines_only() -> None:
    text = (
        'Here you go:\n1. black slim jeans\n2) "Levis 511 Slim Fit Jeans"\n- black slim jeans\n'
        "* denim for office under 1500 taka\n\n" + "word " * 30 + "\n5. jeans"
    )
    queries, bad = parse_queries(text, _product("Levis 511 Slim Fit Jeans"), limit=3)
    assert queries == ["black slim jeans", "denim for office under 1500 taka", "jeans"]
    assert bad == 4  # the heading, the title copy, the repeat and the over-long line


def test_default_examples_cover_every_style() -> None:
    examples = load_examples()
    assert len(examples) == 12 and {e.style for e in examples} == {"keyword", "need", "price", "brand", "banglish"}
    assert load_queries(DEFAULT_EXAMPLES).problems == []


def test_writer_against_a_local_openai_server(writer_url: str, demo_corpus: Path, tmp_path: Path) -> None:
    llm = make_llm("openai", model="writer", base_url=writer_url, api_key="local")
    products = [p for p in parse_corpus(demo_corpus).products if p.product_id != GAMEPAD][:3]
    gamepad = next(p for p in parse_corpus(demo_corpus).products if p.product_id == GAMEPAD)
    out = tmp_path / "llm_queries.jsonl"
    report = write_queries_with_llm(
        llm,
        [*products, gamepad],
        out,
        per_product=3,
        examples=load_examples(),
        writer_name="writer",
        show_progress=False,
    )
    assert (report.products, report.queries, report.resumed) == (3, 9, 0)
    # Each answer's heading, repeat and line past the limit, and the gamepad's answer with no query at all.
    assert report.failed == [GAMEPAD] and report.bad_lines == 3 * 3 + 1
    written = load_queries(out, known_ids={p.product_id for p in products})
    assert written.problems == [] and len(written.queries) == 9
    first = written.queries[0]
    assert first.query == "cheap one for my brother" and first.relevant_ids == [products[0].product_id]
    assert first.style == "llm" and first.extra["writer"] == "writer"
    # Resuming writes nothing twice; a last line cut by a crash is dropped and its product written again.
    again = write_queries_with_llm(
        llm, products, out, per_product=3, examples=load_examples(), writer_name="writer", show_progress=False
    )
    assert (again.products, again.resumed) == (0, 3)
    lines = out.read_text(encoding="utf-8").splitlines(keepends=True)
    out.write_text("".join(lines[:6]) + lines[6][:20], encoding="utf-8")  # product 3's lines: one cut, two lost
    resumed = write_queries_with_llm(
        llm, products, out, per_product=3, examples=load_examples(), writer_name="writer", show_progress=False
    )
    assert (resumed.products, resumed.resumed) == (1, 2)
    assert len(load_queries(out).queries) == 9 and load_queries(out).problems == []


def test_queries_command_with_the_openai_writer(
    writer_url: str,
    demo_corpus: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", writer_url)
    monkeypatch.setenv("OPENAI_API_KEY", "local")
    out = tmp_path / "q.jsonl"
    examples = tmp_path / "examples.jsonl"
    examples.write_text(
        json.dumps({"qid": "e1", "query": "rice cooker 1.8 litre", "relevant_ids": ["x"]}) + "\n", encoding="utf-8"
    )
    assert (
        main(
            [
                "queries",
                str(demo_corpus),
                "--writer",
                "openai",
                "--model",
                "writer",
                "--per-product",
                "2",
                "--limit",
                "2",
                "--examples",
                str(examples),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert "4 queries for 2 products" in capsys.readouterr().out
    assert len(load_queries(out).queries) == 4


def test_parse_queries_drops_garbled_samples() -> None:
    """A small sampled model's artefacts: glued code-like words, stray scripts, a query starting over."""
    product = Product(product_id="1", title="Sony PlayStation 5 DualSense Controller", category="gaming", line=1)
    text = (
        "ps5 controller for my brother\n"
        "PlayStation 5 dualsense white\n"  # glued-looking, but the card has it
        "ps5 controllerFindingsRequest\n"
        "ps5 controller วกุ้ง\n"
        "dualsense ps5 controller white dualsense ps5 controller\n"
        "ps5 controller ৳ 9000 er moddhe"
    )
    queries, bad = parse_queries(text, product, limit=10)
    assert queries == [
        "ps5 controller for my brother",
        "PlayStation 5 dualsense white",
        "ps5 controller ৳ 9000 er moddhe",
    ]
    assert bad == 3
