"""Grounded answers: the offline generator, the chat engine and the grounding evaluator."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from llama_index.core.schema import NodeWithScore, TextNode

from daraz_llama.answers.chat_engine import ProductChatEngine
from daraz_llama.answers.context import BRIEF_CONTEXT, ContextProduct, format_context, number_products, parse_context
from daraz_llama.answers.generators import GeneratorError, make_llm
from daraz_llama.answers.grounding import GroundingEvaluator, check_answer
from daraz_llama.filters import ProductFilters
from daraz_llama.index import load_index
from daraz_llama.retriever import build_retriever


def _node(pid: str, title: str, **meta) -> NodeWithScore:
    return NodeWithScore(
        node=TextNode(
            id_=f"{pid}-0",
            text=f"{title}\nSome details about it.",
            metadata={"product_id": pid, "title": title, **meta},
        ),
        score=1.0,
    )


CONTEXT = format_context(
    number_products(
        [
            _node(
                "1",
                "Fantech WGP13 Wired Gamepad",
                price=1350.0,
                original_price=1650.0,
                discount_pct=18,
                rating=4.5,
                rating_count=210,
                brand="Fantech",
                category="gaming controllers",
            ),
            _node("2", "Mobile Game Trigger", price=150.0, rating_count=0),
        ]
    )
)


def test_context_round_trip() -> None:
    products = parse_context(CONTEXT)
    assert [p["number"] for p in products] == ["1", "2"]
    assert products[0]["price"] == "৳ 1,350 (was ৳ 1,650, -18%)" and products[0]["rating"] == "4.5/5 (210 ratings)"
    assert products[1]["rating"] == "no ratings yet" and products[0]["brand"] == "Fantech"


def test_grounding_evaluator_on_good_and_bad_answers() -> None:
    evaluator = GroundingEvaluator()
    good = "The Fantech WGP13 [1] costs ৳ 1,350 (was 1,650 taka) and is rated 4.5/5. A trigger [2] is ৳ 150."
    result = evaluator.evaluate(query="gamepad", response=good, contexts=[CONTEXT])
    assert result.passing and result.score == 1.0 and result.feedback == "grounded"
    wrong_price = evaluator.evaluate(query="gamepad", response="The gamepad [1] costs ৳ 999.", contexts=[CONTEXT])
    assert not wrong_price.passing and "999" in wrong_price.feedback
    dollars = check_answer("The gamepad [1] is ৳ 1,350, worth $20.", CONTEXT)
    assert dollars.amounts == 2 and dollars.correct_amounts == 1
    bad_cite = evaluator.evaluate(query="gamepad", response="Try this one [7], rated 4.5/5.", contexts=[CONTEXT])
    assert not bad_cite.passing and "[7]" in bad_cite.feedback
    quoted = evaluator.evaluate(
        query="q", response="For “gamepad under 999 tk”, try [1] at ৳ 1,350.", contexts=[CONTEXT]
    )
    assert quoted.passing  # the question quoted back is not a price claim
    wrong_rating = check_answer("The trigger [2] is rated 4.5/5.", CONTEXT)
    assert wrong_rating.ratings == 1 and wrong_rating.correct_ratings == 0
    empty = format_context([])
    refusal = evaluator.evaluate(query="rocket", response="I couldn't find a product that fits.", contexts=[empty])
    assert refusal.passing
    made_up = evaluator.evaluate(query="rocket", response="Buy the rocket [1] for ৳ 5.", contexts=[empty])
    assert not made_up.passing
    silent = evaluator.evaluate(query="gamepad", response="Here are some options.", contexts=[CONTEXT])
    assert not silent.passing and "cites no product" in silent.feedback
    with pytest.raises(ValueError, match="numbered product context"):  # another engine's plain-text context
        evaluator.evaluate(query="gamepad", response="It costs ৳ 1,350 [1].", contexts=["Fantech WGP13 ৳ 1,350"])


def test_offline_answer_is_grounded_and_cited() -> None:
    llm = make_llm("none")
    prompt = f"{CONTEXT}\nQUESTION: wired gamepad for pc"
    text = llm.complete(prompt).text
    assert text.startswith("The best match is **Fantech WGP13 Wired Gamepad** [1]")
    assert "৳ 1,350" in text and "4.5/5" in text and text.endswith("Other options: [2] ৳ 150.")
    assert GroundingEvaluator().evaluate(query="q", response=text, contexts=[CONTEXT]).passing
    streamed = "".join(chunk.delta for chunk in llm.stream_complete(prompt))
    assert streamed == text
    nothing = llm.complete(f"{format_context([])}\nQUESTION: do you have a flying carpet?\nSEARCH: flying carpet").text
    assert (
        nothing.startswith("I couldn't find a product in the catalog that fits “flying carpet”") and "[" not in nothing
    )
    cheapest = llm.complete(f"{CONTEXT}\nQUESTION: what's the cheapest wired gamepad?").text
    assert cheapest.startswith("The cheapest match is **Fantech")


def test_offline_partial_answer_says_what_differs() -> None:
    products = number_products(
        [
            _node("1", "HP 250 G8 15.6 inch Laptop", price=52000.0, rating=4.0, rating_count=3),
            _node("2", "Lenovo IdeaPad 1 14 inch Laptop", price=48000.0),
        ]
    )
    products[0].missing = ["17-inch"]
    products[1].missing = ["17-inch", "Ryzen"]
    context = format_context(products)
    assert parse_context(context)[0]["misses"] == "17-inch"
    answer = (
        make_llm("none")
        .complete(f"{context}\nQUESTION: a 17-inch laptop under 55,000 taka?\nSEARCH: 17-inch laptop under 55,000 taka")
        .text
    )
    assert answer.startswith(
        "Nothing here has everything you asked for; the closest is **HP 250 G8 15.6 inch Laptop** "
        "[1]: ৳ 52,000, rated 4.0/5 (3 ratings). It lacks “17-inch”."
    )
    assert "(lacks “17-inch” and “Ryzen”)" in answer
    report = check_answer(answer, context)
    assert not report.refused and report.citations == 2 and report.correct_amounts == report.amounts


@pytest.fixture(scope="module")
def engine_factory(demo_index_dir: Path):
    index = load_index(demo_index_dir)

    def make(**overrides) -> ProductChatEngine:
        return ProductChatEngine(build_retriever(index, mode="hybrid", **overrides), make_llm("none"))

    return make


def test_chat_engine_answers_with_citations_and_sources(engine_factory) -> None:
    engine = engine_factory()
    response = engine.chat("fantech wired gamepad for pc")
    assert response.response.startswith("The best match is **Fantech WGP13")
    assert response.source_nodes[0].node.metadata["title"].startswith("Fantech WGP13")
    context = format_context(engine.last_turn.products)
    assert GroundingEvaluator().evaluate(query="q", response=response.response, contexts=[context]).passing
    assert [m.role.value for m in engine.chat_history] == ["user", "assistant"]


def test_follow_up_cheaper_is_condensed_with_a_price_ceiling(engine_factory) -> None:
    engine = engine_factory()
    first = engine.chat("xbox wireless controller")
    top_price = engine.last_turn.products[0].price
    assert "Xbox Series" in first.response and top_price == 6900
    engine.chat("is there a cheaper one?")
    turn = engine.last_turn
    assert turn.standalone == "xbox wireless controller"
    assert turn.filters["max_price"] == top_price - 1
    assert turn.products and all(p.price < top_price for p in turn.products)
    engine.chat("in black")
    assert engine.last_turn.standalone == "xbox wireless controller black"


def test_a_new_question_is_a_new_search_and_a_follow_up_is_condensed(engine_factory) -> None:
    engine = engine_factory()
    engine.chat("Do you have an Xbox wireless controller?")
    assert engine.last_turn.standalone == "Xbox wireless controller"
    engine.chat("a smart watch for my kid with a sim card")  # names a product of its own: searched alone
    assert engine.last_turn.standalone == "smart watch for kid with sim card"
    assert engine.last_turn.products[0].title.startswith("Kids Smart Watch with SIM Card")
    engine.chat("does it come in black?")
    assert engine.last_turn.standalone == "smart watch for kid with sim card come in black"
    filtered = engine_factory(filters=ProductFilters(max_price=3000))
    filtered.chat("jamdani saree")
    filtered.chat("smartwatch")  # settings filters stay, the last search does not
    assert filtered.last_turn.standalone == "smartwatch" and filtered.last_turn.filters == {"max_price": 3000}
    assert filtered.last_turn.products and all(p.price <= 3000 for p in filtered.last_turn.products)


def test_nothing_fits_gives_the_generator_no_products(engine_factory) -> None:
    engine = engine_factory()
    response = engine.chat("Do you sell refrigerators with an ice maker?")
    assert response.response.startswith(
        "I couldn't find a product in the catalog that fits “refrigerators with ice maker”"
    )
    assert engine.last_turn.retrieved and not engine.last_turn.products and not response.source_nodes
    partial = engine.chat("Do you have a double bowl kitchen sink, 40 inch?").response
    assert partial.startswith("Nothing here has everything you asked for; the closest is **Double Bowl Kitchen Sink")
    assert "It lacks “40 inch”." in partial


def test_the_brief_context_reads_short_titles_and_no_search_line(demo_index_dir: Path) -> None:
    """The local Gemma reads a prompt of few tokens: each title's first 12 words, no SEARCH line (its answer
    never uses it); the catalog's refusal still names the search."""
    long_title = "Acer A315-58 11th Gen Core i3-1115G4 3 to 4.1GHz, 8GB, 256GB SSD, Win 11, 15 Inch FHD Laptop"
    product = ContextProduct(number=1, product_id="p1", title=long_title, price=54000)
    assert "[1] Acer A315-58 11th Gen Core i3-1115G4 3 to 4.1GHz, 8GB, 256GB SSD\n" in format_context(
        [product], BRIEF_CONTEXT
    )
    assert f"[1] {long_title}\n" in format_context([product])
    retriever = build_retriever(load_index(demo_index_dir), mode="hybrid")
    brief = ProductChatEngine(retriever, make_llm("none"), style=BRIEF_CONTEXT)
    user = str(brief.prepare("I want a double bowl kitchen sink for my new flat")[0][1].content)
    assert brief.last_turn.products and user == "QUESTION: I want a double bowl kitchen sink for my new flat"
    full = ProductChatEngine(retriever, make_llm("none"))
    assert "\nSEARCH: double bowl kitchen sink" in str(full.prepare("I want a double bowl kitchen sink")[0][1].content)
    refused = brief.chat("Do you sell refrigerators with an ice maker?").response
    assert "fits “refrigerators with ice maker”" in refused


def test_streaming_chat(engine_factory) -> None:
    engine = engine_factory()
    response = engine.stream_chat("jamdani saree")
    pieces = list(response.response_gen)
    assert len(pieces) > 5 and "".join(pieces).startswith("The best match is **")
    for _ in range(200):  # the answer is written to memory by a background thread
        if len(engine.chat_history) == 2:
            break
        time.sleep(0.05)
    assert engine.chat_history[-1].content == "".join(pieces)


def test_nothing_fits_says_so(engine_factory) -> None:
    engine = engine_factory(filters=ProductFilters(category="rockets"))
    answer = engine.chat("a rocket to the moon").response
    assert "couldn't find" in answer and "[1]" not in answer


def test_unconfigured_openai_generator_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(GeneratorError, match="OPENAI_API_KEY"):
        make_llm("openai")
    with pytest.raises(GeneratorError, match="unknown generator"):
        make_llm("magic")


def test_ask_command_prints_the_answer_and_the_cited_products(
    demo_index_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from daraz_llama.cli import main

    assert main(["ask", "black slim jeans under 500 taka", "--index-dir", str(demo_index_dir), "--mode", "hybrid"]) == 0
    out = capsys.readouterr().out
    assert "The best match is **Black Slim Jeans Budget Edition** [1]: ৳ 399" in out
    assert "[1] Black Slim Jeans Budget Edition | ৳ 399 | https://www.daraz.com.bd/products/" in out
    assert main(["ask", "x", "--index-dir", str(demo_index_dir), "--generator", "magic"]) == 2


def test_eval_answers_command(demo_index_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from daraz_llama.cli import main

    questions = Path(__file__).resolve().parent.parent / "daraz_llama" / "data" / "demo_questions.jsonl"
    out = tmp_path / "answers.json"
    assert (
        main(
            [
                "eval-answers",
                "--questions",
                str(questions),
                "--index-dir",
                str(demo_index_dir),
                "--mode",
                "hybrid",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "citation_validity" in printed and "refusal_accuracy" in printed
    import json

    report = json.loads(out.read_text(encoding="utf-8"))
    summary = report["summary"]
    assert summary["questions"] == 10
    assert summary["citation_validity"] == 1.0 and summary["price_accuracy"] == 1.0  # the offline answer is exact
    assert summary["cites_when_answerable"] == 1.0
    assert summary["refusal_accuracy"] == 1.0  # "refrigerator", "rtx 4090 laptop": nothing in the demo catalog fits
    assert "first_cited_in_targets" not in summary  # the file has no target_ids
    assert len(report["answers"]) == 10 and all(a["first_token_s"] <= a["total_s"] for a in report["answers"])


def test_eval_answers_reports_whether_the_first_cited_product_is_a_target(demo_index_dir: Path, tmp_path: Path) -> None:
    import json

    from daraz_llama.answers.evaluate import evaluate_answers, load_questions

    path = tmp_path / "questions.jsonl"
    path.write_text(
        "\n".join(
            json.dumps(q)
            for q in [
                {"qid": "q1", "question": "Is there a kids smart watch with a SIM card?", "target_ids": ["700000915"]},
                {
                    "qid": "q2",
                    "question": "black slim jeans under 500 taka",
                    "target_ids": ["700000582"],
                },  # a gamepad id
                {"qid": "q3", "question": "a refrigerator with ice maker", "answerable": False},
            ]
        ),
        encoding="utf-8",
    )
    retriever = build_retriever(load_index(demo_index_dir), mode="hybrid")
    report = evaluate_answers(
        lambda: ProductChatEngine(retriever, make_llm("none")), load_questions(path), show_progress=False
    )
    rows = {r["qid"]: r for r in report["answers"]}
    assert rows["q1"]["first_cited"] == "700000915" and rows["q1"]["first_cited_in_targets"] is True
    assert rows["q2"]["first_cited"] == "700000360" and rows["q2"]["first_cited_in_targets"] is False
    assert rows["q3"]["first_cited_in_targets"] is None
    assert report["summary"]["first_cited_in_targets"] == 0.5 and report["summary"]["target_retrieved"] == 0.5
    path.write_text('{"qid": "q1", "question": "x", "target_ids": "700000915"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"questions.jsonl:1: .*target_ids must be a list"):
        load_questions(path)
