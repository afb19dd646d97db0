"""Numbered product context: what every generator reads, and what citations [n] point to."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from llama_index.core.schema import NodeWithScore

from daraz_llama.schema import view
from daraz_llama.text import one_line

CONTEXT_HEADER = "PRODUCTS"
BLOCK_RE = re.compile(r"^\[(\d+)\] (.+)$")
HEADER_RE = re.compile(rf"^(?:[a-z]{{1,12}}: )?{CONTEXT_HEADER} \(\d+\):$")  # after a "user: " role, as LLMs get it
SNIPPET_WORDS = 45
FACT_KEYS = ("price", "rating", "brand", "category", "colors", "sizes")


@dataclass(frozen=True)
class ContextStyle:
    """How much of each product a generator reads: a small local model gets a brief block (its prompt is
    read at a few hundred tokens a second on a CPU, and its answers never use the description)."""

    max_products: int | None = None  # at most this many products, whatever the shopper's setting
    about: bool = True  # the description snippet ("about:" line)
    facts: tuple[str, ...] = ("brand", "category", "colors", "sizes")  # shown after price and rating
    title_words: int | None = None  # a title's first words only (the answer names a product by its first 8)
    search_line: bool = True  # the SEARCH line under the shopper's message (the search the products came from)


FULL_CONTEXT = ContextStyle()
BRIEF_CONTEXT = ContextStyle(max_products=3, about=False, facts=("brand",), title_words=12, search_line=False)


@dataclass
class ContextProduct:
    """One numbered product as the generator sees it."""

    number: int
    product_id: str
    title: str
    price: float | None = None
    original_price: float | None = None
    discount_pct: int | None = None
    rating: float | None = None
    rating_count: int | None = None
    brand: str | None = None
    category: str | None = None
    colors: str | None = None
    sizes: str | None = None
    seller: str | None = None
    url: str | None = None
    image_url: str | None = None
    about: str = ""
    score: float | None = None
    missing: list[str] = field(default_factory=list)  # what the shopper asked for that this product lacks
    meets: list[str] = field(default_factory=list)  # the names, models, measures and budget asked for that it has
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_node(cls, number: int, node: NodeWithScore) -> "ContextProduct":
        meta = node.node.metadata
        title = str(meta.get("title", ""))
        body = node.node.get_content()
        body = body[len(title) :] if body.startswith(title) else body
        words = body.split()
        about = " ".join(words[:SNIPPET_WORDS]) + (" …" if len(words) > SNIPPET_WORDS else "")
        copied = {**view(meta, "context"), "product_id": str(meta.get("product_id")), "title": title}
        return cls(number=number, about=about, score=node.score, **copied)


def display_title(title: str, max_words: int = 8) -> str:
    """A seller's title shortened for the answer text (the card keeps the full one): the part before
    " | ", " - ", "(" or ",", at most ``max_words`` words."""
    head = re.split(r"\s+[|/–-]+\s+|\s*\(|,\s", title, maxsplit=1)[0].strip()
    words = (head if len(head.split()) >= 2 else title).split()
    return " ".join(words[:max_words]) + (" …" if len(words) > max_words else "")


def taka(amount: float) -> str:
    """``1350.0`` → ``৳ 1,350``."""
    return f"৳ {amount:,.0f}" if float(amount).is_integer() else f"৳ {amount:,.2f}"


def price_text(product: ContextProduct) -> str | None:
    if product.price is None:
        return None
    text = taka(product.price)
    if product.original_price and product.original_price > product.price:
        off = f", -{product.discount_pct}%" if product.discount_pct else ""
        text += f" (was {taka(product.original_price)}{off})"
    return text


def rating_text(product: ContextProduct) -> str:
    if product.rating is None:
        return "no ratings yet"
    count = product.rating_count or 0
    return f"{product.rating:.1f}/5 ({count} rating{'s' if count != 1 else ''})"


def format_context(products: list[ContextProduct], style: ContextStyle = FULL_CONTEXT) -> str:
    """The numbered block handed to generators (readable, and parsed back by the offline one), with as much
    of each product as ``style`` asks for.

    Catalog text is put on one line with no ``|``, so no title or field can forge another line or fact.
    """
    lines = [f"{CONTEXT_HEADER} ({len(products)}):"]
    for p in products:
        facts = [f"price: {price_text(p) or 'unknown'}", f"rating: {rating_text(p)}"]
        facts += [
            f"{key}: {one_line(str(value))}"
            for key, value in (("brand", p.brand), ("category", p.category), ("colors", p.colors), ("sizes", p.sizes))
            if value and key in style.facts
        ]
        title = " ".join(p.title.split()[: style.title_words]).rstrip(",;:|/-") if style.title_words else p.title
        lines.append(f"[{p.number}] {one_line(title)}")
        lines.append("    " + " | ".join(facts))
        if style.about and p.about:
            lines.append(f"    about: {one_line(p.about)}")
        if p.meets:
            lines.append(f"    meets: {one_line('; '.join(p.meets))}")
        if p.missing:
            lines.append(f"    misses: {one_line('; '.join(p.missing))}")
    return "\n".join(lines)


def parse_context(text: str) -> list[dict[str, str]]:
    """The products of a :func:`format_context` block, as ``{number, title, price, rating, ...}`` strings.

    Only the block's own lines are read (from the ``PRODUCTS (n):`` header to the first other line).
    """
    products: list[dict[str, str]] = []
    lines = text.splitlines()
    header = next((i for i, line in enumerate(lines) if HEADER_RE.match(line)), None)
    if header is None:
        return products
    for line in lines[header + 1 :]:
        if not (BLOCK_RE.match(line) or (products and line.startswith("    "))):
            break
        block = BLOCK_RE.match(line)
        if block and not line.startswith("    "):
            products.append({"number": block.group(1), "title": block.group(2).strip()})
        elif products and line.startswith("    "):
            body = line.strip()
            if body.startswith(("about: ", "meets: ", "misses: ")):
                key, _, value = body.partition(": ")
                products[-1][key] = value
                continue
            for fact in body.split(" | "):
                key, _, value = fact.partition(": ")
                if key in FACT_KEYS:
                    products[-1].setdefault(key, value)
    return products


def number_products(nodes: list[NodeWithScore]) -> list[ContextProduct]:
    return [ContextProduct.from_node(i, node) for i, node in enumerate(nodes, start=1)]
