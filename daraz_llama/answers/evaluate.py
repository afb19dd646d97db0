"""Score a generator on a question set: grounding (citations, prices, ratings, refusals) and speed."""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from llama_index.core.evaluation import FaithfulnessEvaluator, RelevancyEvaluator
from llama_index.core.llms import LLM
from llama_index.core.utils import get_tqdm_iterable

from daraz_llama.answers.chat_engine import ProductChatEngine
from daraz_llama.answers.context import ContextProduct, format_context
from daraz_llama.answers.grounding import CITATION_RE, GroundingEvaluator, check_answer


@dataclass
class Question:
    qid: str
    question: str
    answerable: bool = True
    target_ids: tuple[str, ...] = ()  # the products a right answer names first (optional)


def load_questions(path: str | Path) -> list[Question]:
    """JSON Lines of ``{"qid", "question", "answerable", "target_ids"}`` (``answerable`` defaults to true,
    ``target_ids`` to none)."""
    questions = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            targets = raw.get("target_ids", [])
            if not isinstance(targets, list):
                raise TypeError("target_ids must be a list of product ids")
            questions.append(
                Question(
                    str(raw["qid"]),
                    str(raw["question"]),
                    bool(raw.get("answerable", True)),
                    tuple(str(t) for t in targets),
                )
            )
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise ValueError(f"{path}:{number}: not a question record ({err})") from err
    return questions


def evaluate_answers(
    make_engine: Callable[[], ProductChatEngine],
    questions: list[Question],
    show_progress: bool = True,
    judge: LLM | None = None,
) -> dict[str, Any]:
    """Ask each question in a fresh conversation; aggregate grounding and latency.

    With a ``judge`` LLM, LlamaIndex's Faithfulness and Relevancy evaluators also score every
    answerable question (the answer against its numbered product context).
    """
    evaluator = GroundingEvaluator()
    judges = (FaithfulnessEvaluator(llm=judge), RelevancyEvaluator(llm=judge)) if judge is not None else None
    rows = []
    for q in get_tqdm_iterable(questions, show_progress, "Answering"):
        engine = make_engine()
        started = time.perf_counter()
        first = None
        pieces = []
        for piece in engine.stream_chat(q.question).response_gen:
            first = first if first is not None else time.perf_counter() - started
            pieces.append(piece)
        total = time.perf_counter() - started
        answer = "".join(pieces)
        turn = engine.last_turn
        assert turn is not None  # stream_chat has run
        context = format_context(turn.products, engine.style)
        result = evaluator.evaluate(
            query=q.question, response=answer, contexts=[context], expect_refusal=not q.answerable
        )
        report = check_answer(answer, context)
        cited_first = first_cited_product(answer, turn.products)
        generation = getattr(engine.llm, "last_generation", None) if turn.products else None  # None: no model ran
        rows.append(
            {
                "qid": q.qid,
                "answerable": q.answerable,
                "answer": answer,
                "passing": result.passing,
                "search": turn.standalone,
                "first_cited": cited_first,
                "first_cited_in_targets": cited_first in q.target_ids if q.target_ids else None,
                "target_retrieved": (
                    any(p.product_id in q.target_ids for p in turn.retrieved) if q.target_ids else None
                ),
                "feedback": result.feedback,
                "citations": report.citations,
                "valid_citations": report.valid_citations,
                "amounts": report.amounts,
                "correct_amounts": report.correct_amounts,
                "refused": report.refused,
                "first_token_s": first or total,
                "total_s": total,
                "pieces": len(pieces),
                "tokens": generation.tokens if generation else None,
                "tokens_per_s": generation.tokens_per_s if generation else None,
            }
        )
        if judges is not None and q.answerable:
            faithful, relevant = (j.evaluate(query=q.question, response=answer, contexts=[context]) for j in judges)
            rows[-1].update(faithful=bool(faithful.passing), relevant=bool(relevant.passing))

    def share(numerator: str, denominator: str) -> float:
        total = sum(r[denominator] for r in rows)
        return sum(r[numerator] for r in rows) / total if total else 1.0

    unanswerable = [r for r in rows if not r["answerable"]]
    answerable = [r for r in rows if r["answerable"]]
    summary = {
        "questions": len(rows),
        "grounded": sum(r["passing"] for r in rows) / len(rows) if rows else 0.0,
        "citation_validity": share("valid_citations", "citations"),
        "price_accuracy": share("correct_amounts", "amounts"),
        "refusal_accuracy": (
            sum(r["refused"] and r["citations"] == 0 for r in unanswerable) / len(unanswerable)
            if unanswerable
            else None
        ),
        "cites_when_answerable": (
            sum(r["citations"] > 0 and not r["refused"] for r in answerable) / len(answerable) if answerable else None
        ),
        **_target_shares(answerable),
        "first_token_p50_s": statistics.median(r["first_token_s"] for r in rows) if rows else None,
        "answer_p50_s": statistics.median(r["total_s"] for r in rows) if rows else None,
        "pieces_per_s": (sum(r["pieces"] for r in rows) / sum(r["total_s"] for r in rows)) if rows else None,
        "tokens_per_s_p50": (
            statistics.median(r["tokens_per_s"] for r in rows if r["tokens_per_s"])
            if any(r["tokens_per_s"] for r in rows)
            else None
        ),
    }
    judged = [r for r in rows if "faithful" in r]
    if judged:
        summary["judge_faithfulness"] = sum(r["faithful"] for r in judged) / len(judged)
        summary["judge_relevancy"] = sum(r["relevant"] for r in judged) / len(judged)
    return {"summary": summary, "answers": rows}


def first_cited_product(answer: str, products: list[ContextProduct]) -> str | None:
    """The product id of the first valid citation [n] in ``answer``."""
    by_number = {p.number: p.product_id for p in products}
    for number in CITATION_RE.findall(answer):
        if int(number) in by_number:
            return by_number[int(number)]
    return None


def _target_shares(answerable: list[dict[str, Any]]) -> dict[str, float]:
    """Over answerable questions with ``target_ids``: the first cited product is a target; a target was retrieved."""
    with_targets = [r for r in answerable if r["first_cited_in_targets"] is not None]
    if not with_targets:
        return {}
    return {
        "first_cited_in_targets": sum(r["first_cited_in_targets"] for r in with_targets) / len(with_targets),
        "target_retrieved": sum(r["target_retrieved"] for r in with_targets) / len(with_targets),
    }
