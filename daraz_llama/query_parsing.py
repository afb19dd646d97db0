"""Price limits that shoppers type into a query ("under 500 taka", "below 50k", "1000 tk er niche")."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Linear on any input (a shopper can type anything): whitespace runs are bounded ({0,3}), and a number
# only starts where no digit, comma or dot comes before it, so no run is scanned from each of its positions.
CURRENCY = r"(?:tk\.?|taka|takar|৳|bdt|/-)"
GAP = r"[ \t]{0,3}"
NUMBER = r"(?<![\d,.])((?:\d{1,3}(?:,\d{2,3})+|\d{1,12})(?:\.\d{1,4})?)(?![\d.,]\d|e\d)(?:" + GAP + r"(k)\b)?"
# A number followed by one of these is a spec ("under 500 mah"), not a price.
UNIT_AFTER = re.compile(
    rf"{GAP}(?=[mgtlwickhvpy])(?:mah|gb|tb|mb|ml|l\b|w\b|watt|inch|in\b|mm|cm|m\b|g\b|kg|hz|v\b|pcs|pieces|"
    r"years?|months?)",
    re.IGNORECASE,
)
MAX_BEFORE = re.compile(
    rf"\b(?:under|below|less than|within|upto|up to|max(?:imum)?|at most|budget){GAP}"
    rf"(?:{CURRENCY}{GAP})?{NUMBER}(?:{GAP}{CURRENCY})?",
    re.IGNORECASE,
)
MAX_AFTER = re.compile(
    rf"{NUMBER}{GAP}{CURRENCY}{GAP}(?:er{GAP})?(?:niche|nicher|moddhe|modhe|vitore|bhitore)\b", re.IGNORECASE
)
MIN_BEFORE = re.compile(
    rf"\b(?:over|above|more than|at least|minimum){GAP}(?:{CURRENCY}{GAP})?{NUMBER}{GAP}{CURRENCY}", re.IGNORECASE
)
RANGE = re.compile(rf"\b(?:between{GAP})?{NUMBER}{GAP}(?:-|to|and){GAP}{NUMBER}{GAP}{CURRENCY}", re.IGNORECASE)


@dataclass(frozen=True)
class PriceLimit:
    """What a query says about price, and the query without those words."""

    min_price: float | None
    max_price: float | None
    text: str


def _amount(number: str, thousands: str | None) -> float:
    return float(number.replace(",", "")) * (1000 if thousands else 1)


def _is_spec(query: str, match: re.Match[str]) -> bool:
    return bool(UNIT_AFTER.match(query, match.end()))


def parse_price_limit(query: str) -> PriceLimit | None:
    """The price bounds in ``query`` (None when it names none)."""
    low = high = None
    spans: list[tuple[int, int]] = []
    match = RANGE.search(query)
    if match:
        low, high = _amount(match.group(1), match.group(2)), _amount(match.group(3), match.group(4))
        spans.append(match.span())
    else:
        for pattern in (MAX_BEFORE, MAX_AFTER):
            match = pattern.search(query)
            if match and not _is_spec(query, match):
                high = _amount(match.group(1), match.group(2))
                spans.append(match.span())
                break
        match = MIN_BEFORE.search(query)
        if match:
            low = _amount(match.group(1), match.group(2))
            spans.append(match.span())
    if low is None and high is None:
        return None
    if low is not None and high is not None and low > high:
        low, high = high, low
    text = query
    for start, end in sorted(spans, reverse=True):
        text = text[:start] + " " + text[end:]
    return PriceLimit(min_price=low, max_price=high, text=" ".join(text.split()))
