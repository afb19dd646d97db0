"""A FAISS vector store that can restrict a search to given nodes (for metadata filters)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import faiss
import numpy as np
from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.schema import BaseNode
from llama_index.core.vector_stores.types import VectorStoreQuery, VectorStoreQueryResult
from llama_index.vector_stores.faiss import FaissVectorStore
from llama_index.vector_stores.faiss.base import DEFAULT_PERSIST_PATH


class FilterableFaissVectorStore(FaissVectorStore):
    """``FaissVectorStore`` that remembers which node each row holds.

    A query with ``node_ids`` searches only those rows (an exact, id-restricted
    FAISS search), so filtering costs no recall. The row → node id list is
    persisted beside the FAISS file.
    """

    _row_node_ids: list[str] = PrivateAttr(default_factory=list)
    _row_of: dict[str, int] = PrivateAttr(default_factory=dict)

    def __init__(self, faiss_index: Any, row_node_ids: list[str] | None = None) -> None:
        super().__init__(faiss_index=faiss_index)
        self._row_node_ids = list(row_node_ids or [])
        self._row_of = {node_id: row for row, node_id in enumerate(self._row_node_ids)}
        if len(self._row_node_ids) != faiss_index.ntotal:
            raise ValueError(f"FAISS index has {faiss_index.ntotal} rows but {len(self._row_node_ids)} node ids")

    def add(self, nodes: Sequence[BaseNode], **add_kwargs: Any) -> list[str]:
        if not nodes:
            return []
        first = self._faiss_index.ntotal
        vectors = np.asarray([node.get_embedding() for node in nodes], dtype="float32")
        self._faiss_index.add(vectors)
        for offset, node in enumerate(nodes):
            self._row_node_ids.append(node.node_id)
            self._row_of[node.node_id] = first + offset
        return [str(first + offset) for offset in range(len(nodes))]

    def vectors(self) -> np.ndarray:
        """All stored vectors, row by row."""
        return self._faiss_index.reconstruct_n(0, self._faiss_index.ntotal)

    @property
    def row_node_ids(self) -> list[str]:
        return list(self._row_node_ids)

    def persist(self, persist_path: str = DEFAULT_PERSIST_PATH, fs: Any = None) -> None:
        super().persist(persist_path, fs=fs)
        Path(persist_path + ".ids.json").write_text(json.dumps(self._row_node_ids), encoding="utf-8")

    @classmethod
    def from_persist_path(cls, persist_path: str, fs: Any = None) -> "FilterableFaissVectorStore":
        index = faiss.read_index(persist_path)
        ids = json.loads(Path(persist_path + ".ids.json").read_text(encoding="utf-8"))
        return cls(faiss_index=index, row_node_ids=ids)

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        if query.filters is not None:
            raise ValueError("pass node_ids (not metadata filters) to restrict a FAISS search")
        if query.node_ids is None:
            return super().query(query, **kwargs)
        rows = np.asarray(sorted(self._row_of[n] for n in query.node_ids if n in self._row_of), dtype="int64")
        if rows.size == 0:
            return VectorStoreQueryResult(similarities=[], ids=[])
        vector = np.asarray(query.query_embedding, dtype="float32")[np.newaxis, :]
        params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(rows))  # type: ignore[call-arg]
        scores, found = self._faiss_index.search(vector, min(query.similarity_top_k, rows.size), params=params)
        hits = [(float(s), str(i)) for s, i in zip(scores[0], found[0]) if i >= 0]
        return VectorStoreQueryResult(similarities=[s for s, _ in hits], ids=[i for _, i in hits])
