"""Retrieval on shopper questions in full sentences: the raw question vs the standalone search.

    python benchmarks/bench_questions.py --index-dir INDEX [--questions ../shared/eval/dev_questions.jsonl]
        [--modes bm25,hybrid,hybrid+rerank]

For every answerable question with ``target_ids``, searches once with the whole sentence and once with
the search the chat engine makes of it (`daraz_llama.answers.shopper_query.search_query`), and prints per
mode Hit@1, Hit@5, MRR@10 (a target is a right product) and the median search time.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from daraz_llama.answers.evaluate import load_questions
from daraz_llama.answers.shopper_query import search_query
from daraz_llama.postprocessor import product_id_of
from daraz_llama.retriever import RetrieverConfig, build_retriever

SHARED = Path(__file__).resolve().parents[2] / "shared"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index-dir", required=True)
    parser.add_argument("--questions", default=str(SHARED / "eval" / "dev_questions.jsonl"))
    parser.add_argument("--modes", default="bm25,hybrid,hybrid+rerank")
    args = parser.parse_args()

    questions = [q for q in load_questions(args.questions) if q.answerable and q.target_ids]
    print(f"{len(questions)} answerable questions with targets, {args.questions}\n")
    print(f"{'mode':<15} {'query':<11} {'Hit@1':>6} {'Hit@5':>6} {'MRR@10':>7} {'p50 ms':>7}")
    for mode in args.modes.split(","):
        retriever = build_retriever(args.index_dir, RetrieverConfig(mode=mode, top_k=10))
        for label, make_query in (("question", lambda text: text), ("search", search_query)):
            hits1 = hits5 = reciprocal = 0.0
            times = []
            for question in questions:
                started = time.perf_counter()
                ranked = [product_id_of(n) for n in retriever.retrieve(make_query(question.question))]
                times.append(time.perf_counter() - started)
                ranks = [i for i, pid in enumerate(ranked, start=1) if pid in question.target_ids]
                first = ranks[0] if ranks else None
                hits1 += first == 1
                hits5 += first is not None and first <= 5
                reciprocal += 1 / first if first else 0.0
            n = len(questions)
            print(
                f"{mode:<15} {label:<11} {hits1 / n:>6.3f} {hits5 / n:>6.3f} {reciprocal / n:>7.3f} "
                f"{1000 * statistics.median(times):>7.0f}"
            )


if __name__ == "__main__":
    main()
