"""Fine-tuning Gemma 3 270M as a query writer (doc2query): product card in, one shopper query out.

Pairs come from natural shopper queries (a search log, or hand-written ones), split by title group: the
held-out titles measure the model (answer loss before and after, in the card) and are never trained on.
Training reuses the generator's LoRA trainer (Unsloth on CUDA, peft elsewhere; loss on the query only).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Sequence

from daraz_llama.corpus import Product, parse_corpus
from daraz_llama.queries import QueryRecord
from daraz_llama.query_writer import writer_messages
from daraz_llama.training.generator import GeneratorPreset, train_generator
from daraz_llama.training.natural import load_natural

# Examples ~200 tokens (a card and a query): larger batches than the generator's at the same cost.
QUERYWRITER_PRESETS = {
    "tiny": GeneratorPreset("tiny", 8, 4, 2, 1, 1, 2e-4, 4, 384),
    "cpu": GeneratorPreset("cpu", 800, 100, 200, 4, 1, 3e-4, 16, 384),
    "gpu": GeneratorPreset("gpu", 100_000, 300, 900, 16, 1, 3e-4, 16, 384),
}
QUERYWRITER_DIR = "querywriter-ft"


def querywriter_example(product: Product, record: QueryRecord) -> dict[str, Any]:
    """One SFT example: the writer's prompt for ``product`` and the shopper's query as the answer."""
    system, user = writer_messages(product)
    return {
        "qid": record.qid,
        "messages": [
            {"role": "system", "content": system.content},
            {"role": "user", "content": user.content},
            {"role": "assistant", "content": record.query},
        ],
    }


def querywriter_sets(
    products: Sequence[Product], train_queries: Sequence[str | Path], preset: GeneratorPreset, seed: int = 13
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Train and held-out examples from ``train_queries`` (split by title group; at most the preset's counts)."""
    by_id = {product.product_id: product for product in products}
    natural = load_natural(train_queries, {pid: product.title for pid, product in by_id.items()}, seed)
    rng = random.Random(seed)

    def examples(records: list[QueryRecord], count: int) -> list[dict[str, Any]]:
        chosen = rng.sample(records, min(count, len(records)))
        return [querywriter_example(by_id[r.relevant_ids[0]], r) for r in chosen]

    return examples(natural.train, preset.train_questions), examples(natural.dev, preset.eval_questions)


def run_querywriter_pipeline(
    corpus: str | Path,
    train_queries: Sequence[str | Path],
    models_dir: str | Path = "models",
    size: str = "cpu",
    base: str | None = None,
    seed: int = 13,
) -> dict[str, Any]:
    """Fine-tune the query writer on ``corpus`` and ``train_queries`` into ``models_dir``/querywriter-ft."""
    from daraz_llama.answers.local_llm import base_gemma_folder

    if size not in QUERYWRITER_PRESETS:
        raise ValueError(f"unknown size {size!r}: choose one of {', '.join(QUERYWRITER_PRESETS)}")
    if not train_queries:
        raise ValueError("the query writer learns from natural queries: give --train-queries FILE")
    preset = QUERYWRITER_PRESETS[size]
    parsed = parse_corpus(corpus)
    train, held_out = querywriter_sets(parsed.products, train_queries, preset, seed)
    out_dir = Path(models_dir) / QUERYWRITER_DIR
    print(
        f"[train] querywriter: {len(train)} pairs, {len(held_out)} held out; fine-tuning "
        f"{base or 'Gemma 3 270M'} -> {out_dir}",
        flush=True,
    )
    card = train_generator(
        train,
        base or str(base_gemma_folder()),
        out_dir,
        preset,
        seed,
        title="daraz-llama query writer (Gemma 3 270M, doc2query)",
        held_out=held_out,
    )
    loss = f"{card['dev_before'].get('held_out_answer_loss', float('nan')):.3f} -> "
    loss += f"{card['dev_after'].get('held_out_answer_loss', float('nan')):.3f}"
    print(
        f"[train] querywriter: done in {card['train_seconds'] / 60:.1f} min with {card['backend']}; "
        f"held-out answer loss {loss}",
        flush=True,
    )
    return card
