"""The one product schema and the views derived from it."""

from __future__ import annotations

from dataclasses import fields

import pytest

from daraz_llama.answers.context import ContextProduct
from daraz_llama.corpus import parse_corpus
from daraz_llama.reader import product_to_document
from daraz_llama.schema import FIELDS, VIEWS, keys, product_metadata, view
from tests.conftest import DEMO_CORPUS


def test_every_view_is_a_subset_of_the_schema_and_the_answer_view_fits_its_dataclass() -> None:
    names = [f.name for f in FIELDS]
    assert len(names) == len(set(names))
    for name in VIEWS:
        assert set(keys(name)) <= set(names)
    assert set(keys("context")) <= {f.name for f in fields(ContextProduct)}
    assert set(keys("catalog")) <= set(keys("llm")) | {"product_id"}  # filters never use a hidden field
    with pytest.raises(ValueError, match="unknown view"):
        keys("cards")


def test_documents_show_each_consumer_only_its_view() -> None:
    product = next(p for p in parse_corpus(DEMO_CORPUS).products if p.colors and p.images)
    metadata = product_metadata(product)
    assert metadata["colors"] == ", ".join(product.colors) and metadata["image_url"] == product.images[0]
    assert None not in metadata.values()
    document = product_to_document(product)
    visible_to_llm = set(metadata) - set(document.excluded_llm_metadata_keys)
    assert visible_to_llm == set(keys("llm")) & set(metadata)
    assert set(metadata) - set(document.excluded_embed_metadata_keys) == set(keys("embed")) & set(metadata)
    assert view(metadata, "row")["title"] == product.title and "seller" not in view(metadata, "row")
