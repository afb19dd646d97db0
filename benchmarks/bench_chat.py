"""Chat answer speed, as the Chainlit app produces answers: time to the first token and to the full answer.

    python benchmarks/bench_chat.py --corpus ../shared/data/daraz_products_corpus.md --index-dir models/work/index-ft \
        [--questions ../shared/eval/dev_queries.jsonl] [--generators none,local] [--limit 10] [--local-limit 4]

Uses the app's shared ``Catalog`` and a fresh ``ProductChatEngine`` per question (retrieval included in
both times), and prints one row per generator: p50/p95 first token, p50/p95 full answer, pieces per second.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import numpy as np

from daraz_llama.answers.evaluate import Question, evaluate_answers
from daraz_llama.chat.catalog import Catalog, CatalogSource
from daraz_llama.chat.options import ChatOptions

SHARED = Path(__file__).resolve().parents[2] / "shared"


def measure(catalog: Catalog, options: ChatOptions, questions: list[Question]) -> dict[str, float]:
    """Answer each question in a fresh conversation (``evaluate_answers`` times them) and sum up."""
    rows = evaluate_answers(lambda: catalog.engine(options), questions, show_progress=False)["answers"]
    first_tokens = [r["first_token_s"] for r in rows]
    totals = [r["total_s"] for r in rows]
    rates = [r["pieces"] / max(r["total_s"] - r["first_token_s"], 1e-6) for r in rows]
    return {
        "questions": len(rows),
        "first_p50": statistics.median(first_tokens),
        "first_p95": float(np.percentile(first_tokens, 95, method="nearest")),
        "full_p50": statistics.median(totals),
        "full_p95": float(np.percentile(totals, 95, method="nearest")),
        "pieces_per_s": statistics.median(rates),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=str(SHARED / "data" / "daraz_products_corpus.md"))
    parser.add_argument("--index-dir", default="models/work/index-ft")
    parser.add_argument("--questions", default=str(SHARED / "eval" / "dev_queries.jsonl"))
    parser.add_argument("--generators", default="none,local")
    parser.add_argument("--limit", type=int, default=10, help="questions for the none generator")
    parser.add_argument("--local-limit", type=int, default=4, help="questions for the local generator (slow on a CPU)")
    args = parser.parse_args()

    rows = [json.loads(line) for line in Path(args.questions).read_text(encoding="utf-8").splitlines() if line]
    questions = [Question(str(row["qid"]), row.get("query") or row.get("question")) for row in rows]
    catalog = Catalog.load(CatalogSource(Path(args.corpus), Path(args.index_dir)))
    results = {}
    for generator in args.generators.split(","):
        options = ChatOptions(generator=generator)
        count = args.local_limit if generator == "local" else args.limit
        catalog.engine(options)  # load the models before timing
        results[generator] = measure(catalog, options, questions[:count])
    print(
        f"\nchat answers on {args.corpus} ({catalog.products} products), retrieval "
        f"{catalog.retriever(ChatOptions()).mode}"
    )
    print(
        f"{'generator':<10} {'n':>3} {'first p50 s':>12} {'first p95 s':>12} {'full p50 s':>11} {'full p95 s':>11} "
        f"{'pieces/s':>9}"
    )
    for generator, r in results.items():
        print(
            f"{generator:<10} {r['questions']:>3} {r['first_p50']:>12.2f} {r['first_p95']:>12.2f} "
            f"{r['full_p50']:>11.2f} {r['full_p95']:>11.2f} {r['pieces_per_s']:>9.1f}"
        )


if __name__ == "__main__":
    main()
