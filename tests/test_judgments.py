"""Graded (ESCI) judgments: the file, the metrics on hand-made rankings, and `eval --judgments`."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from daraz_llama.cli import main
from daraz_llama.evaluation import evaluate_retriever, format_table
from daraz_llama.judgments import graded_scores, load_judgments
from daraz_llama.queries import QueryRecord, load_queries
from tests.test_evaluation import DEMO_QUERIES, _FixedRetriever


def test_judgment_file_validation_reports_each_bad_line(tmp_path: Path) -> None:
    lines = [
        '{"qid": "q1", "pid": "a", "grade": "E"}',
        "{broken",
        '{"qid": "q1", "pid": "b", "grade": "X"}',
        '{"qid": "q1", "grade": "S"}',
        '{"qid": "q1", "pid": "a", "grade": "S"}',
        '{"qid": "q9", "pid": "a", "grade": "E"}',
        '{"qid": "q2", "pid": "zz", "grade": "I"}',
        '{"qid": "q2", "pid": "c", "grade": "s"}',
    ]
    path = tmp_path / "j.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    judged = load_judgments(path, known_qids={"q1", "q2"}, known_ids={"a", "b", "c"})
    assert judged.grades == {"q1": {"a": "E"}, "q2": {"c": "S"}} and judged.count == 2
    problems = {p.line: p.message for p in judged.problems}
    assert set(problems) == {2, 3, 4, 5, 6, 7}
    assert problems[2].startswith("not JSON") and "grade must be one of E, S, I" in problems[3]
    assert "missing pid" in problems[4] and "judged twice" in problems[5]
    assert "not in the query set" in problems[6] and "product zz not in the corpus" in problems[7]
    assert str(judged.problems[0]).startswith(f"{path}:2:")
    with pytest.raises(FileNotFoundError, match="judgments file not found"):
        load_judgments(tmp_path / "missing.jsonl")


def test_graded_metrics_on_hand_made_rankings() -> None:
    grades = {"a": "E", "b": "S", "c": "I", "d": "E", "e": "S"}
    log = [1 / math.log2(rank + 2) for rank in range(5)]
    ideal = log[0] + log[1] + 0.1 * log[2] + 0.1 * log[3]  # E, E, S, S, I
    scores = graded_scores(grades, ["b", "x", "a", "c", "d", "e"])
    assert scores["success@1"] == 0.0  # the first product is only a substitute
    assert scores["ndcg@5"] == pytest.approx((0.1 * log[0] + log[2] + log[4]) / ideal)
    assert scores["p@5(E)"] == pytest.approx(2 / 5) and scores["judged@5"] == pytest.approx(4 / 5)
    # Condensed: the unjudged "x" is dropped, so "e" moves into the first five.
    assert scores["success@1_condensed"] == 0.0
    assert scores["ndcg@5_condensed"] == pytest.approx((0.1 * log[0] + log[1] + log[3] + 0.1 * log[4]) / ideal)
    best = graded_scores(grades, ["a", "d", "b", "e", "c"])
    assert best["success@1"] == 1.0 and best["ndcg@5"] == pytest.approx(1.0) and best["judged@5"] == 1.0
    unjudged_first = graded_scores(grades, ["new", "a"])
    assert unjudged_first["success@1"] == 0.0 and unjudged_first["success@1_condensed"] == 1.0
    assert graded_scores(grades, [])["ndcg@5"] == 0.0 and graded_scores({"a": "I"}, ["a"])["ndcg@5"] == 0.0


def test_evaluate_retriever_adds_graded_and_llamaindex_metrics() -> None:
    queries = [QueryRecord("q1", "x", ["b"], {"style": "s"}), QueryRecord("q2", "y", ["c"], {"style": "t"})]
    judgments = {"q1": {"a": "S", "b": "E", "c": "E"}}  # q2 is not judged
    report = evaluate_retriever(
        _FixedRetriever(),
        queries,
        "fixed",
        show_progress=False,
        judgments=judgments,
        llama_index_metrics=["hit_rate", "ap"],
    )
    first, second = report.results
    assert first.metrics["success@1"] == 0.0 and first.metrics["p@5(E)"] == pytest.approx(2 / 5)
    assert "success@1" not in second.metrics
    assert first.metrics["hit_rate@10"] == 1.0 and first.metrics["ap@10"] == pytest.approx(0.5)
    summary = report.summary()
    assert summary["judged_queries"] == 1 and summary["success@1"] == 0.0 and summary["queries"] == 2
    assert summary["hit_rate@10"] == 1.0 and summary["recall@1"] == 0.0
    table = format_table({"fixed": summary})
    assert "S@1" in table and "nDCG@5" in table and "hit_rate@10" in table
    assert set(report.by_style()) == {"s", "t"} and "success@1" not in report.by_style()["t"]
    with pytest.raises(ValueError, match="Invalid metric name"):
        evaluate_retriever(_FixedRetriever(), queries, "fixed", show_progress=False, llama_index_metrics=["nope"])


def test_eval_command_with_judgments(demo_index_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    queries = load_queries(DEMO_QUERIES).queries
    rows = [{"qid": q.qid, "pid": pid, "grade": "E"} for q in queries for pid in q.relevant_ids]
    rows.append({"qid": queries[0].qid, "pid": "700000471", "grade": "I"})
    judgments = tmp_path / "judgments.jsonl"
    judgments.write_text(
        "".join(json.dumps(r) + "\n" for r in rows) + '{"qid": "d-01", "pid": "1", "grade": "E"}\n', encoding="utf-8"
    )
    out_json, out_png = tmp_path / "eval.json", tmp_path / "eval.png"
    code = main(
        [
            "eval",
            "--index-dir",
            str(demo_index_dir),
            "--queries",
            str(DEMO_QUERIES),
            "--modes",
            "bm25,hybrid",
            "--judgments",
            str(judgments),
            "--metrics",
            "precision",
            "--json",
            str(out_json),
            "--plot",
            str(out_png),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0 and "S@1" in captured.out and "judged" in captured.out
    assert f"{judgments}:{len(rows) + 1}: qid d-01: product 1 not in the corpus" in captured.err
    payload = json.loads(out_json.read_text(encoding="utf-8"))
    for mode in ("bm25", "hybrid"):
        summary = payload["summary"][mode]
        # Only the written-for products are E, so judged success@1 equals strict R@1 here.
        assert summary["success@1"] == pytest.approx(summary["recall@1"]) and summary["judged_queries"] == 12
        assert 0 < summary["judged@5"] <= 1 and "precision@10" in summary
        assert all("success@1" in by_style for by_style in payload["by_style"][mode].values())
    assert payload["settings"]["judgments"] == str(judgments)
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_dev_judgments_load_against_the_real_corpus(real_corpus: Path) -> None:
    from daraz_llama.corpus import parse_corpus

    eval_dir = real_corpus.parent.parent / "eval"
    qids = {q.qid for q in load_queries(eval_dir / "dev_queries.jsonl").queries}
    judged = load_judgments(
        eval_dir / "dev_judgments.jsonl",
        known_qids=qids,
        known_ids={p.product_id for p in parse_corpus(real_corpus).products},
    )
    assert judged.problems == [] and len(judged.grades) == 90 and judged.count >= 1000
