"""A shopper's sentence → the search it stands for; follow-ups told apart from new questions."""

from __future__ import annotations

import pytest

from daraz_llama.answers.shopper_query import asked_about, is_follow_up, search_query, wants_cheapest
from daraz_llama.query_parsing import parse_price_limit


@pytest.mark.parametrize(
    ("message", "search"),
    [
        (
            "Do you have a Rizco stainless steel kitchen sink, 20 inch? What's the price?",
            "Rizco stainless steel kitchen sink 20 inch",
        ),
        (
            "What's the lowest price you have for the Asus TUF A15 FA507NV with the RTX 4060?",
            "Asus TUF A15 FA507NV with RTX 4060",
        ),
        (
            "I'm looking for a cotton polo shirt for my office, budget up to 1,200 taka. Any options?",
            "cotton polo shirt for office budget up to 1,200 taka",
        ),
        ("Can you show me a beginner drone without camera for my son?", "beginner drone without camera for son"),
        ("ekta gaming keyboard khujchi, 2000 takar moddhe. ki ki ache? dam koto?", "gaming keyboard 2000 takar moddhe"),
        ("kalo panjabi ache? size 42 lagbe", "kalo panjabi size 42"),
        ("do you sell refrigerators?", "refrigerators"),
        ("how much?", "how much?"),  # nothing left: the message itself
    ],
)
def test_search_keeps_product_words_models_specs_and_budgets(message: str, search: str) -> None:
    assert search_query(message) == search


def test_budgets_survive_the_stripping() -> None:
    limit = parse_price_limit(search_query("I want a laptop for office work, budget up to 55,000 taka. Any options?"))
    assert limit is not None and limit.max_price == 55000
    banglish = parse_price_limit(search_query("chele der jonno ghori khujchi 2000 takar moddhe, ache?"))
    assert banglish is not None and banglish.max_price == 2000


@pytest.mark.parametrize(
    "message",
    [
        "cheaper?",
        "is there a cheaper one?",
        "in black?",
        "what about 2 pcs?",
        "oita koto?",
        "does it come in red?",
        "under 500 taka?",
        "xl size?",
        "how much?",
        "and for kids?",
    ],
)
def test_follow_ups(message: str) -> None:
    assert is_follow_up(message)


@pytest.mark.parametrize(
    "message",
    [
        "rice cooker",
        "ps5 controller charger",
        "smartwatch",
        "do you have a rice cooker?",
        "something for my kid",
        "a gift for my father",
        "I need a wooden headphone stand for my desk. What do you have?",
        "Is the Moto G96 water resistant? And does it have NFC?",
    ],
)
def test_new_questions(message: str) -> None:
    assert not is_follow_up(message)


def test_cheapest_and_asked_about() -> None:
    assert wants_cheapest("What's the cheapest one you've got?") and wants_cheapest("lowest price for a 5mm magnet set")
    assert not wants_cheapest("a cheap-looking watch")
    assert asked_about("Is the Moto G96 water resistant? And does it have NFC for tap payments?") >= {"nfc"}
    assert "chimmy" not in asked_about("Is there a Chimmy pillow? How big is it?")
