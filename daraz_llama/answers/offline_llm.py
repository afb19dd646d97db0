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

from daraz_llama.answers.context import parse_context
from daraz_llama.answers.grounding import AMOUNT_RE
from daraz_llama.answers.shopper_query import wants_cheapest
from daraz_llama.text import escape_markdown

QUESTION_RE = re.compile(r"^QUESTION:(.*)$", re.MULTILINE)  # linear; the value is stripped in Python
SEARCH_RE = re.compile(r"^SEARCH:(.*)$", re.MULTILINE)
MAX_LISTED = 3
MAX_NAME_CHARS = 40
NO_MATCH = ("I couldn't find a product in the catalog that fits “{search}”. "
            "Try other words, fewer details or a wider price range.")


def _line(product: dict[str, str]) -> str:
    facts = [product.get("price", "unknown")]
    rating = product.get("rating", "no ratings yet")
    facts.append(rating if rating == "no ratings yet" else f"rated {rating}")
    return f"**{escape_markdown(product['title'])}** [{product['number']}]: {', '.join(facts)}"


def _lacks(product: dict[str, str]) -> str:
    """ “15-inch” and “under ৳ 55,000” (quoted: the shopper's words, not claims about the product)."""
    missing = [f"“{escape_markdown(m)}”" for m in product.get("misses", "").split("; ") if m]
    return " and ".join(missing)


def _name(value: str | None) -> str | None:
    """A brand or category worth repeating: short, and stating no amount (catalog text is not trusted)."""
    return value if value and len(value) <= MAX_NAME_CHARS and not AMOUNT_RE.search(value) else None


def _last(pattern: re.Pattern[str], prompt: str) -> str | None:
    """The value of the last line ``pattern`` matches (the shopper's message comes after the products)."""
    matches = pattern.findall(prompt)
    return matches[-1].strip() if matches else None


def compose_answer(prompt: str) -> str:
    """The offline answer for a generator prompt: the first product leads (the chat engine puts the
    best fit first and lists none when nothing fits); a product with a ``misses`` line is a partial match.
    Catalog and shopper text is shown escaped: it never becomes a link, an image or markup."""
    question = _last(QUESTION_RE, prompt)
    asked = _last(SEARCH_RE, prompt) or question or "your question"
    products = parse_context(prompt)
    if not products:
        return NO_MATCH.format(search=escape_markdown(asked))
    best, others = products[0], products[1:MAX_LISTED]
    if best.get("misses"):
        parts = [f"Nothing here has everything you asked for; the closest is {_line(best)}. "
                 f"It lacks {_lacks(best)}."]
    else:
        cheapest = wants_cheapest(question) if question else False
        parts = [f"The {'cheapest' if cheapest else 'best'} match is {_line(best)}."]
        brand = _name(best.get("brand")) if (best.get("brand") or "").lower() != "no brand" else None
        names = [v for v in (brand, _name(best.get("category"))) if v]
        if names:
            parts.append(f"It is from {', '.join(escape_markdown(v) for v in names)}.")
    if others:
        parts.append("Also worth a look:")
        for product in others:
            parts.append(f"- {_line(product)}" + (f" (lacks {_lacks(product)})" if product.get("misses") else ""))
    return "\n".join(parts)


class CatalogAnswerLLM(CustomLLM):
    """Offline generator: fast, deterministic, always available, grounded by construction."""

    @classmethod
    def class_name(cls) -> str:
        return "CatalogAnswerLLM"

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name="none (catalog template)", context_window=1_000_000, num_output=1024,
                           is_chat_model=False)

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
