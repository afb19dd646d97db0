"""Chunk product Documents into title-carrying nodes of 40–160 words."""

from __future__ import annotations

import re
from typing import Any, Sequence

from llama_index.core.bridge.pydantic import ConfigDict, Field, model_validator
from llama_index.core.node_parser.interface import NodeParser
from llama_index.core.node_parser.node_utils import build_nodes_from_splits
from llama_index.core.schema import BaseNode, Document
from llama_index.core.utils import get_tqdm_iterable

from daraz_llama.text import word_count

SENTENCE_END = re.compile(r"(?<=[.!?।])\s+")


def _split_long(paragraph: str, max_words: int) -> list[str]:
    """Cut a paragraph longer than ``max_words`` at sentence ends, then at word boundaries."""
    pieces: list[str] = []
    current: list[str] = []
    for sentence in SENTENCE_END.split(paragraph):
        words = sentence.split()
        if len(words) > max_words:  # a "sentence" with no end in sight: cut it into full slices (linear)
            if current:
                pieces.append(" ".join(current))
                current = []
            whole = len(words) - len(words) % max_words
            pieces.extend(" ".join(words[i : i + max_words]) for i in range(0, whole, max_words))
            words = words[whole:]
        if len(current) + len(words) > max_words and current:
            pieces.append(" ".join(current))
            current = []
        current.extend(words)
    if current:
        pieces.append(" ".join(current))
    return pieces


def pack_paragraphs(text: str, min_words: int, max_words: int) -> list[str]:
    """Greedily pack the blank-line-separated paragraphs of ``text`` into chunks of at most ``max_words``.

    A trailing chunk shorter than ``min_words`` joins the one before it when the two still fit.
    """
    units: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text):
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        units.extend(_split_long(paragraph, max_words) if word_count(paragraph) > max_words else [paragraph])
    chunks: list[str] = []
    sizes: list[int] = []
    for unit in units:
        size = word_count(unit)
        if chunks and sizes[-1] + size <= max_words:
            chunks[-1] += "\n\n" + unit
            sizes[-1] += size
        else:
            chunks.append(unit)
            sizes.append(size)
    if len(chunks) > 1 and sizes[-1] < min_words and sizes[-2] + sizes[-1] <= max_words:
        chunks[-2] += "\n\n" + chunks.pop()
    return chunks


class ProductNodeParser(NodeParser):
    """Split each product into chunks of ``min_words``–``max_words`` words, each starting with the title.

    Node ids are ``<product id>-<n>`` (``<node id>-<n>`` for nodes from another parser), and every node
    points back to its product (``ref_doc_id`` and the SOURCE relationship).
    """

    model_config = ConfigDict(extra="forbid")  # a misspelt or foreign argument (chunk_size=) is an error

    min_words: int = Field(default=40, gt=0, description="A trailing chunk shorter than this is merged.")
    max_words: int = Field(default=160, gt=0, description="Upper bound on words per chunk, title excluded.")

    @model_validator(mode="after")
    def _bounds_in_order(self) -> "ProductNodeParser":
        if self.min_words > self.max_words:
            raise ValueError(f"min_words ({self.min_words}) must not exceed max_words ({self.max_words})")
        return self

    @classmethod
    def class_name(cls) -> str:
        return "ProductNodeParser"

    def settings(self) -> dict[str, Any]:
        """What changes the chunks, for index manifests."""
        return {"parser": self.class_name(), "min_words": self.min_words, "max_words": self.max_words}

    def _parse_nodes(self, nodes: Sequence[BaseNode], show_progress: bool = False, **kwargs: Any) -> list[BaseNode]:
        all_nodes: list[BaseNode] = []
        for node in get_tqdm_iterable(nodes, show_progress, "Chunking products"):
            all_nodes.extend(self._chunk(node))
        return all_nodes

    def _chunk(self, node: BaseNode) -> list[BaseNode]:
        title = str(node.metadata.get("title", "")).strip()
        body = node.get_content()
        if title and body.startswith(title):
            body = body[len(title) :]
        chunks = pack_paragraphs(body, self.min_words, self.max_words) or [""]
        texts = [f"{title}\n{chunk}".strip() for chunk in chunks]
        # A product Document gives "<product id>-<n>"; a node from another parser its own id, so chunks of two
        # nodes of one product never share an id.
        prefix = node.doc_id if isinstance(node, Document) else node.node_id
        built = build_nodes_from_splits(texts, node, id_func=lambda i, _doc: f"{prefix}-{i}")
        for index, chunk_node in enumerate(built):
            chunk_node.metadata = {**node.metadata, "chunk": index}
            chunk_node.excluded_embed_metadata_keys = [*node.excluded_embed_metadata_keys, "chunk"]
            chunk_node.excluded_llm_metadata_keys = [*node.excluded_llm_metadata_keys, "chunk"]
        return list(built)
