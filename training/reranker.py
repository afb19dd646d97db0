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
from sentence_transformers.cross_encoder import CrossEncoderModelCardData
from sentence_transformers.cross_encoder.evaluation import CrossEncoderRerankingEvaluator
from sentence_transformers.cross_encoder.losses import (
    BinaryCrossEntropyLoss,
    LambdaLoss,
    ListNetLoss,
    MultipleNegativesRankingLoss,
)

from daraz_llama.models import torch_device
from daraz_llama.training.data import TrainingData
from daraz_llama.training.model_card import write_model_card
from daraz_llama.training.negatives import MinedQuery
from daraz_llama.training.presets import RERANKER_LOSSES, SizePreset
from daraz_llama.training.trainer_settings import checkpointed_settings

logger = logging.getLogger(__name__)
# bce: pointwise rows; mnrl: one positive against its negatives (softmax); lambda / listnet: listwise,
# one (query, [positive, negatives...], [1, 0, ...]) row per query.


def _reranking_samples(data: TrainingData, mined: list[MinedQuery]) -> list[dict[str, Any]]:
    return [
        {
            "query": m.query,
            "positive": [data.passages[m.positive_id]],
            "negative": [data.passages[n] for n in m.negative_ids],
        }
        for m in mined
    ]


def _dataset(data: TrainingData, mined: list[MinedQuery], loss: str, negatives: int) -> Dataset:
    if loss == "bce":  # pointwise: one (query, passage, label) row per candidate
        rows: dict[str, list] = {"query": [], "passage": [], "label": []}
        for m in mined:
            for pid, label in [(m.positive_id, 1.0)] + [(n, 0.0) for n in m.negative_ids]:
                rows["query"].append(m.query)
                rows["passage"].append(data.passages[pid])
                rows["label"].append(label)
        return Dataset.from_dict(rows)
    if loss in ("lambda", "listnet"):
        return Dataset.from_dict(
            {
                "query": [m.query for m in mined],
                "docs": [[data.passages[pid] for pid in [m.positive_id, *m.negative_ids]] for m in mined],
                "labels": [[1.0] + [0.0] * len(m.negative_ids) for m in mined],
            }
        )
    complete = [m for m in mined if len(m.negative_ids) >= negatives]  # mnrl: fixed-width rows
    columns: dict[str, list] = {
        "query": [m.query for m in complete],
        "positive": [data.passages[m.positive_id] for m in complete],
    }
    for i in range(negatives):
        columns[f"negative_{i + 1}"] = [data.passages[m.negative_ids[i]] for m in complete]
    return Dataset.from_dict(columns)


def _scores(results: dict[str, float], name: str) -> dict[str, float]:
    """The evaluator's metrics without its name prefix."""
    return {k.split("_", 1)[1] if k.startswith(name) else k: float(v) for k, v in results.items()}


def _objective(model: CrossEncoder, loss: str, negatives: int):
    if loss == "bce":
        return BinaryCrossEntropyLoss(model, pos_weight=torch.tensor(float(negatives)))
    if loss == "lambda":
        return LambdaLoss(model, mini_batch_size=16)
    if loss == "listnet":
        return ListNetLoss(model, mini_batch_size=16)
    return MultipleNegativesRankingLoss(model, num_negatives=negatives)


def train_reranker(
    data: TrainingData,
    train: list[MinedQuery],
    dev: list[MinedQuery],
    base_model: str,
    out_dir: Path,
    preset: SizePreset,
    loss: str = "bce",
    seed: int = 13,
) -> dict[str, Any]:
    """Train a cross-encoder (fresh scoring head on ``base_model`` unless it is one already)."""
    if loss not in RERANKER_LOSSES:
        raise ValueError(f"unknown re-ranker loss {loss!r}: choose one of {', '.join(RERANKER_LOSSES)}")
    started = time.perf_counter()
    device = torch_device()
    model = CrossEncoder(
        base_model,
        num_labels=1,
        max_length=preset.ce_max_len,
        device=device,
        model_card_data=CrossEncoderModelCardData(
            language="en",
            license="mit",
            model_name="daraz-llama fine-tuned re-ranker",
            train_datasets=[{"name": f"daraz-llama {data.selection_name} mined hard negatives"}],
        ),
    )
    dataset = _dataset(data, train, loss, preset.ce_negatives)
    objective = _objective(model, loss, preset.ce_negatives)
    dev_name = data.selection_name
    evaluator = CrossEncoderRerankingEvaluator(
        _reranking_samples(data, dev),
        at_k=10,
        name=dev_name,
        always_rerank_positives=True,
        batch_size=64,
        write_csv=False,
    )
    before = _scores(evaluator(model), dev_name)
    # Listwise rows hold a whole list: batches of lists, about as many (query, passage) pairs as bce's.
    batch = preset.ce_batch if loss == "bce" else max(2, preset.ce_batch // (1 + preset.ce_negatives))
    steps = max(1, int(len(dataset) * preset.ce_epochs) // batch)
    checkpoints = out_dir.parent / f".{out_dir.name}-checkpoints"
    args = CrossEncoderTrainingArguments(
        num_train_epochs=preset.ce_epochs,
        per_device_train_batch_size=batch,
        learning_rate=preset.ce_lr,
        **checkpointed_settings(checkpoints, steps, 2, f"eval_{dev_name}_ndcg@10", seed, device),
    )
    trainer = CrossEncoderTrainer(model=model, args=args, train_dataset=dataset, loss=objective, evaluator=evaluator)
    trainer.train()
    after = _scores(evaluator(model), dev_name)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save(str(out_dir))
    shutil.rmtree(checkpoints, ignore_errors=True)
    card = {
        "base_model": base_model,
        "data_hash": data.data_hash,
        "train_rows": len(dataset),
        "train_queries": len(train),
        "loss": loss,
        "train_seconds": time.perf_counter() - started,
        "device": device,
        "max_length": preset.ce_max_len,
        "settings": preset.as_dict(),
        "dev": {"split": dev_name, "queries": len(dev)},
        "dev_before": before,
        "dev_after": after,
        "loss_log": [e for e in trainer.state.log_history if "loss" in e],
    }
    write_model_card(out_dir, "daraz-llama fine-tuned re-ranker", card, readme=False)  # README.md: the library's
    return card
