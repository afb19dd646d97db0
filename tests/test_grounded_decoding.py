"""Grounded decoding: the local model can write only the context's taka amounts and product numbers."""

from __future__ import annotations

import numpy as np
import pytest
from llama_index.core.base.llms.types import ChatMessage, MessageRole

from daraz_llama.answers.context import ContextProduct, format_context
from daraz_llama.answers.generators import make_llm
from daraz_llama.answers.grounded_decoding import GroundedDecoding
from daraz_llama.answers.grounding import AMOUNT_RE, CITATION_RE

RULES = GroundedDecoding(frozenset({"1,850", "890", "639", "3", "3,050"}), frozenset({"1", "2", "3"}))


@pytest.mark.parametrize(
    ("text", "piece", "allowed"),
    [
        ("The best ৳ ", "1", True),
        ("৳ 6", "3", True),
        ("৳ 6", ",", False),  # no listed amount is 6,…
        ("৳ 639", "2", False),  # ৳ 6,392 or ৳ 6392: not listed
        ("৳ 639", ",", True),  # a comma after the amount
        ("৳ 639,", " ", True),
        ("৳ 639,", "5", False),
        ("৳ 890", ".", True),  # a full stop after it
        ("৳ 3,", "0", True),  # ৳ 3,050
        ("৳ 3,", " ", True),  # ৳ 3, then text
        ("৳", " ", True),
        ("৳", "x", False),
        ("৳ ", "x", False),
        ("see [", "4", False),
        ("see [", "2", True),
        ("see [2", "]", True),
        ("see [2", "3", False),
        ("plain text", " and more [1] ৳ 890.", True),
        ("plain text", " costs ৳ 999", False),
        ("It has 3 votes (worth ", "$", False),  # the catalog is in taka: another currency is made up
        ("only ", "€20", False),
    ],
)
def test_the_rules(text: str, piece: str, allowed: bool) -> None:
    assert RULES.allows(text, piece) is allowed


def test_rules_come_from_the_numbered_context() -> None:
    products = [
        ContextProduct(number=1, product_id="a", title="Gamepad", price=1850, original_price=2300, discount_pct=20),
        ContextProduct(number=2, product_id="b", title="Mouse", price=499),
    ]
    rules = GroundedDecoding.from_prompt(f"intro\n{format_context(products)}\nQUESTION: q")
    assert rules == GroundedDecoding(frozenset({"1,850", "2,300", "499"}), frozenset({"1", "2"}))
    assert GroundedDecoding.from_prompt(f"{format_context([])}\nQUESTION: q") is None


def test_the_mask_keeps_the_best_allowed_token() -> None:
    pieces = {0: "7", 1: "6", 2: "x"}
    scores = np.array([5.0, 4.0, 3.0], dtype=np.float32)
    masked = RULES.mask("৳ ", scores, pieces.__getitem__)
    assert int(np.argmax(masked)) == 1 and masked[0] == -np.inf and masked[2] == -np.inf
    assert RULES.mask("hello", scores, pieces.__getitem__) is scores  # nothing to constrain: untouched
    inside = RULES.mask("৳ 6", np.array([1.0, 4.0, 5.0], dtype=np.float32), {0: "3", 1: "x", 2: "7"}.__getitem__)
    assert inside[0] == 1.0 and inside[1] == inside[2] == -np.inf  # inside an amount every candidate is checked
    # A repetition penalty applied after the mask (llama.cpp) can lift a close second: it is checked too.
    close = RULES.mask("worth ", np.array([5.0, 4.8, 1.0], dtype=np.float32), {0: "about", 1: "$", 2: "y"}.__getitem__)
    assert close[0] == 5.0 and close[1] == -np.inf and close[2] == 1.0


@pytest.mark.parametrize("runtime", ["llama.cpp", "transformers"])
def test_the_local_model_writes_only_listed_prices_and_products(runtime: str) -> None:
    """The base model copies its prompt, a made-up price and citation included; with the rules it can only
    write the listed ones."""
    products = [ContextProduct(number=1, product_id="a", title="Fantech WGP13 Gamepad", price=1850)]
    note = "Last week it cost ৳ 7,777 [5]. "
    messages = [
        ChatMessage(role=MessageRole.SYSTEM, content=f"{note * 2}\n\n{format_context(products)}"),
        ChatMessage(role=MessageRole.USER, content="How much is it?"),
    ]
    llm = make_llm("local", runtime=runtime, max_new_tokens=40)
    answer = llm.chat(messages).message.content
    assert {a or b for a, b in AMOUNT_RE.findall(answer)} <= {"1,850"}
    assert set(CITATION_RE.findall(answer)) <= {"1"}
    llm.grounded = False
    free = llm.chat(messages).message.content
    assert "7,777" in free or "[5]" in free, free  # without the rules it does copy them (the test can fail)
