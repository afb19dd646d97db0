"""The queries whose first product is not judged E, from a `daraz-llama eval --json` file.

    python benchmarks/miss_examples.py EVAL.json --mode hybrid+rerank \
        [--queries ../shared/eval/dev_queries.jsonl] [--judgments ../shared/eval/dev_judgments.jsonl] [--limit 10]

Prints, per miss: the query and its style, the first product with its grade (E/S/I, or "unjudged") and
price, and the written-for product with the rank it got (or "not in the top 10").
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from daraz_llama.corpus import parse_corpus
from daraz_llama.judgments import load_judgments
from daraz_llama.queries import load_queries

SHARED = Path(__file__).resolve().parents[2] / "shared"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("eval_json")
    parser.add_argument("--mode", default="hybrid+rerank")
    parser.add_argument("--queries", default=str(SHARED / "eval" / "dev_queries.jsonl"))
    parser.add_argument("--judgments", default=str(SHARED / "eval" / "dev_judgments.jsonl"))
    parser.add_argument("--corpus", default=str(SHARED / "data" / "daraz_products_corpus.md"))
    parser.add_argument("--limit", type=int, default=10)
    args = parser.parse_args()

    payload = json.loads(Path(args.eval_json).read_text(encoding="utf-8"))
    products = {p.product_id: p for p in parse_corpus(args.corpus).products}
    queries = {q.qid: q for q in load_queries(args.queries).queries}
    grades = load_judgments(args.judgments).grades
    misses = [
        r
        for r in payload["per_query"][args.mode]
        if not r["retrieved_ids"] or grades.get(r["qid"], {}).get(r["retrieved_ids"][0]) != "E"
    ]
    print(
        f"{len(misses)} of {len(payload['per_query'][args.mode])} queries: first product not judged E ({args.mode})\n"
    )
    for result in misses[: args.limit]:
        query = queries[result["qid"]]
        wanted = query.relevant_ids[0]
        ranked = result["retrieved_ids"]
        first = ranked[0] if ranked else None
        rank = next((i + 1 for i, pid in enumerate(ranked) if pid in query.relevant_ids), None)
        grade = grades.get(query.qid, {}).get(first, "unjudged") if first else "-"

        def describe(pid: str) -> str:
            product = products[pid]
            price = f"৳{product.price:,.0f}" if product.price is not None else "no price"
            return f"{product.title[:90]} ({price})"

        print(f"{query.qid} [{query.style}] {query.query}")
        print(f"  first: {describe(first) if first else '(nothing)'} -> {grade}")
        print(f"  wanted: {describe(wanted)} -> {f'rank {rank}' if rank else 'not in the top 10'}\n")


if __name__ == "__main__":
    main()
