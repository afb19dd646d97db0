"""Training data: silver splits, product passages as the retriever sees them, duplicate groups."""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from llama_index.core.schema import BaseNode, MetadataMode

from daraz_llama.index import ProductIndex
from daraz_llama.queries import QueryRecord, load_queries, write_queries
from daraz_llama.silver import synthesise

NEAR_DUPLICATE_TITLE = 0.8
WORD_RE = re.compile(r"[0-9a-z]+")


def _title_words(title: str) -> set[str]:
    return set(WORD_RE.findall(title.lower()))


@dataclass
class TrainingData:
    """Everything the retrieval trainers read.

    ``train``/``dev`` are silver queries; ``natural_train``/``natural_dev`` the natural ones (a shop's
    search log or hand-written shopper queries), when given. Models are selected on natural-dev then.
    """

    train: list[QueryRecord]
    dev: list[QueryRecord]
    passages: dict[str, str]  # product id -> text of its first chunk, as embedded and re-ranked
    title_group: dict[str, str]  # product id -> its title: products that share one are duplicates
    data_hash: str
    natural_train: list[QueryRecord] = field(default_factory=list)
    natural_dev: list[QueryRecord] = field(default_factory=list)

    @property
    def selection_dev(self) -> list[QueryRecord]:
        """The queries models are selected and stopped on: natural-dev when there is one, else silver dev."""
        return self.natural_dev or self.dev

    @property
    def selection_name(self) -> str:
        return "natural-dev" if self.natural_dev else "silver-dev"

    def __post_init__(self) -> None:
        self._by_title: dict[str, set[str]] = {}
        for pid, title in self.title_group.items():
            self._by_title.setdefault(title, set()).add(pid)

    def near_duplicate(self, product_id: str, other_id: str) -> bool:
        """Whether two listings' titles share at least ``NEAR_DUPLICATE_TITLE`` of their words (Jaccard):
        mostly the same item from another seller, which a shopper would take as well."""
        a, b = (_title_words(self.title_group.get(pid, "")) for pid in (product_id, other_id))
        return bool(a and b) and len(a & b) / len(a | b) >= NEAR_DUPLICATE_TITLE

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


def prepare_data(
    index: ProductIndex,
    work_dir: Path,
    seed: int = 13,
    natural_files: Sequence[str | Path] = (),
    use_silver: bool = True,
) -> TrainingData:
    """Silver splits for the indexed corpus (written once to ``work_dir/data``, reused after), and the
    natural queries of ``natural_files`` split by title group into train and natural-dev.

    Silver queries of natural-dev titles are dropped, so selection on natural-dev sees no trained product.
    ``use_silver=False`` trains on natural queries alone (silver dev is still kept for reports).
    """
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
    natural_train: list[QueryRecord] = []
    natural_dev: list[QueryRecord] = []
    if natural_files:
        from daraz_llama.training.natural import load_natural

        natural = load_natural(natural_files, title_group, seed)
        natural_train, natural_dev = natural.train, natural.dev
        write_queries(data_dir / "natural-train.jsonl", natural_train)  # for `daraz-llama eval --queries`
        write_queries(data_dir / "natural-dev.jsonl", natural_dev)
        held_out = {title_group[pid] for q in natural_dev for pid in q.relevant_ids}
        train = [q for q in train if title_group.get(q.relevant_ids[0]) not in held_out]
    if not use_silver:
        if not natural_train:
            raise ValueError("training without silver queries needs natural ones (--train-queries)")
        train = []
    return TrainingData(
        train=train,
        dev=dev,
        passages=passages,
        title_group=title_group,
        data_hash=_hash_records(train, dev, natural_train, natural_dev),
        natural_train=natural_train,
        natural_dev=natural_dev,
    )


def sample(records: list[QueryRecord], limit: int | None, seed: int) -> list[QueryRecord]:
    """A deterministic sample of at most ``limit`` records (all of them when ``limit`` is None)."""
    if limit is None or limit >= len(records):
        return list(records)
    return random.Random(seed).sample(records, limit)


def training_queries(data: TrainingData, budget: int | None, natural_upsample: int, seed: int) -> list[QueryRecord]:
    """Natural queries (each ``natural_upsample`` times), then silver ones up to ``budget`` in all (None: all)."""
    natural = [q for _ in range(natural_upsample) for q in data.natural_train]
    room = None if budget is None else max(0, budget - len(natural))
    return natural + sample(data.train, room, seed)


def dev_retrieval_set(
    data: TrainingData, queries: int, distractors: int, seed: int
) -> tuple[dict[str, str], dict[str, str], dict[str, set[str]]]:
    """Queries, corpus and relevance for sentence-transformers' ``InformationRetrievalEvaluator``,
    from the selection split (natural-dev when there is one)."""
    chosen = sample(data.selection_dev, queries, seed)
    relevant = {q.qid: set(q.relevant_ids) for q in chosen}
    needed = set().union(*relevant.values())
    others = sorted(set(data.passages) - needed)
    extra = random.Random(seed).sample(others, min(distractors, len(others)))
    corpus = {pid: data.passages[pid] for pid in sorted(needed | set(extra)) if pid in data.passages}
    return {q.qid: q.query for q in chosen}, corpus, relevant
