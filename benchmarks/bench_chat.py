"""Chat answer speed, as the Chainlit app produces answers, for each generator and local runtime in one run.

    python benchmarks/bench_chat.py --corpus ../shared/data/daraz_products_corpus.md --index-dir models/work/index-ft \
        [--questions ../shared/eval/dev_queries.jsonl] [--configs none,llama.cpp:fine-tuned,transformers:fine-tuned] \
        [--limit 10] [--local-limit 6] [--max-new-tokens 320]

A config is ``none`` or ``RUNTIME:MODEL`` (runtime llama.cpp or transformers, model fine-tuned or base).
Uses the app's shared ``Catalog`` and a fresh ``ProductChatEngine`` per question (retrieval included in
both times). Prints one row per config: prompt tokens, first token and full answer p50/p95, generated
tokens and tokens per second while decoding (counted in tokens, from the runtime). The base model is
not instruction-tuned and writes until ``--max-new-tokens``: its rows time full-length answers.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from daraz_llama.chat.catalog import Catalog, CatalogSource
from daraz_llama.chat.options import ChatOptions

SHARED = Path(__file__).resolve().parents[2] / "shared"


def options_for(config: str) -> ChatOptions:
    if config == "none":
        return ChatOptions(generator="none")
    runtime, _, model = config.partition(":")
    return ChatOptions(generator="local", local_runtime=runtime, local_model=model or "fine-tuned")


def p95(values: list[float]) -> float:
    return float(np.percentile(values, 95, method="nearest"))


def measure(catalog: Catalog, options: ChatOptions, questions: list[str]) -> dict[str, Any]:
    """Ask each question in a fresh conversation; answers the catalog refuses (no model runs) are left out
    of the local rows, which time the model."""
    rows = []
    for question in questions:
        engine = catalog.engine(options)
        started = time.perf_counter()
        first = None
        for _ in engine.stream_chat(question).response_gen:
            first = first if first is not None else time.perf_counter() - started
        total = time.perf_counter() - started
        assert engine.last_turn is not None
        generation = getattr(engine.llm, "last_generation", None)
        if options.generator == "local" and not engine.last_turn.products:
            continue  # refused by the catalog: the model did not run
        rows.append(
            {
                "first": first or total,
                "total": total,
                "prompt": generation.prompt_tokens if generation else 0,
                "tokens": generation.tokens if generation else 0,
                "rate": generation.tokens_per_s if generation else 0.0,
            }
        )
    return {
        "questions": len(rows),
        "prompt_p50": statistics.median(r["prompt"] for r in rows),
        "first_p50": statistics.median(r["first"] for r in rows),
        "first_p95": p95([r["first"] for r in rows]),
        "full_p50": statistics.median(r["total"] for r in rows),
        "full_p95": p95([r["total"] for r in rows]),
        "tokens_p50": statistics.median(r["tokens"] for r in rows),
        "tokens_per_s": statistics.median(r["rate"] for r in rows),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=str(SHARED / "data" / "daraz_products_corpus.md"))
    parser.add_argument("--index-dir", default="models/work/index-ft")
    parser.add_argument("--questions", default=str(SHARED / "eval" / "dev_queries.jsonl"))
    parser.add_argument("--configs", default="none,llama.cpp:fine-tuned,transformers:fine-tuned")
    parser.add_argument("--limit", type=int, default=10, help="questions for the none generator")
    parser.add_argument("--local-limit", type=int, default=6, help="questions for each local config")
    parser.add_argument("--max-new-tokens", type=int, default=320)
    parser.add_argument("--json", help="write the results here too")
    args = parser.parse_args()

    rows = [json.loads(line) for line in Path(args.questions).read_text(encoding="utf-8").splitlines() if line]
    questions = [row.get("query") or row.get("question") for row in rows]
    catalog = Catalog.load(CatalogSource(Path(args.corpus), Path(args.index_dir)))
    results = {}
    for config in args.configs.split(","):
        options = options_for(config)
        llm = catalog.llm(options)  # loaded before timing
        if hasattr(llm, "max_new_tokens"):
            llm.max_new_tokens = args.max_new_tokens
        count = args.limit if config == "none" else args.local_limit
        catalog.engine(options).chat(questions[0])  # warm: the retriever's and the runtime's first call
        results[config] = measure(catalog, options, questions[1 : count + 1])
    print(
        f"\nchat answers on {args.corpus} ({catalog.products} products), retrieval "
        f"{catalog.retriever(ChatOptions()).mode}, up to {args.max_new_tokens} new tokens"
    )
    header = ("config", "n", "prompt tok", "first p50", "first p95", "full p50", "full p95", "tokens", "tok/s")
    print(f"{header[0]:<26} " + " ".join(f"{h:>10}" for h in header[1:]))
    for config, r in results.items():
        values = (r["prompt_p50"], r["first_p50"], r["first_p95"], r["full_p50"], r["full_p95"], r["tokens_p50"])
        print(
            f"{config:<26} {r['questions']:>10} "
            + " ".join(f"{v:>10.2f}" if isinstance(v, float) else f"{v:>10}" for v in values)
            + f" {r['tokens_per_s']:>10.1f}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
