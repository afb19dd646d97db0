"""Hard negatives mined with BM25 and the fine-tuned embedder, saved for reproducible re-ranker runs."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from llama_index.core.schema import QueryBundle
from llama_index.core.utils import get_tqdm_iterable

from daraz_llama.index import ProductIndex
from daraz_llama.models import embed_queries
from daraz_llama.postprocessor import product_id_of
from daraz_llama.queries import QueryRecord
from daraz_llama.retriever import build_retriever
from daraz_llama.training.data import TrainingData


@dataclass
class MinedQuery:
    qid: str
    query: str
    positive_id: str
    negative_ids: list[str]


def mine_negatives(
    index: ProductIndex,
    data: TrainingData,
    queries: list[QueryRecord],
    per_query: int,
    depth: int,
    show_progress: bool = True,
) -> list[MinedQuery]:
    """For each query, the best-ranked wrong products from BM25 and dense retrieval, alternating.

    Neither the relevant products nor their duplicates (same title) are ever a negative, nor a listing
    whose title is a near duplicate of the positive's (likely the same item from another seller).
    """
    if index.embedder is None:
        raise ValueError("mining hard negatives needs an index with dense vectors")
    sparse = build_retriever(index, mode="bm25", top_k=depth, candidate_k=depth * 3)
    dense = build_retriever(index, mode="dense", top_k=depth, candidate_k=depth * 3)
    # Query vectors in batches (much faster than one at a time, on a GPU above all).
    embeddings = embed_queries(
        index.embedder, [record.query for record in queries], index.embedder_backend, show_progress=show_progress
    )
    mined = []
    for record, embedding in get_tqdm_iterable(list(zip(queries, embeddings)), show_progress, "Mining hard negatives"):
        excluded = data.duplicates_of(record.relevant_ids)
        bundle = QueryBundle(record.query, embedding=embedding)
        ranked = [[product_id_of(n) for n in retriever.retrieve(bundle)] for retriever in (sparse, dense)]
        negatives: list[str] = []
        for rank in range(depth):
            for ids in ranked:
                if (
                    rank < len(ids)
                    and ids[rank] not in excluded
                    and ids[rank] not in negatives
                    and not data.near_duplicate(ids[rank], record.relevant_ids[0])
                ):
                    negatives.append(ids[rank])
        if negatives:
            mined.append(MinedQuery(record.qid, record.query, record.relevant_ids[0], negatives[:per_query]))
    return mined


def save_negatives(path: Path, mined: list[MinedQuery], data_hash: str, model: str | None) -> None:
    header = {"data_hash": data_hash, "embedder": model, "count": len(mined)}
    lines = [json.dumps({"header": header})] + [json.dumps(asdict(m), ensure_ascii=False) for m in mined]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def load_negatives(path: Path, data_hash: str, model: str | None) -> list[MinedQuery] | None:
    """The saved negatives, or None when there are none for this data and embedder."""
    if not path.is_file():
        return None
    lines = path.read_text(encoding="utf-8").splitlines()
    header = json.loads(lines[0])["header"]
    if header.get("data_hash") != data_hash or header.get("embedder") != model:
        return None
    return [MinedQuery(**json.loads(line)) for line in lines[1:]]
