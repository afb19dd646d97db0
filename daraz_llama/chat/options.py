"""What a shopper can set in the chat: retrieval mode, number of products, filters and the generator."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from daraz_llama.answers.generators import GENERATORS
from daraz_llama.filters import ProductFilters
from daraz_llama.retriever import MODES

ANY = "Any"
LOCAL_MODELS = ("fine-tuned", "base")


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

    def describe(self) -> str:
        active = ", ".join(f"{key} {value}" for key, value in self.filters.as_dict().items()) or "no filters"
        model = f" ({self.local_model})" if self.generator == "local" else ""
        return f"mode {self.mode}, {self.products} products, {active}, generator {self.generator}{model}"


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
        filters = ProductFilters(category=None if category in (None, "", ANY) else str(category), brand=brand,
                                 min_price=_number(settings, "min_price") or None,
                                 max_price=_number(settings, "max_price") or None,
                                 min_rating=_number(settings, "min_rating") or None)
    except ValueError as err:
        raise OptionsError(str(err).replace("_", " ")) from None
    products = int(settings.get("products") or ChatOptions.products)
    if not 1 <= products <= 10:
        raise OptionsError(f"products: between 1 and 10, got {products}")
    return ChatOptions(mode=_choice(settings, "mode", MODES, "auto"), products=products, filters=filters,
                       generator=_choice(settings, "generator", GENERATORS, "none"),
                       local_model=_choice(settings, "local_model", LOCAL_MODELS, "fine-tuned"))
