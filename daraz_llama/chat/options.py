"""What a shopper can set in the chat: retrieval mode, number of products, filters and the generator."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from daraz_llama.answers.context import taka
from daraz_llama.answers.generators import GENERATORS
from daraz_llama.filters import ProductFilters
from daraz_llama.retriever import MODES

ANY = "Any"
LOCAL_MODELS = ("fine-tuned", "base")
# What the settings panel shows → the value behind it.
MODE_LABELS = {
    "Best available": "auto",
    "Keywords and meaning, re-ranked": "hybrid+rerank",
    "Keywords and meaning": "hybrid",
    "Keywords only": "bm25",
    "Meaning only": "dense",
}
GENERATOR_LABELS = {
    "Catalog facts (instant, offline)": "none",
    "Gemma 3 270M on this server": "local",
    "Online AI service": "openai",
}
LOCAL_MODEL_LABELS = {"Tuned for this shop": "fine-tuned", "Base model": "base"}
LOCAL_RUNTIMES = ("auto", "llama.cpp", "transformers")
LOCAL_RUNTIME_LABELS = {"Fastest installed": "auto", "llama.cpp": "llama.cpp", "transformers": "transformers"}


class OptionsError(ValueError):
    """A chat setting that cannot be used; the message names the setting."""


@dataclass(frozen=True)
class ChatOptions:
    """One session's settings; they apply from the next message on."""

    mode: str = "auto"
    products: int = 5
    filters: ProductFilters = field(default_factory=ProductFilters)
    generator: str = "none"
    local_model: str = "fine-tuned"
    local_runtime: str = "auto"

    def describe(self) -> str:
        """The settings in a shopper's words: "Mens Jeans · under ৳ 30,000 · answers from catalog facts"."""
        answers = next(label for label, value in GENERATOR_LABELS.items() if value == self.generator)
        return f"{describe_filters(self.filters) or 'all products'} · answers: {answers.lower()}"


def category_label(category: str) -> str:
    """``"mens jeans"`` → ``"Mens Jeans"``."""
    return " ".join(word[:1].upper() + word[1:] for word in category.split())


def describe_filters(filters: ProductFilters) -> str:
    """The active filters in a shopper's words (empty when there are none)."""
    parts = []
    if filters.category:
        parts.append(category_label(filters.category))
    if filters.brand:
        parts.append(f"brand {filters.brand}")
    if filters.min_price is not None and filters.max_price is not None:
        parts.append(f"{taka(filters.min_price)} to {taka(filters.max_price)}")
    elif filters.max_price is not None:
        parts.append(f"under {taka(filters.max_price)}")
    elif filters.min_price is not None:
        parts.append(f"over {taka(filters.min_price)}")
    if filters.min_rating:
        parts.append(f"{filters.min_rating:g}★ and up")
    return " · ".join(parts)


def _number(settings: Mapping[str, Any], key: str) -> float | None:
    value = settings.get(key)
    if value in (None, ""):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise OptionsError(f"{key.replace('_', ' ')}: {value!r} is not a number") from None
    if number < 0:
        raise OptionsError(f"{key.replace('_', ' ')}: must not be negative, got {number:g}")
    return number


def _choice(settings: Mapping[str, Any], key: str, allowed: tuple[str, ...], default: str) -> str:
    value = settings.get(key) or default
    if value not in allowed:
        raise OptionsError(f"{key.replace('_', ' ')}: {value!r} is not one of {', '.join(allowed)}")
    return str(value)


def options_from_settings(settings: Mapping[str, Any], known_brands: Mapping[str, str] | None = None) -> ChatOptions:
    """Validate the values of Chainlit's settings panel; ``known_brands`` maps casefolded names to names."""
    brand = str(settings.get("brand") or "").strip() or None
    if brand and known_brands is not None:
        if brand.casefold() not in known_brands:
            raise OptionsError(f"brand: no product of brand {brand!r} in this catalog")
        brand = known_brands[brand.casefold()]
    category = settings.get("category")
    try:  # 0 means "no bound": the settings panel shows 0 for an empty number field
        filters = ProductFilters(
            category=None if category in (None, "", ANY) else str(category),
            brand=brand,
            min_price=_number(settings, "min_price") or None,
            max_price=_number(settings, "max_price") or None,
            min_rating=_number(settings, "min_rating") or None,
        )
    except ValueError as err:
        raise OptionsError(str(err).replace("_", " ")) from None
    products = int(settings.get("products") or ChatOptions.products)
    if not 1 <= products <= 10:
        raise OptionsError(f"products: between 1 and 10, got {products}")
    return ChatOptions(
        mode=_choice(settings, "mode", MODES, "auto"),
        products=products,
        filters=filters,
        generator=_choice(settings, "generator", GENERATORS, "none"),
        local_model=_choice(settings, "local_model", LOCAL_MODELS, "fine-tuned"),
        local_runtime=_choice(settings, "local_runtime", LOCAL_RUNTIMES, "auto"),
    )
