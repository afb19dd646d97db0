"""Silver queries synthesised from the catalog, split by product into train/dev/test.

Up to three short queries per product, the way shoppers type them: words from the
title, a brand/category-led one, and one with a light constraint (price ceiling or
colour). Products that share an exact title are duplicates: they get one set of
queries, all of them are relevant, and they always land in the same split.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
from collections import defaultdict
from dataclasses import dataclass

from daraz_llama.corpus import Product
from daraz_llama.queries import QueryRecord

SPLITS = ("train", "dev", "test")
# Words sellers put in titles that shoppers do not type.
FILLER = {
    "new",
    "latest",
    "high",
    "quality",
    "premium",
    "best",
    "original",
    "stylish",
    "fashionable",
    "trendy",
    "hot",
    "sale",
    "offer",
    "combo",
    "exclusive",
    "top",
    "super",
    "amazing",
    "beautiful",
    "gorgeous",
    "brand",
    "for",
    "with",
    "and",
    "the",
    "a",
    "an",
    "of",
    "in",
    "to",
    "by",
    "on",
    "from",
    "at",
    "or",
    "only",
    "pcs",
    "pc",
    "piece",
    "pieces",
    "set",
    "model",
    "product",
    "item",
    "no",
    "profit",
    "no-profit",
    "free",
    "size",
    "men's",
    "women's",
    "mens",
    "womens",
    "looking",
    "heavy",
    "duty",
    "very",
    "good",
    "nice",
    "cheap",
}
NO_BRAND = {"no brand", "nobrand", "generic", "oem", ""}
CATEGORY_NOISE = {"shop", "and", "accessories", "other", "digital", "downloads", "merchandise", "everyday"}
TOKEN_RE = re.compile(r"[0-9A-Za-z\u0980-\u09FF][0-9A-Za-z\u0980-\u09FF.+/'-]*")
BRACKETS_RE = re.compile(r"【[^】]*】|\[[^\]]*\]|\([^)]*\)")
PRICE_WORDS = ("under {p} taka", "below {p} tk", "under {p} tk", "within {p} taka", "less than {p} taka")


@dataclass
class SilverSplits:
    train: list[QueryRecord]
    dev: list[QueryRecord]
    test: list[QueryRecord]

    def as_dict(self) -> dict[str, list[QueryRecord]]:
        return {"train": self.train, "dev": self.dev, "test": self.test}


def title_words(title: str) -> list[str]:
    """Lower-cased content words of a title: bracketed asides and seller filler removed."""
    words = [w.strip(".-/'").lower() for w in TOKEN_RE.findall(BRACKETS_RE.sub(" ", title))]
    seen: set[str] = set()
    content = []
    for word in words:
        if word and word not in FILLER and word not in seen:
            seen.add(word)
            content.append(word)
    return content


def category_phrase(category: str) -> str:
    words = [w for w in category.lower().split() if w not in CATEGORY_NOISE]
    return " ".join(words) or category.lower()


def price_ceiling(price: float) -> int:
    """A round budget just above ``price`` (99 → 100, 535 → 600, 3814 → 4000, 62990 → 70000)."""
    if price < 100:
        step = 10
    else:
        magnitude = 10 ** int(math.floor(math.log10(price)))
        step = magnitude // 2 if price / magnitude < 5 else magnitude
    return int(math.ceil((price + 1) / step) * step)


def _pick(rng: random.Random, words: list[str], low: int, high: int) -> list[str]:
    """A few words in title order, favouring the first ones (where the product name usually is)."""
    if len(words) <= low:
        return list(words)
    count = rng.randint(low, min(high, len(words)))
    head = list(range(min(len(words), count + 3)))
    chosen = sorted(rng.sample(head, count))
    return [words[i] for i in chosen]


def product_queries(product: Product, rng: random.Random) -> list[tuple[str, str]]:
    """Up to three ``(style, query)`` pairs for one product."""
    words = title_words(product.title)
    if not words:
        return []
    queries: list[tuple[str, str]] = [("title", " ".join(_pick(rng, words, 3, 6)))]
    brand = (product.brand or "").strip()
    noun = category_phrase(product.category)
    key = [w for w in words if w != brand.lower()]
    if brand.lower() not in NO_BRAND:
        queries.append(("brand_category", " ".join([brand.lower(), *_pick(rng, key, 1, 2), noun])))
    else:
        queries.append(("brand_category", " ".join([*_pick(rng, key, 1, 3), noun])))
    colors = [c for c in product.colors if c.lower() not in {"multicolor", "multicolour", "as picture", "as shown"}]
    if product.price and (not colors or rng.random() < 0.6):
        budget = rng.choice(PRICE_WORDS).format(p=f"{price_ceiling(product.price)}")
        queries.append(("price", f"{' '.join(_pick(rng, words, 2, 4))} {budget}"))
    elif colors:
        queries.append(("colour", f"{rng.choice(colors).lower()} {' '.join(_pick(rng, words, 2, 4))}"))
    unique: dict[str, str] = {}
    for style, query in queries:
        unique.setdefault(" ".join(query.split()), style)
    return [(style, query) for query, style in unique.items()]


def _split_of(title: str, seed: int, fractions: tuple[float, float]) -> str:
    digest = hashlib.sha1(f"{seed}\x00{title}".encode("utf-8")).digest()
    share = int.from_bytes(digest[:8], "big") / 2**64
    dev, test = fractions
    return "dev" if share < dev else "test" if share < dev + test else "train"


def synthesise(
    products: list[Product], seed: int = 13, dev_fraction: float = 0.1, test_fraction: float = 0.1
) -> SilverSplits:
    """Silver queries for ``products``, deterministic for ``seed``, split by product (title group)."""
    groups: dict[str, list[Product]] = defaultdict(list)
    for product in products:
        groups[product.title].append(product)
    splits: dict[str, list[QueryRecord]] = {name: [] for name in SPLITS}
    for title, members in groups.items():
        first = members[0]
        rng = random.Random(f"{seed}:{first.product_id}")
        split = _split_of(title, seed, (dev_fraction, test_fraction))
        relevant = [p.product_id for p in members]
        for n, (style, query) in enumerate(product_queries(first, rng)):
            splits[split].append(
                QueryRecord(
                    qid=f"s{first.product_id}-{n}",
                    query=query,
                    relevant_ids=relevant,
                    extra={"style": style, "category": first.category},
                )
            )
    return SilverSplits(**splits)
