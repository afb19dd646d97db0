"""The fit test: requirements of a search, checked on products; what fits, what partly fits, what nothing fits."""

from __future__ import annotations

from pathlib import Path

import pytest

from daraz_llama.answers.chat_engine import ProductChatEngine, order_by_fit
from daraz_llama.answers.context import ContextProduct, display_title
from daraz_llama.answers.fit import Requirements, TitleVocabulary, assess, assess_all
from daraz_llama.answers.generators import make_llm
from daraz_llama.index import load_index
from daraz_llama.retriever import build_retriever
from daraz_llama.text import one_line


def _kinds(search: str, message: str | None = None) -> dict[str, str]:
    return {r.text: r.kind for r in Requirements.from_search(search, message=message).items}


def test_requirements_of_a_search() -> None:
    kinds = _kinds(
        "Rizco kitchen sink 20 inch with 2 bowls not plastic under 9,000 taka",
        message="Do you have a Rizco kitchen sink, 20 inch, with 2 bowls, not plastic, under 9,000 taka?",
    )
    assert kinds == {
        "Rizco": "name",
        "kitchen": "word",
        "sink": "word",
        "20 inch": "measure",
        "2": "model",
        "bowls": "word",
        "plastic": "excluded",
    }
    assert Requirements.from_search("sink under 9,000 taka").max_price == 9000
    assert _kinds("MacBook Air M4 15-inch 256GB") == {
        "MacBook": "name",
        "Air": "name",
        "M4": "model",
        "15-inch": "measure",
        "256GB": "measure",
    }
    assert _kinds("polo shirt 299 taka size 42") == {"polo": "word", "shirt": "word", "size 42": "measure"}
    # A capitalised first word is not a name; a word every hundredth title uses is a describing word.
    vocabulary = TitleVocabulary.from_titles(["Laptop 8GB RAM"] * 5 + [f"item {i}" for i in range(95)])
    assert _kinds("Laptop", message="Laptop with 8GB RAM?") == {"laptop": "word"}
    ram = Requirements.from_search("laptop 8GB RAM", vocabulary, message="A laptop with 8GB RAM?").items
    assert {r.text: r.kind for r in ram}["ram"] == "word"


def test_measures_need_the_same_number_and_unit() -> None:
    screen = Requirements.from_search("laptop 17-inch")
    assert assess(screen, "HP Laptop 17.3 inch", "HP Laptop 17.3 inch", 50000).exact
    charger = assess(screen, 'HP Laptop 15.6" with 17W charger', 'HP Laptop 15.6" with 17W charger', 50000)
    assert charger.fits and charger.missing == ["17-inch"]
    budget = assess(Requirements.from_search("laptop under 40,000 taka"), "HP Laptop", "HP Laptop", 52000)
    assert budget.missing == ["under ৳ 40,000"]


def test_ruled_out_and_accessories_do_not_fit() -> None:
    no_camera = Requirements.from_search("beginner drone without camera")
    assert assess(no_camera, "Mini Drone Without Camera", "Mini Drone Without Camera for beginners", 900).exact
    assert "not camera" in assess(no_camera, "4K Camera Drone", "4K Camera Drone", 2500).missing_identity
    fridge = Requirements.from_search("refrigerator")
    assert not assess(fridge, "Wooden Refrigerator Magnet", "Wooden Refrigerator Magnet set", 200).fits
    console = Requirements.from_search("console", message="a console")
    assert not assess(console, "Cooling Fan for PS5 Console", "Cooling Fan for PS5 Console", 1500).fits


def test_comparisons_count_names_any_product_has() -> None:
    search = "Which is cheaper, the MSI Modern 15 or the HP 15s?"
    requirements = Requirements.from_search("MSI Modern 15 or HP 15s", message=search, comparison=True)
    fits = assess_all(
        requirements,
        ["MSI Modern 15 laptop", "HP 15s laptop"],
        ["MSI Modern 15 laptop", "HP 15s laptop"],
        [60000, 58000],
    )
    assert all(f.fits for f in fits)
    alone = Requirements.from_search("MSI Modern 15 or HP 15s", message=search)
    assert not assess(alone, "MSI Modern 15 laptop", "MSI Modern 15 laptop", 60000).fits


def test_the_product_meeting_the_most_requirements_leads() -> None:
    titles = ["Gaming Laptop RTX 3050 16GB", "Gaming Laptop RTX 4060 16GB", "Gaming Laptop RTX 4060 32GB"]
    products = [
        ContextProduct(i, str(i), t, price=p) for i, (t, p) in enumerate(zip(titles, (90000, 140000, 120000)), 1)
    ]
    requirements = Requirements.from_search("gaming laptop rtx 4060", message="gaming laptop with rtx 4060")
    fits = assess_all(requirements, titles, titles, [p.price for p in products])
    ranked = order_by_fit(products, fits)
    assert [p.title for p, _ in ranked][:2] == titles[1:] and ranked[-1][1].missing_identity == ["4060"]
    cheapest = order_by_fit(products, fits, cheapest=True)
    assert cheapest[0][0].title == titles[2]


@pytest.fixture(scope="module")
def real_engine(real_bm25_index: Path):
    index = load_index(real_bm25_index)
    retriever = build_retriever(index, mode="bm25")
    return lambda: ProductChatEngine(retriever, make_llm("none"))


def test_real_catalog_long_question_is_answered(real_engine) -> None:
    engine = real_engine()
    answer = engine.chat(
        "Hi! I'm renovating my kitchen and I'm looking for a Rizco stainless steel kitchen sink, "
        "20 inch. Do you have one under 8,500 taka, and what's the price?"
    ).response
    assert answer.startswith("The best match is **Rizco Stainless Steel Kitchen Sink RKS SS 20 …** [1]: ৳ 8,000")
    assert engine.last_turn.filters == {"max_price": 8500.0}


@pytest.mark.parametrize(
    "question",
    [
        "Do you sell washing machines? I need a front-loading one, about 8 kg.",
        "do you sell refrigerators?",
        "gaming laptop with an RTX 4090 please",
    ],
)
def test_real_catalog_unanswerable_question_is_refused(real_engine, question: str) -> None:
    engine = real_engine()
    answer = engine.chat(question).response
    assert answer.startswith("I couldn't find a product in the catalog that fits") and "[1]" not in answer
    assert engine.last_turn.retrieved and not engine.last_turn.products  # found, but none fits


def test_real_catalog_rtx_4060_does_not_lead_with_another_card(real_engine) -> None:
    engine = real_engine()
    answer = engine.chat("gaming laptop with rtx 4060 under 150000").response
    lead = engine.last_turn.products[0]
    assert "4060" in lead.title and answer.startswith(
        f"The best match is **{display_title(one_line(lead.title))}** [1]"
    )
    # No RTX 4060 laptop costs under 100,000: the RTX 3050 and 2050 ones found are not called a match.
    answer = engine.chat("gaming laptop with rtx 4060 under 100000 taka").response
    assert answer.startswith("I couldn't find a product in the catalog that fits") and not engine.last_turn.products
    found = engine.last_turn.retrieved
    assert any("RTX 3050" in p.title for p in found) and all("4060" in p.missing for p in found)


def test_real_catalog_partial_match_says_what_differs(real_engine) -> None:
    engine = real_engine()
    answer = engine.chat("Do you have a Rizco kitchen sink, 40 inch, under 10,000 taka?").response
    assert answer.startswith("Nothing here has everything you asked for; the closest is **Rizco")
    assert "It lacks “40 inch”." in answer
