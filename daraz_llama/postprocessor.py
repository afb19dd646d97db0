"""Node postprocessor that turns ranked chunks into ranked products."""

from __future__ import annotations

from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import BaseNode, NodeWithScore, QueryBundle


def product_id_of(node: NodeWithScore | BaseNode) -> str:
    """The product a chunk belongs to: its ``product_id`` metadata, else its source document, else itself."""
    chunk = node.node if isinstance(node, NodeWithScore) else node
    return str(chunk.metadata.get("product_id") or chunk.ref_doc_id or chunk.node_id)


def best_first(nodes: list[NodeWithScore]) -> list[NodeWithScore]:
    """Hits by score, equal scores by chunk id: catalogs repeat products word for word, and each search engine
    orders such ties its own way, so both stores break them by the same rule."""
    return sorted(nodes, key=lambda n: (-(n.score or 0.0), n.node.node_id))


class BestChunkPerProduct(BaseNodePostprocessor):
    """Keep only the best-scoring chunk of each product (max-pooling), best first."""

    @classmethod
    def class_name(cls) -> str:
        return "BestChunkPerProduct"

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        best: dict[str, NodeWithScore] = {}
        for node in sorted(nodes, key=lambda n: n.score if n.score is not None else float("-inf"), reverse=True):
            best.setdefault(product_id_of(node), node)
        return list(best.values())
