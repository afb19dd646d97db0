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

QUESTION_RE = re.compile(r"QUESTION:\s*(.+?)\s*$", re.MULTILINE)
WORD_RE = re.compile(r"[\w\u0980-\u09FF]+", re.UNICODE)
STOPWORDS = {"a", "an", "the", "for", "with", "and", "or", "of", "in", "to", "on", "i", "me", "my", "want", "need",
             "is", "are", "there", "any", "some", "show", "find", "which", "what", "best", "good", "one", "ones",
             "please", "under", "below", "taka", "tk", "cheap", "cheaper", "that", "this", "it", "do", "you", "have"}
MAX_LISTED = 3
MIN_COVERAGE = 0.5  # share of the question's words the best products must contain to count as a fit
NO_MATCH = ("I couldn't find a product in the catalog that fits “{question}”. "
            "Try other words, fewer details or a wider price range.")


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") else word


def _wanted(question: str) -> list[str]:
    """The question's content words."""
    return list(dict.fromkeys(w for w in WORD_RE.findall(question.lower()) if w not in STOPWORDS and not w.isdigit()))


def _reasons(question: str, product: dict[str, str]) -> list[str]:
    """The question's words that the product's title, brand, category, colours or text contain."""
    haystack = " ".join(product.get(k, "") for k in ("title", "brand", "category", "colors", "sizes", "about")).lower()
    found = {_stem(w) for w in WORD_RE.findall(haystack)}
    return [w for w in _wanted(question) if _stem(w) in found]


def fits(question: str, products: list[dict[str, str]]) -> bool:
    """Whether any product matches at least half of the question's content words (else nothing fits)."""
    wanted = _wanted(question)
    if not wanted:
        return bool(products)
    return any(len(_reasons(question, p)) >= MIN_COVERAGE * len(wanted) for p in products)


def _line(product: dict[str, str]) -> str:
    facts = [product.get("price", "unknown")]
    rating = product.get("rating", "no ratings yet")
    facts.append(rating if rating == "no ratings yet" else f"rated {rating}")
    return f"**{product['title']}** [{product['number']}]: {', '.join(facts)}"


def compose_answer(prompt: str) -> str:
    """The offline answer for a generator prompt."""
    match = QUESTION_RE.search(prompt)
    question = match.group(1).strip() if match else prompt.strip().splitlines()[-1]
    context = prompt[prompt.find(CONTEXT_HEADER):] if CONTEXT_HEADER in prompt else ""
    products = parse_context(context)
    if not products or not fits(question, products[:MAX_LISTED]):
        return NO_MATCH.format(question=question)
    best, others = products[0], products[1:MAX_LISTED]
    parts = [f"For “{question}”, the best match is {_line(best)}."]
    reasons = _reasons(question, best)
    brand = best.get("brand") if (best.get("brand") or "").lower() not in {"no brand", ""} else None
    if brand or best.get("category"):
        about = ", ".join(v for v in (brand, best.get("category")) if v)
        parts.append(f"It is from {about}" + (f", and matches {', '.join(reasons)}." if reasons else "."))
    if others:
        parts.append("Also worth a look:")
        for product in others:
            why = _reasons(question, product)
            parts.append(f"- {_line(product)}" + (f" (matches {', '.join(why)})" if why else ""))
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
