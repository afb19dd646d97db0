"""Does a product fit what the shopper asked for? Requirements from the search, checked on each product.

The search (question words already stripped, see :mod:`shopper_query`) gives these requirements:

- *identity*: what names the product — capitalised words inside a sentence ("BTS", "MacBook",
  "Garmin") and model numbers ("rtx 4060" → ``4060``, "15-FB1013", "M4");
- *measures*: numbers with a unit ("17-inch", "1.8 liter", "256GB", "size 42"), met only by the same
  number next to a unit of the same kind ("17.3 inch" meets "17-inch"; a "15W" charger does not meet "15-inch");
- *exclusions*: what the shopper rules out ("not gold plated", "without a camera");
- *words*: the other words that occur in some product title of the catalog, weighted by how rare
  they are among titles (idf). Words no title uses ("obsessed", "later") say nothing about which
  product is meant and are ignored, so a long question is not punished for its length (but a search
  with no word, name, model or measure that a title could have fits nothing, unless it names a budget);
- the budget, when the search names one.

Names, models and measures weigh as much as the rarest word. A product *fits* when it covers at
least half of the weight and misses no identity requirement (nor has what is ruled out); a product that fits but
misses a measure or the budget is a *partial* match: the answer says what differs. In a comparison
("which is cheaper, the X or the Y?") each side is named by a different product, so an identity
requirement counts as met when any of the products meets it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Iterable, Mapping

from daraz_llama.query_parsing import parse_price_limit

MIN_COVERAGE = 0.5
COMMON_SHARE = 0.01
_TOKEN_RE = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+|[\"″]", re.UNICODE)
_SPLIT_RE = re.compile(r"\d+(?:\.\d+)?|[^\W\d_]+", re.UNICODE)
_SEARCH_TOKEN_RE = re.compile(r"[\w][\w.+/'-]*[\w]|[\w]|[\"″]", re.UNICODE)
_SENTENCE_START_RE = re.compile(r"(?:^|[.!?]\s+)([^\W\d_][\w'-]*)", re.UNICODE)
_FOR_RE = re.compile(r"\s(?:for|with|compatible with|fits?)\s", re.IGNORECASE)
# Nouns that make "<thing> <noun>" a different product: a refrigerator magnet is a magnet, a laptop stand a stand.
_ACCESSORIES = frozenset(
    """stand holder rack case cover bag box magnet charger cable adapter protector strap mount
    organizer organiser shelf remote skin sticker decal pouch sleeve tray hook clip lid filter fan cooler mat pad
    guard battery part accessory kit keychain keyring replacement spare cleaner brush hanger basket container
    """.split()
)
_NEGATION = frozenset("not without non no".split())
_CURRENCY = frozenset("taka takar tk tk. bdt ৳ /-".split())
_STOP = frozenset(
    """a an the and or of for with in on to by from at as is are be it its this that my your our
    their his her very more most much many some any all new best good nice quality high premium original
    e er ar jonno""".split()
)
# Unit words → the dimension they measure.
_UNITS = {
    **dict.fromkeys(("inch", "inches", "in", '"', "″", "inchi"), "length-inch"),
    **dict.fromkeys(("cm", "mm", "m", "meter", "metre", "meters", "ft", "feet", "foot"), "length"),
    **dict.fromkeys(("l", "ltr", "litre", "liter", "litres", "liters"), "volume-l"),
    **dict.fromkeys(("ml",), "volume-ml"),
    **dict.fromkeys(("gb",), "gb"),
    **dict.fromkeys(("tb",), "tb"),
    **dict.fromkeys(("mb",), "mb"),
    **dict.fromkeys(("kg",), "kg"),
    **dict.fromkeys(("g", "gm", "gram", "grams"), "gram"),
    **dict.fromkeys(("mah",), "mah"),
    **dict.fromkeys(("w", "watt", "watts"), "watt"),
    **dict.fromkeys(("v", "volt", "volts"), "volt"),
    **dict.fromkeys(("hz",), "hz"),
    **dict.fromkeys(("k", "karat", "carat", "kt"), "karat"),
    **dict.fromkeys(("pcs", "pc", "piece", "pieces", "pis"), "pieces"),
    **dict.fromkeys(("month", "months"), "month"),
    **dict.fromkeys(("year", "years"), "year"),
    **dict.fromkeys(("size",), "size"),
}


def _stem(word: str) -> str:
    if len(word) > 4 and word.endswith("es") and word[-3] in "sxz":
        return word[:-2]
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def _number(token: str) -> str:
    return token.replace(",", "")


def _same_number(asked: str, found: str) -> bool:
    """``17`` is met by 17 and by 17.3 (a shopper's "17-inch" screen)."""
    return found == asked or ("." not in asked and found.startswith(asked + "."))


@dataclass
class ProductText:
    """A product's text as the fit test reads it: stems, numbers, joined letter+digit pairs and measures."""

    tokens: list[str]
    words: set[str]
    measures: set[tuple[str, str]]  # (number, unit dimension)

    @classmethod
    def of(cls, text: str) -> "ProductText":
        tokens = [_number(t) if t[0].isdigit() else _stem(t) for t in _TOKEN_RE.findall(text.lower())]
        joined = {a + b for a, b in zip(tokens, tokens[1:]) if a[:1].isalpha() and b[:1].isdigit()}
        measures = set()
        for i, token in enumerate(tokens):
            if token[:1].isdigit():
                for unit in tokens[i + 1 : i + 2]:
                    if unit in _UNITS:
                        measures.add((token, _UNITS[unit]))
                if i and tokens[i - 1] == "size":
                    measures.add((token, "size"))
        return cls(tokens, set(tokens) | joined, measures)

    def has_number(self, number: str) -> bool:
        return any(_same_number(number, t) for t in self.words if t[:1].isdigit())

    def has_phrase(self, words: list[str]) -> bool:
        """Whether ``words`` occur in a row, not themselves negated ("drone without camera" has no camera)."""
        n = len(words)
        return any(
            self.tokens[i : i + n] == words and not _NEGATION & set(self.tokens[max(0, i - 2) : i])
            for i in range(len(self.tokens) - n + 1)
        )


@dataclass(frozen=True)
class Requirement:
    """One thing the shopper asked for (or ruled out), as they wrote it."""

    text: str
    kind: str  # "name", "model", "measure", "excluded" or "word"
    weight: float
    number: str = ""  # measure: the number and its unit dimension
    unit: str = ""

    @property
    def identity(self) -> bool:
        return self.kind in ("name", "model", "excluded")

    def met_by(self, product: ProductText) -> bool:
        word = self.text.lower()
        if self.kind == "word":
            return _stem(word) in product.words
        if self.kind == "excluded":
            return not product.has_phrase([_stem(w) for w in word.split()])
        if self.kind == "measure" and self.unit == "size":  # sizes are listed every which way: "EU 42", "42/43"
            return product.has_number(self.number)
        if self.kind == "measure":
            return any(_same_number(self.number, n) and u == self.unit for n, u in product.measures)
        if _stem(word) in product.words or word.replace("-", "") in product.words:
            return True
        parts = _SPLIT_RE.findall(word)
        return bool(parts) and all(
            product.has_number(_number(p)) if p[0].isdigit() else _stem(p) in product.words for p in parts
        )


@dataclass
class TitleVocabulary:
    """How many product titles use each word: rare words identify products, common ones describe them."""

    document_frequency: Mapping[str, int]
    titles: int

    @classmethod
    def from_titles(cls, titles: Iterable[str]) -> "TitleVocabulary":
        counts: dict[str, int] = {}
        total = 0
        for title in titles:
            total += 1
            for token in ProductText.of(title).words:
                counts[token] = counts.get(token, 0) + 1
        return cls(counts, total)

    def idf(self, word: str) -> float:
        """0 for a word no title uses."""
        df = self.document_frequency.get(_stem(word.lower()), 0)
        return math.log((self.titles + 1) / df) if df else 0.0

    def is_common(self, word: str) -> bool:
        """Used by at least 1% of titles ("RAM", "Men"): a describing word even when capitalised."""
        return self.document_frequency.get(_stem(word.lower()), 0) >= COMMON_SHARE * self.titles

    @property
    def max_idf(self) -> float:
        return math.log(self.titles + 1) if self.titles else 1.0


@dataclass
class Requirements:
    """What a search asks for, its budget, whether the cheapest is wanted and whether it compares products."""

    items: list[Requirement]
    max_price: float | None = None
    min_price: float | None = None
    cheapest: bool = False
    comparison: bool = False
    unknown: list[str] = field(default_factory=list)  # words of the search that no title uses

    @classmethod
    def from_search(
        cls,
        search: str,
        vocabulary: TitleVocabulary | None = None,
        cheapest: bool = False,
        comparison: bool = False,
        message: str | None = None,
        asked: frozenset[str] = frozenset(),
    ) -> "Requirements":
        """Requirements of ``search``; names are read from the shopper's own ``message`` (capitals
        at the start of a sentence do not make a name) when given. ``asked``: words the shopper asks
        about rather than names the product by ("does it have NFC?"): not requirements."""
        limit = parse_price_limit(search)
        tokens = _SEARCH_TOKEN_RE.findall(limit.text if limit else search)
        names = _names(message if message is not None else search) | _names(". " + search, inner_only=True)
        strong = vocabulary.max_idf if vocabulary else 1.0
        items: dict[str, Requirement] = {}
        unknown: list[str] = []
        i = 0
        while i < len(tokens):
            raw, word = tokens[i], tokens[i].lower()
            i += 1
            if word in _NEGATION:
                ruled_out = [t.lower() for t in tokens[i : i + 3] if t.lower() not in _STOP][:2]
                if ruled_out:
                    text = " ".join(ruled_out)
                    items[text] = Requirement(text, "excluded", strong)
                    i += sum(1 for t in tokens[i : i + 3] if t.lower() not in _STOP and t.lower() in ruled_out)
                continue
            if word in _STOP or word in items or word in asked:
                continue
            if word[:1].isdigit() and i < len(tokens) and tokens[i].lower() in _CURRENCY:
                i += 1  # "the 299 taka one": a price the shopper saw, not a spec
                continue
            measure = _measure(tokens, i - 1)
            if measure is not None:
                text, number, unit, used = measure
                items[text] = Requirement(text, "measure", strong, number, unit)
                i += used
            elif word in _UNITS:
                continue
            elif any(c.isdigit() for c in word):
                items[word] = Requirement(raw, "model", strong)
            elif raw in names and not (vocabulary and vocabulary.is_common(word)):
                items[word] = Requirement(raw, "name", strong)
            else:
                for part in re.split(r"[-/+.']", word):
                    if not part or part in _STOP or part in items:
                        continue
                    weight = vocabulary.idf(part) if vocabulary else 1.0
                    if weight > 0:
                        items[part] = Requirement(part, "word", weight)
                    else:
                        unknown.append(part)
        return cls(
            list(items.values()),
            limit.max_price if limit else None,
            limit.min_price if limit else None,
            cheapest,
            comparison,
            unknown,
        )

    @property
    def total_weight(self) -> float:
        return sum(r.weight for r in self.items if r.kind != "excluded")


def _measure(tokens: list[str], i: int) -> tuple[str, str, str, int] | None:
    """A measure at ``tokens[i]``: ("17-inch", "17", "length-inch", extra tokens used) or None."""
    word = tokens[i].lower()
    if word == "size" and i + 1 < len(tokens) and tokens[i + 1][:1].isdigit():
        return f"size {tokens[i + 1]}", _number(tokens[i + 1]), "size", 1
    match = re.fullmatch(r"(\d+(?:[.,]\d+)*)[- ]?([^\W\d_]+|[\"″])?", word)
    if not match:
        return None
    number, unit = _number(match.group(1)), match.group(2)
    if unit is None and i + 1 < len(tokens) and tokens[i + 1].lower() in _UNITS:
        unit = tokens[i + 1].lower()
        return f"{tokens[i]} {tokens[i + 1]}", number, _UNITS[unit], 1
    if unit in _UNITS:
        return tokens[i], number, _UNITS[unit], 0
    return None


def _names(text: str, inner_only: bool = False) -> set[str]:
    """Capitalised words that are not just the first word of a sentence, and words with inner capitals."""
    starts = {m.start(1) for m in _SENTENCE_START_RE.finditer(text)}
    names = set()
    for match in re.finditer(r"[^\W\d_][\w'-]*", text, re.UNICODE):
        word = match.group(0)
        inner = any(c.isupper() for c in word[1:])
        capitalised = word[0].isupper() and match.start() not in starts and word not in {"I", "I'm"}
        if inner or (capitalised and not inner_only):
            names.add(word)
    return names


@dataclass
class ProductFit:
    """How one product meets the requirements."""

    coverage: float
    missing_identity: list[str] = field(default_factory=list)  # names, models it lacks; what it has but was ruled out
    missing: list[str] = field(default_factory=list)  # measures and the budget it does not meet
    met: list[str] = field(default_factory=list)  # names, models, measures and the budget it meets

    @property
    def fits(self) -> bool:
        return self.coverage >= MIN_COVERAGE and not self.missing_identity

    @property
    def exact(self) -> bool:
        """Fits and misses nothing asked for (no measure, no budget)."""
        return self.fits and not self.missing


def _names_the_product(head: ProductText, word: str, asked: set[str]) -> bool:
    """``word`` is in the title's head and no accessory noun the shopper did not ask for follows it there."""
    if word not in head.words:
        return False
    after = head.tokens[head.tokens.index(word) + 1 :] if word in head.tokens else []
    return not any(t in _ACCESSORIES and t not in asked for t in after)


def title_head(title: str) -> str:
    """What a title says the product *is*: the part before "for" ("Cooling Fan for PS5 Console" → "Cooling Fan")."""
    return _FOR_RE.split(title, maxsplit=1)[0]


def assess(
    requirements: Requirements, title: str, text: str, price: float | None, identity_met_elsewhere: Iterable[str] = ()
) -> ProductFit:
    """How a product (its ``title``; title, brand, category and description in ``text``) meets ``requirements``.

    Unless the title's head has a name or model asked for, one of the plain words of the search must be
    in it, not followed by an accessory noun: a cooling fan "for" a console, a refrigerator magnet or a
    rice cooker rack is not the thing asked for. ``identity_met_elsewhere``: identity requirements another
    product meets (comparisons count them).
    """
    return _assess(requirements, title, ProductText.of(text), price, set(identity_met_elsewhere))


def _assess(
    requirements: Requirements, title: str, product: ProductText, price: float | None, elsewhere: set[str]
) -> ProductFit:
    met_weight, missing_identity, missing, met = 0.0, [], [], []
    for requirement in requirements.items:
        if requirement.met_by(product):
            met_weight += requirement.weight if requirement.kind != "excluded" else 0.0
            if requirement.kind in ("name", "model", "measure"):
                met.append(requirement.text)
        elif requirement.kind == "excluded":
            missing_identity.append(f"not {requirement.text}")
        elif requirement.identity:
            if requirement.text in elsewhere:
                met_weight += requirement.weight
            else:
                missing_identity.append(requirement.text)
        elif requirement.kind == "measure":
            missing.append(requirement.text)
    words = sorted((r for r in requirements.items if r.kind == "word"), key=lambda r: -r.weight)
    head = ProductText.of(title_head(title))
    named = any(r.met_by(head) for r in requirements.items if r.kind in ("name", "model"))
    asked = {_stem(r.text.lower()) for r in words}
    if words and not named and not any(_names_the_product(head, _stem(r.text.lower()), asked) for r in words):
        missing_identity.append(words[0].text)
    total = requirements.total_weight
    budget_only = requirements.max_price is not None or requirements.min_price is not None
    coverage = met_weight / total if total else (1.0 if budget_only and not requirements.unknown else 0.0)
    if requirements.max_price is not None:
        within = price is not None and price <= requirements.max_price
        (met if within else missing).append(f"under ৳ {requirements.max_price:,.0f}")
    if requirements.min_price is not None:
        within = price is not None and price >= requirements.min_price
        (met if within else missing).append(f"over ৳ {requirements.min_price:,.0f}")
    return ProductFit(coverage, missing_identity, missing, met)


def assess_all(
    requirements: Requirements, titles: list[str], texts: list[str], prices: list[float | None]
) -> list[ProductFit]:
    """:func:`assess` for each product; in a comparison, identity requirements any product meets count for all."""
    products = [ProductText.of(text) for text in texts]
    elsewhere: set[str] = set()
    if requirements.comparison:
        elsewhere = {
            r.text for r in requirements.items if r.kind in ("name", "model") and any(r.met_by(p) for p in products)
        }
    return [
        _assess(requirements, title, product, price, elsewhere)
        for title, product, price in zip(titles, products, prices)
    ]
