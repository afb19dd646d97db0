"""The retrieval training pipeline: data → embedder → re-index → hard negatives → cross-encoder.

Each step writes its output and a fingerprint of what it was made from; a re-run skips
every step whose output is still valid, so an interrupted run restarts where it stopped.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

from daraz_llama.index import ProductIndex
from daraz_llama.models import model_id, packaged_minilm_path
from daraz_llama.retriever import RetrieverConfig, open_index
from daraz_llama.training.data import TrainingData, prepare_data, sample, training_queries
from daraz_llama.training.model_card import read_model_card
from daraz_llama.training.negatives import MinedQuery, load_negatives, mine_negatives, save_negatives
from daraz_llama.training.presets import RERANKER_LOSSES, SizePreset, get_preset

logger = logging.getLogger(__name__)


@dataclass
class PipelineResult:
    embedder_dir: Path
    reranker_dir: Path
    index_dir: Path
    steps_run: list[str]
    seconds: float


def _fresh(card: dict | None, data_hash: str, base: str, settings: dict, **extra: object) -> bool:
    """Whether a model's card says it was made from this data, base and ``settings`` (compared on their keys)."""
    if not card:
        return False
    made_with = {key: card.get("settings", {}).get(key) for key in settings}
    same = card.get("data_hash") == data_hash and card.get("base_model") == base and made_with == settings
    return same and all(card.get(key) == value for key, value in extra.items())


def _say(step: str, message: str) -> None:
    print(f"[train] {step}: {message}", flush=True)


def run_retrieval_pipeline(
    corpus: str | Path,
    models_dir: str | Path = "models",
    size: str = "cpu",
    embedder_base: str | None = None,
    reranker_base: str | None = None,
    reranker_loss: str = "bce",
    seed: int = 13,
    force: bool = False,
    show_progress: bool = True,
    train_queries: Sequence[str | Path] = (),
    use_silver: bool = True,
    reranker_max_length: int | None = None,
) -> PipelineResult:
    """Train both retrieval models on ``corpus``; outputs in ``models_dir``/embedder-ft and reranker-ft.

    ``train_queries``: natural query files (a search log with clicked products has the same shape),
    split by title group into train and natural-dev; models are then selected on natural-dev and the
    silver queries are extra data (none with ``use_silver=False``).
    """
    if reranker_loss not in RERANKER_LOSSES:
        raise ValueError(f"unknown re-ranker loss {reranker_loss!r}: choose one of {', '.join(RERANKER_LOSSES)}")
    started = time.perf_counter()
    preset = get_preset(size)
    if reranker_max_length is not None:
        preset = replace(preset, ce_max_len=reranker_max_length)
        preset.validate()
    models_dir = Path(models_dir)
    work = models_dir / "work"
    embedder_dir, reranker_dir = models_dir / "embedder-ft", models_dir / "reranker-ft"
    embedder_base = embedder_base or packaged_minilm_path()
    reranker_base = reranker_base or packaged_minilm_path()
    steps: list[str] = []

    base_index = open_index(
        corpus, RetrieverConfig(embedder="none", index_dir=work / "index-bm25"), show_progress=show_progress
    )
    data = prepare_data(base_index, work, seed, train_queries, use_silver)
    counts = base_index.manifest["counts"]
    training_size = len(data.train) + preset.natural_upsample * len(data.natural_train)
    natural = (
        f"{len(data.natural_train)} train / {len(data.natural_dev)} natural-dev natural queries, "
        if train_queries
        else ""
    )
    _say(
        "data",
        f"{natural}{len(data.train)} train / {len(data.dev)} dev silver queries over {counts['products']} "
        f"products; selection on {data.selection_name}; preset {preset.name}, estimated "
        f"{preset.estimated_cpu_minutes(counts['products'], counts['chunks'], training_size):.0f} min on this CPU",
    )

    if _embedder_step(data, preset, embedder_base, embedder_dir, seed, force):
        steps.append("embedder")
    ft_index_dir = work / "index-ft"
    ft_index = open_index(
        corpus, RetrieverConfig(embedder=str(embedder_dir), index_dir=ft_index_dir), show_progress=show_progress
    )
    train_mined, dev_mined, mined = _negatives_step(ft_index, data, preset, work, seed, force, show_progress)
    if mined:
        steps.append("negatives")
    if _reranker_step(
        data, preset, train_mined, dev_mined, reranker_base, reranker_dir, reranker_loss, seed, force or mined
    ):
        steps.append("reranker")
    seconds = time.perf_counter() - started
    _say(
        "done",
        f"{', '.join(steps) or 'nothing to do'} in {seconds / 60:.1f} min; index with the fine-tuned "
        f"embedder: {ft_index_dir}",
    )
    return PipelineResult(embedder_dir, reranker_dir, ft_index_dir, steps, seconds)


def _embedder_step(data: TrainingData, preset: SizePreset, base: str, out_dir: Path, seed: int, force: bool) -> bool:
    """Fine-tune the embedder unless its card says it is up to date; whether it ran."""
    from daraz_llama.training.embedder import train_embedder

    if not force and _fresh(read_model_card(out_dir), data.data_hash, base, preset.embedder_settings()):
        _say("embedder", f"up to date in {out_dir}")
        return False
    _say("embedder", f"fine-tuning {base} -> {out_dir}")
    card = train_embedder(data, base, out_dir, preset, seed)
    _say("embedder", f"dev before {card['dev_before']} after {card['dev_after']} ({card['train_seconds']:.0f} s)")
    return True


def _negatives_step(
    index: ProductIndex, data: TrainingData, preset: SizePreset, work: Path, seed: int, force: bool, show_progress: bool
) -> tuple[list[MinedQuery], list[MinedQuery], bool]:
    """Hard negatives for training and dev, mined with ``index``'s embedder or reused; whether they were mined."""
    embedder_id = model_id(str(index.embedder))
    train_file = work / "data" / f"negatives-{preset.name}.jsonl"
    dev_file = work / "data" / f"negatives-dev-{preset.name}.jsonl"
    train_mined = load_negatives(train_file, data.data_hash, embedder_id)
    dev_mined = load_negatives(dev_file, data.data_hash, embedder_id)
    if not force and train_mined is not None and dev_mined is not None:
        _say("negatives", f"reusing {train_file}")
        return train_mined, dev_mined, False
    _say("negatives", f"mining with BM25 and {index.embedder}")
    ce_queries = training_queries(data, preset.ce_queries, 1, seed + 1)
    dev_queries = sample(data.selection_dev, preset.dev_queries, seed)
    train_mined = mine_negatives(index, data, ce_queries, preset.ce_negatives, preset.mine_depth, show_progress)
    dev_mined = mine_negatives(index, data, dev_queries, max(preset.ce_negatives, 9), preset.mine_depth, show_progress)
    save_negatives(train_file, train_mined, data.data_hash, embedder_id)
    save_negatives(dev_file, dev_mined, data.data_hash, embedder_id)
    return train_mined, dev_mined, True


def _reranker_step(
    data: TrainingData,
    preset: SizePreset,
    train_mined: list[MinedQuery],
    dev_mined: list[MinedQuery],
    base: str,
    out_dir: Path,
    loss: str,
    seed: int,
    force: bool,
) -> bool:
    """Fine-tune the cross-encoder unless its card says it is up to date; whether it ran."""
    from daraz_llama.training.reranker import train_reranker

    if not force and _fresh(read_model_card(out_dir), data.data_hash, base, preset.as_dict(), loss=loss):
        _say("reranker", f"up to date in {out_dir}")
        return False
    _say("reranker", f"fine-tuning {base} ({loss}) -> {out_dir}")
    card = train_reranker(data, train_mined, dev_mined, base, out_dir, preset, loss, seed)
    _say("reranker", f"dev before {card['dev_before']} after {card['dev_after']} ({card['train_seconds']:.0f} s)")
    return True


def run_generator_pipeline(
    corpus: str | Path,
    models_dir: str | Path = "models",
    size: str = "cpu",
    base: str | None = None,
    seed: int = 13,
    show_progress: bool = True,
    train_queries: Sequence[str | Path] = (),
) -> dict:
    """Build the SFT set from ``corpus`` (questions from the natural ``train_queries`` when given, and the
    silver queries) and fine-tune the generator into ``models_dir``/generator-ft, with its GGUF export.

    Also writes held-out questions (products of the natural-dev and silver dev splits, never trained on)
    for ``daraz-llama eval-answers``.
    """
    from daraz_llama.answers.local_llm import base_gemma_folder
    from daraz_llama.models import fine_tuned_dir
    from daraz_llama.training.generator import GENERATOR_PRESETS, build_sft_set, train_generator

    if size not in GENERATOR_PRESETS:
        raise ValueError(f"unknown size {size!r}: choose one of {', '.join(GENERATOR_PRESETS)}")
    preset = GENERATOR_PRESETS[size]
    models_dir = Path(models_dir)
    work = models_dir / "work"
    index_name = "index-ft" if (fine_tuned_dir("embedder-ft") / "config.json").is_file() else "index-base"
    index = open_index(corpus, RetrieverConfig(index_dir=work / index_name), show_progress=show_progress)
    data = prepare_data(index, work, seed, train_queries)
    examples = build_sft_set(index, data.train, preset.train_questions, seed, data.natural_train)
    held_out = build_sft_set(index, data.dev, preset.eval_questions, seed + 1, data.natural_dev)
    data_dir = work / "data"
    (data_dir / f"sft-{size}.jsonl").write_text(
        "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in examples), encoding="utf-8"
    )
    questions = [
        {
            "qid": e["qid"],
            "question": e["messages"][1]["content"].splitlines()[0].removeprefix("QUESTION: "),
            "answerable": "couldn't find" not in e["messages"][2]["content"],
        }
        for e in held_out
        if e["kind"] != "follow_up"  # a follow-up means nothing on its own
    ]
    (data_dir / f"generator-eval-{size}.jsonl").write_text(
        "".join(json.dumps(q, ensure_ascii=False) + "\n" for q in questions), encoding="utf-8"
    )
    _say(
        "generator",
        f"{len(examples)} SFT examples, {len(questions)} held-out questions; fine-tuning "
        f"{base or 'Gemma 3 270M'} -> {models_dir / 'generator-ft'}",
    )
    card = train_generator(examples, base or str(base_gemma_folder()), models_dir / "generator-ft", preset, seed)
    if base is None:  # tuned from the packaged GGUF: export it back to GGUF for the llama.cpp runtime
        from daraz_llama.answers.gguf_export import export_gguf

        export_gguf(models_dir / "generator-ft", base_gemma_folder())
    _say(
        "generator",
        f"done in {card['train_seconds'] / 60:.1f} min with {card['backend']}; held-out questions: "
        f"{data_dir / f'generator-eval-{size}.jsonl'}",
    )
    return card
