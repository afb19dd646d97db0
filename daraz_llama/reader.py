"""LlamaIndex reader: one :class:`Document` per product of a DOC:START/END corpus."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.readers.base import BasePydanticReader
from llama_index.core.schema import Document

from daraz_llama.corpus import ParseProblem, ParseResult, Product, parse_corpus
from daraz_llama.schema import keys, product_metadata

EMBED_METADATA_KEYS = keys("embed")  # what the embedder (and BM25, which indexes the same text) sees besides the chunk
LLM_METADATA_KEYS = keys("llm")  # what an answer generator sees: everything a shopper may ask about, no plumbing


def product_text(product: Product) -> str:
    """The searchable text of ``product``: title, facts and description; no image links or plumbing."""
    facts = []
    if product.colors:
        facts.append("Colors: " + ", ".join(product.colors))
    if product.sizes:
        facts.append("Sizes: " + ", ".join(product.sizes))
    if product.returns_warranty:
        facts.append("Returns & warranty: " + "; ".join(product.returns_warranty))
    paragraphs = [product.title, "\n".join(facts), product.description or ""]
    return "\n\n".join(part for part in paragraphs if part)


def product_to_document(product: Product) -> Document:
    """Wrap ``product`` as a Document whose ``doc_id`` is the product id."""
    metadata = product_metadata(product)
    return Document(
        id_=product.product_id,
        text=product_text(product),
        metadata=metadata,
        excluded_embed_metadata_keys=[k for k in metadata if k not in EMBED_METADATA_KEYS],
        excluded_llm_metadata_keys=[k for k in metadata if k not in LLM_METADATA_KEYS],
    )


class DarazCorpusReader(BasePydanticReader):
    """Read a DOC:START/END Markdown corpus into one Document per product.

    A LlamaIndex ``BasePydanticReader``: serialisable, and usable in ``IngestionPipeline(readers=...)``.
    ``extra_info`` is added to every Document's metadata. Malformed blocks are skipped and reported:
    after ``load_data`` the problems of the last file read are in :attr:`problems`.
    """

    is_remote: bool = False
    _last_result: ParseResult | None = PrivateAttr(default=None)

    @classmethod
    def class_name(cls) -> str:
        return "DarazCorpusReader"

    @property
    def last_result(self) -> ParseResult | None:
        return self._last_result

    @property
    def problems(self) -> list[ParseProblem]:
        return self._last_result.problems if self._last_result else []

    def lazy_load_data(
        self, file: str | Path, extra_info: dict[str, Any] | None = None, **_: Any
    ) -> Iterable[Document]:
        self._last_result = parse_corpus(file)
        for product in self._last_result.products:
            document = product_to_document(product)
            if extra_info:
                document.metadata.update(extra_info)
            yield document

    def load_data(self, file: str | Path, extra_info: dict[str, Any] | None = None, **kwargs: Any) -> list[Document]:
        return list(self.lazy_load_data(file, extra_info=extra_info, **kwargs))
