"""Graded relevance judgments on the ESCI scale and the metrics computed from them.

A judgments file is JSON Lines of ``{"qid", "pid", "grade"}`` with grade ``E`` (exact: meets every
stated requirement), ``S`` (substitute: right kind, misses a requirement) or ``I`` (irrelevant).
Products nobody has judged count as not E; the *condensed* metrics drop them from the ranking
instead, so a system is neither punished nor rewarded for products no one has graded yet.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Collection

from llama_index.core.evaluation.retrieval.metrics_base import BaseRetrievalMetric, RetrievalMetricResult

from daraz_llama.queries import QueryProblem

GAINS = {"E": 1.0, "S": 0.1, "I": 0.0}  # ESCI gains for nDCG
DEPTH = 5
GRADED_METRIC_NAMES = ("success@1", "ndcg@5", "p@5(E)", "judged@5", "success@1_condensed", "ndcg@5_condensed")


@dataclass
class JudgmentSet:
    """Grades by query id, then product id."""

    source: str
    grades: dict[str, dict[str, str]]
    problems: list[QueryProblem]

    @property
    def count(self) -> int:
        return sum(len(by_product) for by_product in self.grades.values())


def _validate(raw: Any, known_qids: Collection[str] | None, known_ids: Collection[str] | None) -> tuple[str, str, str]:
    if not isinstance(raw, dict):
        raise ValueError("not a JSON object")
    qid, pid, grade = raw.get("qid"), raw.get("pid"), raw.get("grade")
    if qid is None or not str(qid).strip():
        raise ValueError("missing qid")
    if pid is None or not str(pid).strip():
        raise ValueError(f"qid {qid}: missing pid")
    if not isinstance(grade, str) or grade.strip().upper() not in GAINS:
        raise ValueError(f"qid {qid}, pid {pid}: grade must be one of {', '.join(GAINS)}, got {grade!r}")
    qid, pid = str(qid), str(pid)
    if known_qids is not None and qid not in known_qids:
        raise ValueError(f"qid {qid}: not in the query set")
    if known_ids is not None and pid not in known_ids:
        raise ValueError(f"qid {qid}: product {pid} not in the corpus")
    return qid, pid, grade.strip().upper()


def load_judgments(
    path: str | Path, known_qids: Collection[str] | None = None, known_ids: Collection[str] | None = None
) -> JudgmentSet:
    """Read and validate a judgments file; bad lines are reported with their number and skipped."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"judgments file not found: {path}")
    grades: dict[str, dict[str, str]] = {}
    problems: list[QueryProblem] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            qid, pid, grade = _validate(json.loads(line), known_qids, known_ids)
            if pid in grades.get(qid, {}):
                raise ValueError(f"qid {qid}: product {pid} judged twice")
        except json.JSONDecodeError as err:
            problems.append(QueryProblem(str(path), number, f"not JSON ({err.msg})"))
        except ValueError as err:
            problems.append(QueryProblem(str(path), number, str(err)))
        else:
            grades.setdefault(qid, {})[pid] = grade
    return JudgmentSet(source=str(path), grades=grades, problems=problems)


class _GradedMetric(BaseRetrievalMetric):
    """A LlamaIndex retrieval metric scored from one query's grades (``pid -> E/S/I``)."""

    grades: dict[str, str]
    condensed: ClassVar[bool] = False

    def _ranking(self, retrieved_ids: list[str] | None) -> list[str]:
        ranking = list(retrieved_ids or [])
        return [pid for pid in ranking if pid in self.grades] if self.condensed else ranking

    def compute(
        self,
        query: str | None = None,
        expected_ids: list[str] | None = None,
        retrieved_ids: list[str] | None = None,
        expected_texts: list[str] | None = None,
        retrieved_texts: list[str] | None = None,
        **kwargs: Any,
    ) -> RetrievalMetricResult:
        return RetrievalMetricResult(score=self.score(self._ranking(retrieved_ids)))

    def score(self, ranking: list[str]) -> float:
        raise NotImplementedError


class SuccessAt1(_GradedMetric):
    """1 when the first product is judged E."""

    metric_name: ClassVar[str] = "success@1"

    def score(self, ranking: list[str]) -> float:
        return float(bool(ranking) and self.grades.get(ranking[0]) == "E")


class ESCINDCGAt5(_GradedMetric):
    """nDCG@5 with ESCI gains (E 1, S 0.1, I 0); the ideal ranking is built from every judged product."""

    metric_name: ClassVar[str] = "ndcg@5"

    def score(self, ranking: list[str]) -> float:
        dcg = sum(
            GAINS[self.grades[pid]] / math.log2(rank + 2)
            for rank, pid in enumerate(ranking[:DEPTH])
            if pid in self.grades
        )
        ideal_gains = sorted((GAINS[g] for g in self.grades.values()), reverse=True)[:DEPTH]
        ideal = sum(gain / math.log2(rank + 2) for rank, gain in enumerate(ideal_gains))
        return dcg / ideal if ideal > 0 else 0.0


class ExactPrecisionAt5(_GradedMetric):
    """Share of the first 5 positions holding a product judged E."""

    metric_name: ClassVar[str] = "p@5(E)"

    def score(self, ranking: list[str]) -> float:
        return sum(self.grades.get(pid) == "E" for pid in ranking[:DEPTH]) / DEPTH


class JudgedAt5(_GradedMetric):
    """Share of the first 5 products (as many as were returned) that carry a judgment."""

    metric_name: ClassVar[str] = "judged@5"

    def score(self, ranking: list[str]) -> float:
        top = ranking[:DEPTH]
        return sum(pid in self.grades for pid in top) / len(top) if top else 0.0


class CondensedSuccessAt1(SuccessAt1):
    metric_name: ClassVar[str] = "success@1_condensed"
    condensed: ClassVar[bool] = True


class CondensedESCINDCGAt5(ESCINDCGAt5):
    metric_name: ClassVar[str] = "ndcg@5_condensed"
    condensed: ClassVar[bool] = True


GRADED_METRICS: tuple[type[_GradedMetric], ...] = (
    SuccessAt1,
    ESCINDCGAt5,
    ExactPrecisionAt5,
    JudgedAt5,
    CondensedSuccessAt1,
    CondensedESCINDCGAt5,
)


def graded_scores(grades: dict[str, str], retrieved_ids: list[str]) -> dict[str, float]:
    """Every graded metric of one ranked product list."""
    return {
        metric.metric_name: metric(grades=grades).compute(retrieved_ids=retrieved_ids).score
        for metric in GRADED_METRICS
    }
