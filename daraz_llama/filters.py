"""The filters a shopper uses: category, brand, price range, minimum rating."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Mapping

from llama_index.core.vector_stores.types import FilterCondition, FilterOperator, MetadataFilter, MetadataFilters


@dataclass(frozen=True)
class ProductFilters:
    """Product filters; a field left ``None`` does not filter.

    Category and brand match case-insensitively. A product with no price never
    passes a price bound, and one without ratings never passes ``min_rating``.
    """

    category: str | None = None
    brand: str | None = None
    min_price: float | None = None
    max_price: float | None = None
    min_rating: float | None = None

    def __post_init__(self) -> None:
        for name in ("min_price", "max_price", "min_rating"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise ValueError(f"{name} must be a number, got {value}")
        if self.min_price is not None and self.max_price is not None and self.min_price > self.max_price:
            raise ValueError(f"min_price {self.min_price} is above max_price {self.max_price}")
        if self.min_rating is not None and not 0 <= self.min_rating <= 5:
            raise ValueError(f"min_rating must be between 0 and 5, got {self.min_rating}")

    @property
    def active(self) -> bool:
        return any(value is not None for value in asdict(self).values())

    def as_dict(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if value is not None}

    def matches(self, metadata: Mapping[str, Any]) -> bool:
        """Whether a product (or chunk) with this metadata passes every filter."""
        if self.category is not None and str(metadata.get("category", "")).casefold() != self.category.casefold():
            return False
        if self.brand is not None and str(metadata.get("brand", "")).casefold() != self.brand.casefold():
            return False
        price = metadata.get("price")
        if self.min_price is not None and (price is None or price < self.min_price):
            return False
        if self.max_price is not None and (price is None or price > self.max_price):
            return False
        rating = metadata.get("rating")
        if self.min_rating is not None and (rating is None or rating < self.min_rating):
            return False
        return True

    @classmethod
    def from_metadata_filters(cls, filters: MetadataFilters) -> "ProductFilters":
        """LlamaIndex ``MetadataFilters`` (AND of ``category ==``, ``brand ==``, ``price >=/<=``,
        ``rating >=``) as product filters; anything else is a ValueError naming it."""
        if filters.condition not in (None, FilterCondition.AND):
            raise ValueError(f"only AND filters are supported, got {filters.condition}")
        values: dict[str, Any] = {}
        for item in filters.filters:
            if not isinstance(item, MetadataFilter):
                raise ValueError("nested MetadataFilters are not supported")
            field_name = _FILTER_FIELDS.get((item.key, item.operator))
            if field_name is None:
                raise ValueError(
                    f"unsupported filter {item.key} {item.operator.value} {item.value!r}: use category ==, "
                    "brand ==, price >= / <=, rating >="
                )
            values[field_name] = item.value if field_name in ("category", "brand") else _number(item)
        return cls(**values)

    def to_metadata_filters(self) -> MetadataFilters:
        """These filters as LlamaIndex ``MetadataFilters``."""
        return MetadataFilters(
            filters=[
                MetadataFilter(key=key, operator=operator, value=getattr(self, name))
                for (key, operator), name in _FILTER_FIELDS.items()
                if getattr(self, name) is not None and operator != FilterOperator.GT and operator != FilterOperator.LT
            ]
        )


_FILTER_FIELDS = {
    ("category", FilterOperator.EQ): "category",
    ("brand", FilterOperator.EQ): "brand",
    ("price", FilterOperator.GTE): "min_price",
    ("price", FilterOperator.GT): "min_price",
    ("price", FilterOperator.LTE): "max_price",
    ("price", FilterOperator.LT): "max_price",
    ("rating", FilterOperator.GTE): "min_rating",
}


def _number(item: MetadataFilter) -> float:
    """The value of a price or rating filter as a number; a clear error for anything else."""
    try:
        if isinstance(item.value, bool) or not isinstance(item.value, (int, float, str)):
            raise ValueError
        return float(item.value)
    except ValueError:
        raise ValueError(f"filter {item.key} {item.operator.value} needs a number, got {item.value!r}") from None
