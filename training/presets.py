"""Size presets for the retrieval training pipeline: tiny (tests), cpu (this 2-core machine), gpu."""

from __future__ import annotations

from dataclasses import asdict, dataclass

# Measured on this 2-core CPU in the full `--size cpu` run (benchmarks/RESULTS.md): examples per second.
CPU_EMBED_TRAIN_PAIRS_PER_S = 14.5  # MultipleNegativesRankingLoss, batch 48, passages at 128 tokens
CPU_EMBED_ENCODE_PER_S = 94.0  # inference at 128 tokens
CPU_CE_TRAIN_PAIRS_PER_S = 48.0  # cross-encoder rows at 64 tokens, batch 32
CPU_SEARCH_PER_S = 60.0  # product retrieval (bm25 + dense) while mining


@dataclass(frozen=True)
class SizePreset:
    """How much of the data each step uses, and how it trains."""

    name: str
    embed_queries: int | None  # training queries for the embedder: natural ones first, silver fill the rest (None: all)
    embed_epochs: float
    embed_batch: int
    embed_max_seq: int
    embed_lr: float
    dev_queries: int  # silver dev queries used to pick the best checkpoint
    dev_distractors: int  # extra products in the dev corpus besides the relevant ones
    evals_per_run: int  # how often the dev evaluation runs during embedder training
    ce_queries: int | None  # training queries for the cross-encoder: natural first, then silver (None: all)
    ce_negatives: int  # hard negatives per query
    ce_epochs: float
    ce_batch: int
    ce_max_len: int  # tokens the cross-encoder reads: the same as at query time
    ce_lr: float
    mine_depth: int  # products fetched from BM25 and from dense retrieval per query when mining
    budget_minutes: float | None  # the time this preset must fit on the CPU (None: no promise)
    natural_upsample: int = 2  # how many times each natural training query is seen by the embedder per epoch

    def validate(self) -> None:
        """Refuse settings that cannot work or that break the train/query-time contract."""
        if self.embed_batch < 2 or self.ce_batch < 2:
            raise ValueError(f"{self.name}: batches need at least 2 examples (in-batch negatives)")
        if not 16 <= self.embed_max_seq <= 512:
            raise ValueError(f"{self.name}: embed_max_seq {self.embed_max_seq} outside 16..512")
        if not 16 <= self.ce_max_len <= 512:
            raise ValueError(f"{self.name}: ce_max_len {self.ce_max_len} outside 16..512")
        if self.ce_negatives < 1 or self.mine_depth < self.ce_negatives:
            raise ValueError(f"{self.name}: need 1 <= ce_negatives <= mine_depth")
        if min(self.embed_epochs, self.ce_epochs, self.embed_lr, self.ce_lr) <= 0:
            raise ValueError(f"{self.name}: epochs and learning rates must be positive")
        if self.natural_upsample < 1:
            raise ValueError(f"{self.name}: natural_upsample must be at least 1")
        if self.dev_queries < 1 or self.evals_per_run < 1:
            raise ValueError(f"{self.name}: the dev evaluation needs queries and at least one run")
        if self.budget_minutes is not None and self.estimated_cpu_minutes(8298, 14215, 16251) > self.budget_minutes:
            raise ValueError(
                f"{self.name}: estimated {self.estimated_cpu_minutes(8298, 14215, 16251):.0f} min on "
                f"the CPU, over its {self.budget_minutes} min budget"
            )

    def estimated_cpu_minutes(self, products: int, chunks: int, train_queries: int) -> float:
        """Rough CPU time of the whole pipeline on a corpus of this size, from measured throughputs."""
        embed_pairs = min(self.embed_queries or train_queries, train_queries) * self.embed_epochs
        dev_corpus = min(products, self.dev_queries + self.dev_distractors)
        ce_queries = min(self.ce_queries or train_queries, train_queries)
        seconds = (
            embed_pairs / CPU_EMBED_TRAIN_PAIRS_PER_S
            + (self.evals_per_run + 2) * (dev_corpus + self.dev_queries) / CPU_EMBED_ENCODE_PER_S
            + chunks / CPU_EMBED_ENCODE_PER_S  # re-index with the fine-tuned embedder
            + (ce_queries + self.dev_queries) / CPU_SEARCH_PER_S
            + ce_queries * (1 + self.ce_negatives) * self.ce_epochs / CPU_CE_TRAIN_PAIRS_PER_S
        )
        return seconds / 60

    def as_dict(self) -> dict:
        return asdict(self)

    def embedder_settings(self) -> dict:
        """The settings that make the embedder: a change of cross-encoder settings does not retrain it."""
        return {key: value for key, value in asdict(self).items() if not key.startswith(("ce_", "mine_"))}


RERANKER_LOSSES = ("bce", "mnrl", "lambda", "listnet")  # pointwise, one-vs-negatives, listwise ×2

PRESETS = {
    "tiny": SizePreset(
        "tiny",
        embed_queries=40,
        embed_epochs=1,
        embed_batch=8,
        embed_max_seq=64,
        embed_lr=5e-5,
        dev_queries=10,
        dev_distractors=20,
        evals_per_run=1,
        ce_queries=20,
        ce_negatives=2,
        ce_epochs=1,
        ce_batch=8,
        ce_max_len=64,
        ce_lr=5e-5,
        mine_depth=5,
        budget_minutes=None,
    ),
    "cpu": SizePreset(
        "cpu",
        embed_queries=9000,
        embed_epochs=1,
        embed_batch=48,
        embed_max_seq=128,
        embed_lr=8e-5,
        dev_queries=400,
        dev_distractors=1600,
        evals_per_run=2,
        ce_queries=5000,
        ce_negatives=3,
        ce_epochs=1,
        ce_batch=32,
        ce_max_len=64,
        ce_lr=5e-5,
        mine_depth=10,
        budget_minutes=45,
    ),
    "gpu": SizePreset(
        "gpu",
        embed_queries=None,
        embed_epochs=2,
        embed_batch=128,
        embed_max_seq=256,
        embed_lr=8e-5,
        dev_queries=1000,
        dev_distractors=7000,
        evals_per_run=4,
        ce_queries=8000,
        ce_negatives=7,
        ce_epochs=1,
        ce_batch=64,
        ce_max_len=64,
        ce_lr=5e-5,
        mine_depth=20,
        budget_minutes=None,
    ),
}


def get_preset(name: str) -> SizePreset:
    if name not in PRESETS:
        raise ValueError(f"unknown size {name!r}: choose one of {', '.join(PRESETS)}")
    preset = PRESETS[name]
    preset.validate()
    return preset
