"""Price limits typed into queries."""

from __future__ import annotations

import pytest

from daraz_llama.query_parsing import parse_price_limit


@pytest.mark.parametrize(
    "query, low, high, text",
    [
        ("smartwatch with 8 straps under 800 tk", None, 800, "smartwatch with 8 straps"),
        ("dell i3 laptop under 55000", None, 55000, "dell i3 laptop"),
        ("hp celeron laptop below 50k", None, 50000, "hp celeron laptop"),
        ("canvas sneakers under 500 tk grey", None, 500, "canvas sneakers grey"),
        ("saree 1,000 taka er niche", None, 1000, "saree"),
        ("jeans between 500 and 900 taka", 500, 900, "jeans"),
        ("phone above 20000 tk", 20000, None, "phone"),
        ("shoes under 500 kids", None, 500, "shoes kids"),
    ],
)
def test_price_limits(query: str, low: float | None, high: float | None, text: str) -> None:
    limit = parse_price_limit(query)
    assert limit is not None
    assert (limit.min_price, limit.max_price, limit.text) == (low, high, text)


@pytest.mark.parametrize("query", ["power bank under 10000 mah", "red saree", "tv under 32 inch", "iphone 15"])
def test_no_price_limit(query: str) -> None:
    assert parse_price_limit(query) is None
