"""The ``none`` generator: a deterministic LlamaIndex LLM that writes the answer from the numbered products.

It reads the same prompt as every other generator (the numbered PRODUCTS block and the
QUESTION line), so it is a drop-in LLM; it never states a fact the product block lacks.
"""

from __future__ import annotations

import re
from typing import Any, Iterator

from llama_index.core.base.llms.types import CompletionResponse, CompletionResponseGen, LLMMetadata
from llama_index.core.llms import CustomLLM
from llama_index.core.llms.callbacks import llm_completion_callback

from daraz_llama.answers.context import display_title, parse_context
from daraz_llama.answers.grounding import AMOUNT_RE, amounts
from daraz_llama.answers.shopper_query import wants_cheapest
from daraz_llama.text import escape_markdown

QUESTION_RE = re.compile(r"^QUESTION:(.*)$", re.MULTILINE)  # linear; the value is stripped in Python
SEARCH_RE = re.compile(r"^SEARCH:(.*)$", re.MULTILINE)
CHEAPER_RE = re.compile(r"^CHEAPER THAN:(.*)$", re.MULTILINE)
MAX_LISTED = 3
MAX_NAME_CHARS = 40
NO_MATCH = (
    "I couldn't find a product in the catalog that fits “{search}”. "
    "Try other words, fewer details or a wider price range."
)


def _facts(product: dict[str, str]) -> str:
    rating = product.get("rating", "no ratings yet")
    return f"{product.get('price', 'price not listed')}, " + (
        rating if rating == "no ratings yet" else f"rated {rating}"
    )


def _quoted(items: str) -> str:
    """“15-inch” and “under ৳ 55,000” (quoted: the shopper's words, not claims about the product)."""
    return " and ".join(f"“{escape_markdown(item)}”" for item in items.split("; ") if item)


def _others(products: list[dict[str, str]]) -> str:
    """ "Other options: [2] ৳ 480 · [3] ৳ 599 (lacks “40 inch”)." — the cards below show them in full."""
    if not products:
        return ""
    parts = [
        f"[{p['number']}] {p.get('price', 'price not listed')}"
        + (f" (lacks {_quoted(p['misses'])})" if p.get("misses") else "")
        for p in products
    ]
    return "Other options: " + " · ".join(parts) + "."


def _cheaper(product: dict[str, str], cheaper_than: str | None) -> str:
    """ " It is 87% cheaper than the last pick." (a share, so no new taka amount is stated)."""
    if not cheaper_than or "price" not in product:
        return ""
    before, now = amounts(cheaper_than)[:1], amounts(product["price"])[:1]
    if not before or not now or now[0] >= before[0]:
        return ""
    return f" It is {round(100 * (before[0] - now[0]) / before[0])}% cheaper than the last pick."


def _name(value: str | None) -> str | None:
    """A brand or category worth repeating: short, and stating no amount (catalog text is not trusted)."""
    return value if value and len(value) <= MAX_NAME_CHARS and not AMOUNT_RE.search(value) else None


def _last(pattern: re.Pattern[str], prompt: str) -> str | None:
    """The value of the last line ``pattern`` matches (the shopper's message comes after the products)."""
    matches = pattern.findall(prompt)
    return matches[-1].strip() if matches else None


def compose_answer(prompt: str) -> str:
    """The offline answer for a generator prompt: the best pick and why in a sentence or two (the chat
    engine puts the best fit first and lists no product when nothing fits), then the other options by
    number and price; a product with a ``misses`` line is a partial match. Catalog and shopper text is
    shown escaped: it never becomes a link, an image or markup."""
    question = _last(QUESTION_RE, prompt)
    asked = _last(SEARCH_RE, prompt) or question or "your question"
    products = parse_context(prompt)
    if not products:
        return NO_MATCH.format(search=escape_markdown(asked))
    best, others = products[0], products[1:MAX_LISTED]
    title = f"**{escape_markdown(display_title(best['title']))}** [{best['number']}]"
    if best.get("misses"):
        text = (
            f"Nothing here has everything you asked for; the closest is {title}: {_facts(best)}. "
            f"It lacks {_quoted(best['misses'])}."
        )
    else:
        pick = "cheapest" if question and wants_cheapest(question) else "best"
        why = f", with {_quoted(best['meets'])}" if best.get("meets") else ""
        text = f"The {pick} match is {title}: {_facts(best)}{why}."
    text += _cheaper(best, _last(CHEAPER_RE, prompt))
    brand = _name(best.get("brand")) if (best.get("brand") or "").lower() != "no brand" else None
    if brand:
        text += f" Brand: {escape_markdown(brand)}."
    return "\n\n".join(part for part in (text, _others(others)) if part)


class CatalogAnswerLLM(CustomLLM):
    """Offline generator: fast, deterministic, always available, grounded by construction."""

    @classmethod
    def class_name(cls) -> str:
        return "CatalogAnswerLLM"

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(
            model_name="none (catalog template)", context_window=1_000_000, num_output=1024, is_chat_model=False
        )

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return CompletionResponse(text=compose_answer(prompt))

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        text = ""
        for token in _tokens(compose_answer(prompt)):
            text += token
            yield CompletionResponse(text=text, delta=token)


def _tokens(text: str) -> Iterator[str]:
    """Word-sized pieces (with their whitespace), as a streaming model would send them."""
    yield from re.findall(r"\S+\s*|\s+", text)
