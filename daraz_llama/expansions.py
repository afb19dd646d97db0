"""Document expansion by predicted queries (doc2query): an expansion file read into one hidden chunk per product.

An expansion file is the query file ``daraz-llama expand`` writes (JSON Lines with ``product_id`` and
``query``). Each product's predicted queries become one extra chunk (its title and the queries) that BM25
(and, when asked, the dense index) searches; a hit on it counts for the product, but what a shopper or an
answer sees is always the product's first real chunk (:func:`shown_instead`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Collection, Sequence

from llama_index.core.schema import BaseNode, NodeRelationship, NodeWithScore, TextNode

from daraz_llama.corpus import file_sha256
from daraz_llama.postprocessor import product_id_of

EXPANSION_KEY = "predicted_queries"  # metadata flag of an expansion chunk (never shown, never embedded as text)
CHUNK_SUFFIX = "-queries"


class ExpansionError(ValueError):
    """The expansion file cannot be used."""


@dataclass
class Expansions:
    """Predicted queries per product, read from ``path``."""

    path: Path
    sha256: str
    by_product: dict[str, list[str]]
    problems: list[str] = field(default_factory=list)  # "FILE:LINE: why" for each line left out

    def describe(self, per_product: int | None, dense: bool) -> dict[str, object]:
        """What the index manifest records about these expansions."""
        used = [queries[:per_product] for queries in self.by_product.values()]
        return {
            "path": str(self.path.resolve()),
            "sha256": self.sha256,
            "per_product": per_product,
            "products": sum(1 for queries in used if queries),
            "queries": sum(len(queries) for queries in used),
            "into": "bm25+dense" if dense else "bm25",
        }


def load_expansions(path: str | Path, known_ids: Collection[str] | None = None) -> Expansions:
    """The predicted queries of ``path`` by product, in file order, duplicates dropped; lines that are not
    JSON objects with a ``product_id`` and a non-empty ``query`` (or name an unknown product) are reported."""
    path = Path(path)
    if not path.is_file():
        raise ExpansionError(f"expansion file not found: {path}")
    by_product: dict[str, list[str]] = {}
    problems: list[str] = []
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            product_id, query = str(record["product_id"]), " ".join(str(record["query"]).split())
        except (ValueError, KeyError, TypeError):
            problems.append(f"{path}:{number}: not a JSON object with product_id and query")
            continue
        if not query:
            problems.append(f"{path}:{number}: empty query")
        elif known_ids is not None and product_id not in known_ids:
            problems.append(f"{path}:{number}: product {product_id} is not in the corpus")
        elif query.lower() not in {q.lower() for q in by_product.get(product_id, [])}:
            by_product.setdefault(product_id, []).append(query)
    if not by_product:
        raise ExpansionError(f"{path}: no usable predicted query ({len(problems)} bad lines)")
    return Expansions(path, file_sha256(path), by_product, problems)


def expansion_nodes(
    nodes: Sequence[BaseNode], expansions: Expansions, per_product: int | None, append: bool = False
) -> list[TextNode]:
    """One chunk per product of ``nodes`` with predicted queries: its title (``append``: its whole first chunk,
    as doc2query appends queries to the passage) and (at most ``per_product``) queries, with the product's
    metadata (so filters apply) and the expansion flag."""
    first: dict[str, BaseNode] = {}
    for node in nodes:
        first.setdefault(product_id_of(node), node)
    made = []
    for product_id, node in first.items():
        queries = expansions.by_product.get(product_id, [])[:per_product]
        if not queries:
            continue
        title = node.get_content().strip() if append else str(node.metadata.get("title", "")).strip()
        metadata = {key: value for key, value in node.metadata.items() if key != "chunk"}
        metadata[EXPANSION_KEY] = True
        expansion = TextNode(
            id_=f"{product_id}{CHUNK_SUFFIX}",
            text="\n".join([title, *queries]).strip(),
            metadata=metadata,
            excluded_embed_metadata_keys=[*node.excluded_embed_metadata_keys, EXPANSION_KEY],
            excluded_llm_metadata_keys=[*node.excluded_llm_metadata_keys, EXPANSION_KEY],
        )
        source = node.relationships.get(NodeRelationship.SOURCE)
        if source is not None:
            expansion.relationships[NodeRelationship.SOURCE] = source
        made.append(expansion)
    return made


def is_expansion(node: NodeWithScore | BaseNode) -> bool:
    chunk = node.node if isinstance(node, NodeWithScore) else node
    return bool(chunk.metadata.get(EXPANSION_KEY))


def shown_instead(products: list[NodeWithScore], first_chunk: dict[str, BaseNode]) -> list[NodeWithScore]:
    """``products`` with each expansion chunk replaced by its product's first real chunk (same score)."""
    return [
        NodeWithScore(node=first_chunk[product_id_of(hit)], score=hit.score) if is_expansion(hit) else hit
        for hit in products
    ]
