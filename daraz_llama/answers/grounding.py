"""A LlamaIndex evaluator for grounded product answers: citations, prices, ratings, refusals."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Sequence

from llama_index.core.evaluation import BaseEvaluator, EvaluationResult
from llama_index.core.prompts.mixin import PromptDictType

from daraz_llama.answers.context import CONTEXT_HEADER, HEADER_RE, parse_context

CITATION_RE = re.compile(r"\[(\d+)\]")
OTHER_CURRENCY_SIGNS = "$€£₹¥"  # the catalog lists taka only
# Linear on any text: bounded gaps, and a number starts only where no digit, comma or dot is before it. An amount
# in another currency is a claim too (the catalog lists taka only, so "$20" is checked, and fails).
CURRENCY_BEFORE = rf"(?:৳|tk\.?|taka|bdt|[{re.escape(OTHER_CURRENCY_SIGNS)}])"
AMOUNT_RE = re.compile(
    CURRENCY_BEFORE + r"[ \t]{0,3}(?<![\d,.])([0-9][0-9,]{0,20}(?:\.[0-9]{1,4})?)"
    r"|(?<![\d,.])([0-9][0-9,]{0,20}(?:\.[0-9]{1,4})?)[ \t]{0,3}(?:৳|tk\b|taka|bdt)",
    re.IGNORECASE,
)
RATING_RE = re.compile(r"([0-5](?:\.[0-9])?)\s*/\s*5")
QUOTED_RE = re.compile(r"“[^”]*”|\"[^\"]*\"")  # the shopper's own words, quoted back: not a claim
REFUSAL_RE = re.compile(
    r"couldn'?t find|could not find|no product|nothing (?:in the catalog )?(?:fits|matches)|"
    r"not (?:in|available in) the catalog|don'?t have|do not have|no matching",
    re.IGNORECASE,
)


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def amounts(text: str) -> list[float]:
    return [_number(a or b) for a, b in AMOUNT_RE.findall(text)]


@dataclass
class GroundingReport:
    """Per-answer counts behind the score."""

    citations: int = 0
    valid_citations: int = 0
    amounts: int = 0
    correct_amounts: int = 0
    ratings: int = 0
    correct_ratings: int = 0
    refused: bool = False
    problems: list[str] = field(default_factory=list)


def check_answer(answer: str, context: str) -> GroundingReport:
    """Compare every citation, taka amount and rating in ``answer`` with the numbered ``context``."""
    products = {int(p["number"]): p for p in parse_context(context)}
    report = GroundingReport(refused=bool(REFUSAL_RE.search(answer)))
    for line in re.split(r"(?<=[.!?])\s+|\n", QUOTED_RE.sub(" ", answer)):
        cited = [int(n) for n in CITATION_RE.findall(line)]
        report.citations += len(cited)
        for n in cited:
            if n in products:
                report.valid_citations += 1
            else:
                report.problems.append(f"[{n}] cites no product in the context")
        pool = [products[n] for n in cited if n in products] or list(products.values())
        allowed_amounts = {_number(a or b) for p in pool for a, b in AMOUNT_RE.findall(p.get("price", ""))}
        for amount in amounts(CITATION_RE.sub(" ", line)):
            report.amounts += 1
            if amount in allowed_amounts:
                report.correct_amounts += 1
            else:
                report.problems.append(f"৳ {amount:,.0f} is not the price of {cited or 'any product'}")
        allowed_ratings = {float(r) for p in pool for r in RATING_RE.findall(p.get("rating", ""))}
        for rating in RATING_RE.findall(line):
            report.ratings += 1
            if float(rating) in allowed_ratings:
                report.correct_ratings += 1
            else:
                report.problems.append(f"rating {rating}/5 is not the rating of {cited or 'any product'}")
    return report


class GroundingEvaluator(BaseEvaluator):
    """Scores an answer against its numbered product context (``contexts[0]``).

    Pass ``expect_refusal=True`` for a question nothing in the catalog answers. The score is the
    share of checks passed: citation validity, price/rating accuracy and the right refusal behaviour.
    """

    def _get_prompts(self) -> PromptDictType:
        return {}

    def _update_prompts(self, prompts: PromptDictType) -> None:
        return None

    async def aevaluate(
        self,
        query: str | None = None,
        response: str | None = None,
        contexts: Sequence[str] | None = None,
        expect_refusal: bool | None = None,
        **kwargs: Any,
    ) -> EvaluationResult:
        if response is None or not contexts:
            raise ValueError("GroundingEvaluator needs the response and the numbered context")
        if not any(HEADER_RE.match(line) for line in contexts[0].splitlines()):
            raise ValueError(
                "GroundingEvaluator reads the numbered product context of daraz-llama's chat engine "
                f"(a '{CONTEXT_HEADER} (n):' block from format_context); contexts[0] is not one"
            )
        report = check_answer(response, contexts[0])
        has_products = bool(parse_context(contexts[0]))
        should_refuse = (not has_products) if expect_refusal is None else expect_refusal
        checks = [
            report.valid_citations == report.citations,
            report.correct_amounts == report.amounts,
            report.correct_ratings == report.ratings,
        ]
        if should_refuse:
            checks.append(report.refused and report.citations == 0)
        else:
            checks.append(not report.refused and report.citations > 0)
            if report.refused or report.citations == 0:
                report.problems.append("answer cites no product although products fit")
        if should_refuse and not (report.refused and report.citations == 0):
            report.problems.append("nothing fits, but the answer does not say so")
        score = sum(checks) / len(checks)
        return EvaluationResult(
            query=query,
            response=response,
            contexts=list(contexts),
            passing=all(checks),
            score=score,
            feedback="; ".join(report.problems) or "grounded",
            invalid_result=False,
        )
