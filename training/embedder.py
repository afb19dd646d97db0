"""Fine-tune the bi-encoder with SentenceTransformerTrainer and MultipleNegativesRankingLoss."""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Any

from datasets import Dataset
from sentence_transformers import (
    SentenceTransformer,
    SentenceTransformerModelCardData,
    SentenceTransformerTrainer,
    SentenceTransformerTrainingArguments,
)
from sentence_transformers.base.sampler import BatchSamplers
from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator
from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

from daraz_llama.models import torch_device
from daraz_llama.training.data import TrainingData, dev_retrieval_set, training_queries
from daraz_llama.training.model_card import write_model_card
from daraz_llama.training.presets import SizePreset
from daraz_llama.training.trainer_settings import checkpointed_settings

logger = logging.getLogger(__name__)


def _scores(results: dict[str, float], evaluator: InformationRetrievalEvaluator) -> dict[str, float]:
    prefix = f"{evaluator.name}_cosine_"
    keep = ("accuracy@1", "accuracy@5", "accuracy@10", "mrr@10", "ndcg@10")
    return {
        key[len(prefix) :]: float(value)
        for key, value in results.items()
        if key.startswith(prefix) and key[len(prefix) :] in keep
    }


def train_embedder(
    data: TrainingData, base_model: str, out_dir: Path, preset: SizePreset, seed: int = 13
) -> dict[str, Any]:
    """Train on (query, product passage) pairs, natural queries first (upsampled) then silver ones; keep the
    checkpoint best on natural-dev (silver dev when there are no natural queries)."""
    started = time.perf_counter()
    device = torch_device()
    model = SentenceTransformer(
        base_model,
        device=device,
        model_card_data=SentenceTransformerModelCardData(
            language="en",
            license="mit",
            model_name="daraz-llama fine-tuned embedder",
            train_datasets=[{"name": f"daraz-llama {data.selection_name} training queries"}],
        ),
    )
    model.max_seq_length = preset.embed_max_seq
    records = training_queries(data, preset.embed_queries, preset.natural_upsample, seed)
    pairs = [(r.query, data.passages[r.relevant_ids[0]]) for r in records if r.relevant_ids[0] in data.passages]
    train_dataset = Dataset.from_dict({"anchor": [q for q, _ in pairs], "positive": [p for _, p in pairs]})
    queries, corpus, relevant = dev_retrieval_set(data, preset.dev_queries, preset.dev_distractors, seed)
    evaluator = InformationRetrievalEvaluator(
        queries,
        corpus,
        relevant,
        name=data.selection_name,
        accuracy_at_k=[1, 5, 10],
        precision_recall_at_k=[10],
        map_at_k=[10],
        batch_size=64,
        show_progress_bar=False,
        write_csv=False,
    )
    before = _scores(evaluator(model), evaluator)
    logger.info("embedder before training: %s", before)
    steps = max(1, int(len(pairs) * preset.embed_epochs) // preset.embed_batch)
    checkpoints = out_dir.parent / f".{out_dir.name}-checkpoints"
    args = SentenceTransformerTrainingArguments(
        num_train_epochs=preset.embed_epochs,
        per_device_train_batch_size=preset.embed_batch,
        per_device_eval_batch_size=preset.embed_batch,
        learning_rate=preset.embed_lr,
        batch_sampler=BatchSamplers.NO_DUPLICATES,  # duplicates in a batch would be false in-batch negatives
        dataloader_drop_last=len(pairs) > preset.embed_batch,
        **checkpointed_settings(
            checkpoints, steps, preset.evals_per_run, f"eval_{data.selection_name}_cosine_ndcg@10", seed, device
        ),
    )
    trainer = SentenceTransformerTrainer(
        model=model,
        args=args,
        train_dataset=train_dataset,
        loss=MultipleNegativesRankingLoss(model),
        evaluator=evaluator,
    )
    trainer.train()
    after = _scores(evaluator(model), evaluator)
    logger.info("embedder after training: %s", after)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save(str(out_dir))
    shutil.rmtree(checkpoints, ignore_errors=True)
    card = {
        "base_model": base_model,
        "data_hash": data.data_hash,
        "train_pairs": len(pairs),
        "train_seconds": time.perf_counter() - started,
        "device": device,
        "settings": preset.as_dict(),
        "loss": "MultipleNegativesRankingLoss",
        "batch_sampler": "NO_DUPLICATES",
        "natural_train_queries": len(data.natural_train),
        "natural_upsample": preset.natural_upsample,
        "dev": {"split": data.selection_name, "queries": len(queries), "corpus": len(corpus)},
        "dev_before": before,
        "dev_after": after,
        "loss_log": [e for e in trainer.state.log_history if "loss" in e],
    }
    write_model_card(out_dir, "daraz-llama fine-tuned embedder", card, readme=False)  # README.md: the library's
    return card
