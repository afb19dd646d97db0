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

from daraz_llama.answers.context import CONTEXT_HEADER, parse_context
from daraz_llama.answers.shopper_query import wants_cheapest

QUESTION_RE = re.compile(r"QUESTION:\s*(.+?)\s*$", re.MULTILINE)
SEARCH_RE = re.compile(r"SEARCH:\s*(.+?)\s*$", re.MULTILINE)
MAX_LISTED = 3
NO_MATCH = ("I couldn't find a product in the catalog that fits “{search}”. "
            "Try other words, fewer details or a wider price range.")


def _line(product: dict[str, str]) -> str:
    facts = [product.get("price", "unknown")]
    rating = product.get("rating", "no ratings yet")
    facts.append(rating if rating == "no ratings yet" else f"rated {rating}")
    return f"**{product['title']}** [{product['number']}]: {', '.join(facts)}"


def _lacks(product: dict[str, str]) -> str:
    """ “15-inch” and “under ৳ 55,000” (quoted: the shopper's words, not claims about the product)."""
    missing = [f"“{m}”" for m in product.get("misses", "").split("; ") if m]
    return " and ".join(missing)


def compose_answer(prompt: str) -> str:
    """The offline answer for a generator prompt: the first product leads (the chat engine puts the
    best fit first and lists none when nothing fits); a product with a ``misses`` line is a partial match."""
    question = QUESTION_RE.search(prompt)
    search = SEARCH_RE.search(prompt) or question
    asked = search.group(1).strip() if search else prompt.strip().splitlines()[-1]
    context = prompt[prompt.find(CONTEXT_HEADER):] if CONTEXT_HEADER in prompt else ""
    products = parse_context(context)
    if not products:
        return NO_MATCH.format(search=asked)
    best, others = products[0], products[1:MAX_LISTED]
    if best.get("misses"):
        parts = [f"Nothing here has everything you asked for; the closest is {_line(best)}. "
                 f"It lacks {_lacks(best)}."]
    else:
        cheapest = wants_cheapest(question.group(1)) if question else False
        parts = [f"The {'cheapest' if cheapest else 'best'} match is {_line(best)}."]
        brand = best.get("brand") if (best.get("brand") or "").lower() not in {"no brand", ""} else None
        if brand or best.get("category"):
            parts.append(f"It is from {', '.join(v for v in (brand, best.get('category')) if v)}.")
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
