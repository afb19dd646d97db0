"""Product cards: what the chat shows under an answer for each cited product."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from daraz_llama.answers.context import ContextProduct, price_text, rating_text
from daraz_llama.answers.grounding import CITATION_RE
from daraz_llama.chat.options import category_label
from daraz_llama.text import escape_markdown


def cited(answer: str, products: list[ContextProduct]) -> list[ContextProduct]:
    """The products ``answer`` cites as [n], in the order first cited."""
    by_number = {p.number: p for p in products}
    numbers = dict.fromkeys(int(n) for n in CITATION_RE.findall(answer))
    return [by_number[n] for n in numbers if n in by_number]


# Cards link only to the shop and show images only from its image hosts (https, or http for the shop).
LINK_DOMAINS = ("daraz.com.bd",)
IMAGE_DOMAINS = ("daraz.com.bd", "lazcdn.com", "slatic.net", "alicdn.com")


def safe_url(url: str | None, domains: tuple[str, ...]) -> str:
    """``url`` when it is http(s) on one of ``domains`` (or a subdomain), else "": no javascript:, no other hosts."""
    if not url:
        return ""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not any(host == d or host.endswith("." + d) for d in domains):
        return ""
    return parts.geturl()


def card_props(product: ContextProduct) -> dict[str, Any]:
    """One card of the ``ProductCards`` element (public/elements/ProductCards.jsx); React shows the text as text."""
    return {
        "number": product.number,
        "title": product.title,
        "price": price_text(product) or "price not listed",
        "rating": rating_text(product),
        "category": category_label(product.category or ""),
        "brand": product.brand if (product.brand or "").casefold() not in ("", "no brand") else "",
        "seller": product.seller or "",
        "url": safe_url(product.url, LINK_DOMAINS),
        "image": safe_url(product.image_url, IMAGE_DOMAINS),
        "productId": product.product_id,
    }


def ranking_list(products: list[ContextProduct]) -> str:
    """The ranked products, one wrapped line each (readable on a phone): title, price, rating, what it
    lacks of the request, score and id (the collapsed "How these results were found" step)."""
    if not products:
        return "No product matched."
    lines = []
    for p in products:
        lacks = f" · lacks {escape_markdown('; '.join(p.missing))}" if p.missing else ""
        score = f" · score {p.score:.4f}" if p.score is not None else ""
        lines.append(
            f"{p.number}. {escape_markdown(p.title)} — {price_text(p) or 'price not listed'} · "
            f"{rating_text(p)}{lacks}{score} · id {p.product_id}"
        )
    return "\n".join(lines)
