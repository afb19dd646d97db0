"""Fine-tune the cross-encoder re-ranker with CrossEncoderTrainer on mined hard negatives."""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset
from sentence_transformers import CrossEncoder, CrossEncoderTrainer, CrossEncoderTrainingArguments
from sentence_transformers.cross_encoder.evaluation import CrossEncoderRerankingEvaluator
from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss, MultipleNegativesRankingLoss

from daraz_llama.models import torch_device
from training.data import TrainingData
from training.model_card import write_model_card
from training.negatives import MinedQuery
from training.presets import SizePreset
from training.trainer_settings import checkpointed_settings

logger = logging.getLogger(__name__)
DEV_NAME = "silver-dev"
LOSSES = ("bce", "listwise")


def _reranking_samples(data: TrainingData, mined: list[MinedQuery]) -> list[dict[str, Any]]:
    return [{"query": m.query, "positive": [data.passages[m.positive_id]],
             "negative": [data.passages[n] for n in m.negative_ids]} for m in mined]


def _dataset(data: TrainingData, mined: list[MinedQuery], loss: str, negatives: int) -> Dataset:
    if loss == "bce":  # pointwise: one (query, passage, label) row per candidate
        rows: dict[str, list] = {"query": [], "passage": [], "label": []}
        for m in mined:
            for pid, label in [(m.positive_id, 1.0)] + [(n, 0.0) for n in m.negative_ids]:
                rows["query"].append(m.query)
                rows["passage"].append(data.passages[pid])
                rows["label"].append(label)
        return Dataset.from_dict(rows)
    complete = [m for m in mined if len(m.negative_ids) >= negatives]  # listwise: fixed-width rows
    columns: dict[str, list] = {"query": [m.query for m in complete],
                                "positive": [data.passages[m.positive_id] for m in complete]}
    for i in range(negatives):
        columns[f"negative_{i + 1}"] = [data.passages[m.negative_ids[i]] for m in complete]
    return Dataset.from_dict(columns)


def _scores(results: dict[str, float]) -> dict[str, float]:
    """The evaluator's metrics without its name prefix."""
    return {k.split("_", 1)[1] if k.startswith(DEV_NAME) else k: float(v) for k, v in results.items()}


def train_reranker(data: TrainingData, train: list[MinedQuery], dev: list[MinedQuery], base_model: str,
                   out_dir: Path, preset: SizePreset, loss: str = "bce", seed: int = 13) -> dict[str, Any]:
    """Train a cross-encoder (fresh scoring head on ``base_model`` unless it is one already)."""
    if loss not in LOSSES:
        raise ValueError(f"unknown re-ranker loss {loss!r}: choose one of {', '.join(LOSSES)}")
    started = time.perf_counter()
    device = torch_device()
    model = CrossEncoder(base_model, num_labels=1, max_length=preset.ce_max_len, device=device)
    dataset = _dataset(data, train, loss, preset.ce_negatives)
    if loss == "bce":
        objective = BinaryCrossEntropyLoss(model, pos_weight=torch.tensor(float(preset.ce_negatives)))
    else:
        objective = MultipleNegativesRankingLoss(model, num_negatives=preset.ce_negatives)
    evaluator = CrossEncoderRerankingEvaluator(_reranking_samples(data, dev), at_k=10, name=DEV_NAME,
                                               always_rerank_positives=True, batch_size=64, write_csv=False)
    before = _scores(evaluator(model))
    steps = max(1, int(len(dataset) * preset.ce_epochs) // preset.ce_batch)
    checkpoints = out_dir.parent / f".{out_dir.name}-checkpoints"
    args = CrossEncoderTrainingArguments(
        num_train_epochs=preset.ce_epochs,
        per_device_train_batch_size=preset.ce_batch,
        learning_rate=preset.ce_lr,
        **checkpointed_settings(checkpoints, steps, 2, f"eval_{DEV_NAME}_ndcg@10", seed, device),
    )
    trainer = CrossEncoderTrainer(model=model, args=args, train_dataset=dataset, loss=objective, evaluator=evaluator)
    trainer.train()
    after = _scores(evaluator(model))
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save(str(out_dir))
    shutil.rmtree(checkpoints, ignore_errors=True)
    card = {
        "base_model": base_model, "data_hash": data.data_hash, "train_rows": len(dataset),
        "train_queries": len(train), "loss": loss, "train_seconds": time.perf_counter() - started, "device": device,
        "settings": preset.as_dict(), "dev": {"queries": len(dev)}, "dev_before": before, "dev_after": after,
        "loss_log": [e for e in trainer.state.log_history if "loss" in e],
    }
    write_model_card(out_dir, "daraz-llama fine-tuned re-ranker", card)
    return card
