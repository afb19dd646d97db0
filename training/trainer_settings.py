"""Training-argument settings shared by the embedder and cross-encoder trainers."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def checkpointed_settings(
    output_dir: Path, steps: int, evals: int, best_metric: str, seed: int, device: str
) -> dict[str, Any]:
    """Evaluate ``evals`` times, keep the best checkpoint by ``best_metric``, log about ten times, no reporting."""
    every = max(1, steps // evals)
    return dict(
        output_dir=str(output_dir),
        warmup_ratio=0.1,
        eval_strategy="steps",
        eval_steps=every,
        save_strategy="steps",
        save_steps=every,
        save_total_limit=2,
        load_best_model_at_end=True,
        metric_for_best_model=best_metric,
        greater_is_better=True,
        logging_steps=max(1, min(25, steps // 10)),
        report_to="none",
        seed=seed,
        use_cpu=device == "cpu",
        **_mixed_precision(device),
    )


def _mixed_precision(device: str) -> dict[str, bool]:
    """bf16 on GPUs that support it (H100, A100), fp16 on older ones, full precision on the CPU."""
    if device != "cuda":
        return {}
    import torch

    return {"bf16": True} if torch.cuda.is_bf16_supported() else {"fp16": True}
