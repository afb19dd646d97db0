"""The product schema in one place: each metadata field of a product node, where it comes from in a parsed
:class:`~daraz_llama.corpus.Product`, and which views show it.

Views: ``embed`` (the text the embedder and BM25 see besides the chunk), ``llm`` (what a generator may read),
``catalog`` (the per-chunk filter fields kept in ``chunks.json``), ``context`` (copied into an answer's
numbered products), ``row`` (the CLI's search results).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from daraz_llama.corpus import Product

VIEWS = ("embed", "llm", "catalog", "context", "row")


@dataclass(frozen=True)
class ProductField:
    """One metadata field: its key, how it is read from a parsed product, and the views that show it."""

    name: str
    views: frozenset[str]
    read: Callable[[Product], Any]


def _field(name: str, *views: str, read: Callable[[Product], Any] | None = None) -> ProductField:
    unknown = set(views) - set(VIEWS)
    if unknown:
        raise ValueError(f"unknown view(s) {sorted(unknown)} for field {name!r}")
    return ProductField(name, frozenset(views), read or (lambda product: getattr(product, name)))


def _joined(name: str) -> Callable[[Product], str | None]:
    return lambda product: ", ".join(getattr(product, name)) or None


FIELDS: tuple[ProductField, ...] = (
    _field("product_id", "llm", "catalog", "context", "row"),
    _field("title", "llm", "context", "row"),
    _field("category", "embed", "llm", "catalog", "context", "row"),
    _field("brand", "embed", "llm", "catalog", "context"),
    _field("sku"),
    _field("url", "llm", "context", "row"),
    _field("price", "llm", "catalog", "context", "row"),
    _field("original_price", "llm", "context"),
    _field("discount_pct", "llm", "context"),
    _field("rating", "llm", "catalog", "context", "row"),
    _field("rating_count", "llm", "context"),
    _field("sold_count", "llm"),
    _field("seller_location"),
    _field("colors", "llm", "context", read=_joined("colors")),
    _field("sizes", "llm", "context", read=_joined("sizes")),
    _field("seller", "llm", "context"),
    _field("image_url", "context", read=lambda product: product.images[0] if product.images else None),
)


def keys(view: str) -> tuple[str, ...]:
    """The metadata keys ``view`` shows, in schema order."""
    if view not in VIEWS:
        raise ValueError(f"unknown view {view!r}: one of {', '.join(VIEWS)}")
    return tuple(f.name for f in FIELDS if view in f.views)


def product_metadata(product: Product) -> dict[str, Any]:
    """Flat, typed node metadata of ``product``; absent fields are left out."""
    values = {f.name: f.read(product) for f in FIELDS}
    return {name: value for name, value in values.items() if value is not None}


def view(metadata: dict[str, Any], name: str) -> dict[str, Any]:
    """The fields of ``metadata`` that view ``name`` shows (absent ones as None)."""
    return {key: metadata.get(key) for key in keys(name)}
