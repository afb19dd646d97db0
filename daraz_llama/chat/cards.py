"""Product cards: what the chat shows under an answer for each cited product."""

from __future__ import annotations

from typing import Any

from daraz_llama.answers.context import ContextProduct, price_text, rating_text
from daraz_llama.answers.grounding import CITATION_RE


def cited(answer: str, products: list[ContextProduct]) -> list[ContextProduct]:
    """The products ``answer`` cites as [n], in the order first cited."""
    by_number = {p.number: p for p in products}
    numbers = dict.fromkeys(int(n) for n in CITATION_RE.findall(answer))
    return [by_number[n] for n in numbers if n in by_number]


def card_props(product: ContextProduct) -> dict[str, Any]:
    """One card of the ``ProductCards`` element (public/elements/ProductCards.jsx)."""
    return {
        "number": product.number,
        "title": product.title,
        "price": price_text(product) or "price not listed",
        "rating": rating_text(product),
        "category": product.category or "",
        "brand": product.brand or "",
        "url": product.url or "",
        "image": product.image_url or "",
        "productId": product.product_id,
    }


def ranking_table(products: list[ContextProduct]) -> str:
    """Markdown table of the ranked products with their scores and what each lacks (the retrieval step's output)."""
    if not products:
        return "No product matched."
    rows = ["| # | product | price | rating | score | misses | id |", "|---|---|---|---|---|---|---|"]
    for p in products:
        title = p.title.replace("|", "/")
        score = f"{p.score:.4f}" if p.score is not None else "-"
        misses = "; ".join(p.missing).replace("|", "/") or "-"
        rows.append(f"| {p.number} | {title} | {price_text(p) or '-'} | {rating_text(p)} | {score} | {misses} "
                    f"| {p.product_id} |")
    return "\n".join(rows)
