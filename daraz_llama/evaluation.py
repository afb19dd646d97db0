"""Product-level retrieval evaluation on LlamaIndex's ``RetrieverEvaluator`` and metric registry.

Retrieved chunks are mapped to products (best chunk first, each product once), so every
metric is computed over ranked products. Recall@k is the share of queries with a relevant
product among the first k (LlamaIndex's hit rate on the top-k): every listed product is an
equally right answer.
"""

from __future__ import annotations

import math
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.evaluation import RetrieverEvaluator
from llama_index.core.evaluation.retrieval.base import RetrievalEvalMode
from llama_index.core.evaluation.retrieval.metrics import MRR, NDCG, HitRate, resolve_metrics
from llama_index.core.evaluation.retrieval.metrics_base import BaseRetrievalMetric, RetrievalMetricResult
from llama_index.core.utils import get_tqdm_iterable

from daraz_llama.judgments import GRADED_METRIC_NAMES, graded_scores
from daraz_llama.postprocessor import product_id_of
from daraz_llama.queries import QueryRecord

METRIC_NAMES = ("recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10")
CUTOFF = 10


class CappedNDCG(NDCG):
    """nDCG@k whose ideal DCG counts at most k relevant items (LlamaIndex's counts them all,
    so a query with more relevant duplicates than k could never reach 1)."""

    cutoff: int = CUTOFF

    def compute(
        self,
        query: str | None = None,
        expected_ids: list[str] | None = None,
        retrieved_ids: list[str] | None = None,
        expected_texts: list[str] | None = None,
        retrieved_texts: list[str] | None = None,
        **kwargs: Any,
    ) -> RetrievalMetricResult:
        return super().compute(
            query=query, expected_ids=list(expected_ids or [])[: self.cutoff], retrieved_ids=retrieved_ids
        )


class _AtK(BaseRetrievalMetric):
    """A registry metric computed on the first ``k`` retrieved products; 0 when nothing was retrieved."""

    base: ClassVar[type[BaseRetrievalMetric]]
    k: ClassVar[int]

    def compute(
        self,
        query: str | None = None,
        expected_ids: list[str] | None = None,
        retrieved_ids: list[str] | None = None,
        expected_texts: list[str] | None = None,
        retrieved_texts: list[str] | None = None,
        **kwargs: Any,
    ) -> RetrievalMetricResult:
        top = list(retrieved_ids or [])[: self.k]
        if not top:
            return RetrievalMetricResult(score=0.0)
        return self.base().compute(query=query, expected_ids=expected_ids, retrieved_ids=top)


class RecallAt1(_AtK):
    metric_name: ClassVar[str] = "recall@1"
    base = HitRate
    k = 1


class RecallAt5(_AtK):
    metric_name: ClassVar[str] = "recall@5"
    base = HitRate
    k = 5


class RecallAt10(_AtK):
    metric_name: ClassVar[str] = "recall@10"
    base = HitRate
    k = 10


class MRRAt10(_AtK):
    metric_name: ClassVar[str] = "mrr@10"
    base = MRR
    k = CUTOFF


class NDCGAt10(_AtK):
    metric_name: ClassVar[str] = "ndcg@10"
    base = CappedNDCG
    k = CUTOFF


def product_metrics() -> list[BaseRetrievalMetric]:
    """Recall@1/5/10 (hit rate), MRR@10 and nDCG@10 over products."""
    return [RecallAt1(), RecallAt5(), RecallAt10(), MRRAt10(), NDCGAt10()]


def registry_scores(
    metrics: dict[str, type[BaseRetrievalMetric]], expected_ids: list[str], retrieved_ids: list[str]
) -> dict[str, float]:
    """Metrics of LlamaIndex's registry (name -> class, see ``resolve_metrics``) on the first 10 products,
    as ``name@10``; 0 when nothing was retrieved."""
    top = retrieved_ids[:CUTOFF]
    return {
        f"{name}@{CUTOFF}": metric().compute(expected_ids=expected_ids, retrieved_ids=top).score if top else 0.0
        for name, metric in metrics.items()
    }


class ProductRetrieverEvaluator(RetrieverEvaluator):
    """``RetrieverEvaluator`` that ranks products, not chunks, and times each retrieval."""

    last_latency_ms: float = 0.0

    async def _aget_retrieved_ids_and_texts(
        self, query: str, mode: RetrievalEvalMode = RetrievalEvalMode.TEXT
    ) -> tuple[list[str], list[str]]:
        started = time.perf_counter()
        nodes = self.retriever.retrieve(query)
        self.last_latency_ms = (time.perf_counter() - started) * 1000
        products: dict[str, str] = {}
        for node in nodes:
            products.setdefault(product_id_of(node), node.node.get_content())
        return list(products), list(products.values())


@dataclass
class QueryResult:
    qid: str
    style: str | None
    retrieved_ids: list[str]
    metrics: dict[str, float]
    latency_ms: float


@dataclass
class ModeReport:
    """Every number of one retriever over one query set."""

    mode: str
    results: list[QueryResult] = field(default_factory=list)

    def summary(self, results: list[QueryResult] | None = None) -> dict[str, float]:
        """Mean of every metric (graded ones over the judged queries), latency percentiles, query count."""
        results = self.results if results is None else results
        if not results:
            return {name: math.nan for name in (*METRIC_NAMES, "p50_ms", "p95_ms")} | {"queries": 0}
        latencies = sorted(r.latency_ms for r in results)
        names = list(dict.fromkeys(name for r in results for name in r.metrics))
        summary = {name: statistics.fmean(r.metrics[name] for r in results if name in r.metrics) for name in names}
        graded = [r for r in results if GRADED_METRIC_NAMES[0] in r.metrics]
        if graded:
            summary["judged_queries"] = len(graded)
        summary["p50_ms"] = statistics.median(latencies)
        summary["p95_ms"] = float(np.percentile(latencies, 95, method="nearest"))
        summary["queries"] = len(results)
        return summary

    def by_style(self) -> dict[str, dict[str, float]]:
        groups: dict[str, list[QueryResult]] = defaultdict(list)
        for result in self.results:
            if result.style is not None:
                groups[result.style].append(result)
        return {style: self.summary(items) for style, items in sorted(groups.items())}


def evaluate_retriever(
    retriever: BaseRetriever,
    queries: list[QueryRecord],
    mode: str,
    show_progress: bool = True,
    judgments: dict[str, dict[str, str]] | None = None,
    llama_index_metrics: list[str] | tuple[str, ...] = (),
) -> ModeReport:
    """Run every query through ``retriever`` and score the ranked products.

    ``judgments`` (qid -> product id -> E/S/I) adds the graded metrics to every judged query.
    """
    # By name (``hit_rate``, ``mrr``, ``precision``, ``recall``, ``ap``, ``ndcg``), resolved once: unknown names
    # fail before any query runs.
    registry = dict(zip(llama_index_metrics, resolve_metrics(list(llama_index_metrics))))
    evaluator = ProductRetrieverEvaluator(metrics=product_metrics(), retriever=retriever)
    report = ModeReport(mode=mode)
    for record in get_tqdm_iterable(queries, show_progress, f"Evaluating {mode}"):
        outcome = evaluator.evaluate(query=record.query, expected_ids=record.relevant_ids)
        metrics = outcome.metric_vals_dict | registry_scores(registry, record.relevant_ids, outcome.retrieved_ids)
        if judgments and record.qid in judgments:
            metrics |= graded_scores(judgments[record.qid], outcome.retrieved_ids)
        report.results.append(
            QueryResult(
                qid=record.qid,
                style=record.style,
                retrieved_ids=outcome.retrieved_ids,
                metrics=metrics,
                latency_ms=evaluator.last_latency_ms,
            )
        )
    return report


def format_table(rows: dict[str, dict[str, float]], first_column: str = "mode") -> str:
    """The original report's table: one row per mode (or style), five metrics and latency; any further
    metric (LlamaIndex's, graded) in a column of its own."""
    extra = [
        name
        for name in dict.fromkeys(k for s in rows.values() for k in s)
        if name not in (*METRIC_NAMES, "p50_ms", "p95_ms", "queries", "judged_queries")
    ]
    header = (
        f"{first_column:<16} {'R@1':>6} {'R@5':>6} {'R@10':>6} {'MRR@10':>7} {'nDCG@10':>8} "
        + "".join(f"{_column(name):>{max(8, len(_column(name)) + 1)}}" for name in extra)
        + f" {'p50 ms':>8} {'p95 ms':>8} {'n':>5}"
    )
    lines = [header, "-" * len(header)]
    for name, s in rows.items():
        lines.append(
            f"{name:<16} {s['recall@1']:>6.3f} {s['recall@5']:>6.3f} {s['recall@10']:>6.3f} "
            f"{s['mrr@10']:>7.3f} {s['ndcg@10']:>8.3f} "
            + "".join(f"{s.get(k, math.nan):>{max(8, len(_column(k)) + 1)}.3f}" for k in extra)
            + f" {s['p50_ms']:>8.1f} {s['p95_ms']:>8.1f} {int(s['queries']):>5}"
        )
    return "\n".join(lines)


def _column(metric: str) -> str:
    """A short column title: graded metrics are marked with a capital, e.g. ``S@1``, ``nDCG@5``."""
    return {
        "success@1": "S@1",
        "ndcg@5": "nDCG@5",
        "p@5(E)": "P@5(E)",
        "judged@5": "judged",
        "success@1_condensed": "S@1 cond",
        "ndcg@5_condensed": "nDCG@5 cond",
    }.get(metric, metric)
