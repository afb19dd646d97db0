"""Training data: silver splits, product passages as the retriever sees them, duplicate groups."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from pathlib import Path

from llama_index.core.schema import BaseNode, MetadataMode

from daraz_llama.index import ProductIndex
from daraz_llama.queries import QueryRecord, load_queries, write_queries
from daraz_llama.silver import synthesise


@dataclass
class TrainingData:
    """Everything the retrieval trainers read."""

    train: list[QueryRecord]
    dev: list[QueryRecord]
    passages: dict[str, str]  # product id -> text of its first chunk, as embedded and re-ranked
    title_group: dict[str, str]  # product id -> its title: products that share one are duplicates
    data_hash: str

    def __post_init__(self) -> None:
        self._by_title: dict[str, set[str]] = {}
        for pid, title in self.title_group.items():
            self._by_title.setdefault(title, set()).add(pid)

    def duplicates_of(self, product_ids: list[str]) -> set[str]:
        """The products that share a title with any of ``product_ids`` (those included)."""
        found = set(product_ids)
        for pid in product_ids:
            found |= self._by_title.get(self.title_group.get(pid, ""), set())
        return found


def first_chunks(index: ProductIndex) -> list[BaseNode]:
    """The first chunk of every product, in corpus order."""
    first: dict[str, str] = {}
    for chunk in index.chunks:
        first.setdefault(chunk["product_id"], chunk["id"])
    return index.nodes(list(first.values()))


def _hash_records(*parts: list[QueryRecord]) -> str:
    digest = hashlib.sha256()
    for records in parts:
        for record in records:
            digest.update(record.to_json().encode("utf-8"))
    return digest.hexdigest()[:16]


def prepare_data(index: ProductIndex, work_dir: Path, seed: int = 13) -> TrainingData:
    """Silver splits for the indexed corpus (written once to ``work_dir/data``, reused after)."""
    data_dir = work_dir / "data"
    marker = data_dir / "corpus.sha256"
    corpus_hash = index.manifest["corpus"]["sha256"]
    if not (marker.is_file() and marker.read_text().strip() == f"{corpus_hash} {seed}"):
        from daraz_llama.corpus import parse_corpus

        splits = synthesise(parse_corpus(index.manifest["corpus"]["path"]).products, seed=seed)
        data_dir.mkdir(parents=True, exist_ok=True)
        for name, records in splits.as_dict().items():
            write_queries(data_dir / f"{name}.jsonl", records)
        marker.write_text(f"{corpus_hash} {seed}")
    known = set(index.product_ids())
    train = load_queries(data_dir / "train.jsonl", known).queries
    dev = load_queries(data_dir / "dev.jsonl", known).queries
    nodes = first_chunks(index)
    # The embed view (category, brand, title, text) is what the index embeds and the re-ranker reads.
    passages = {n.metadata["product_id"]: n.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes}
    title_group = {n.metadata["product_id"]: n.metadata["title"] for n in nodes}
    return TrainingData(train=train, dev=dev, passages=passages, title_group=title_group,
                        data_hash=_hash_records(train, dev))


def sample(records: list[QueryRecord], limit: int | None, seed: int) -> list[QueryRecord]:
    """A deterministic sample of at most ``limit`` records (all of them when ``limit`` is None)."""
    if limit is None or limit >= len(records):
        return list(records)
    return random.Random(seed).sample(records, limit)


def dev_retrieval_set(data: TrainingData, queries: int, distractors: int, seed: int
                      ) -> tuple[dict[str, str], dict[str, str], dict[str, set[str]]]:
    """Queries, corpus and relevance for sentence-transformers' ``InformationRetrievalEvaluator``."""
    chosen = sample(data.dev, queries, seed)
    relevant = {q.qid: set(q.relevant_ids) for q in chosen}
    needed = set().union(*relevant.values())
    others = sorted(set(data.passages) - needed)
    extra = random.Random(seed).sample(others, min(distractors, len(others)))
    corpus = {pid: data.passages[pid] for pid in sorted(needed | set(extra)) if pid in data.passages}
    return {q.qid: q.query for q in chosen}, corpus, relevant
