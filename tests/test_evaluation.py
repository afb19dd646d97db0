"""Query sets, silver queries, product-level metrics and the eval command."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from daraz_llama.cli import main
from daraz_llama.corpus import Product, parse_corpus
from daraz_llama.evaluation import ProductRetrieverEvaluator, evaluate_retriever, product_metrics
from daraz_llama.queries import QueryRecord, load_queries
from daraz_llama.silver import price_ceiling, synthesise, title_words

DEMO_QUERIES = Path(__file__).resolve().parent.parent / "daraz_llama" / "data" / "demo_queries.jsonl"


def test_query_file_validation_reports_each_bad_line(tmp_path: Path) -> None:
    lines = [
        '{"qid": "q1", "query": "red saree", "relevant_ids": ["1"], "style": "keyword", "note": "kept"}',
        "not json at all",
        '["a", "list"]',
        '{"qid": "q2", "query": "   ", "relevant_ids": ["1"]}',
        '{"qid": "q3", "query": "blue jeans", "relevant_ids": []}',
        '{"qid": "q4", "query": "blue jeans", "relevant_ids": ["1", "999"]}',
        '{"qid": "q1", "query": "again", "relevant_ids": ["2"]}',
        "",
        '{"qid": "q5", "query": "green tap", "relevant_ids": [2]}',
        '{"query": "no qid", "relevant_ids": ["1"]}',
    ]
    path = tmp_path / "q.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = load_queries(path, known_ids={"1", "2"})
    assert [q.qid for q in result.queries] == ["q1", "q5"]
    assert result.queries[0].extra == {"style": "keyword", "note": "kept"} and result.queries[0].style == "keyword"
    assert result.queries[1].relevant_ids == ["2"]
    problems = {p.line: p.message for p in result.problems}
    assert set(problems) == {2, 3, 4, 5, 6, 7, 10}
    assert problems[2].startswith("not JSON") and problems[3] == "not a JSON object"
    assert "empty query" in problems[4] and "non-empty list" in problems[5]
    assert "not in the corpus: 999" in problems[6] and "duplicate qid 'q1'" in problems[7]
    assert "missing qid" in problems[10]
    assert str(result.problems[0]).startswith(f"{path}:2:")


def test_dev_queries_load_against_the_real_corpus(real_corpus: Path) -> None:
    ids = {p.product_id for p in parse_corpus(real_corpus).products}
    result = load_queries(real_corpus.parent.parent / "eval" / "dev_queries.jsonl", known_ids=ids)
    assert len(result.queries) == 90 and result.problems == []


def _product(pid: str, title: str, **fields) -> Product:
    return Product(product_id=pid, title=title, category=fields.pop("category", "mens jeans"), line=1, **fields)


def test_silver_queries_shape_and_determinism(demo_corpus: Path) -> None:
    products = parse_corpus(demo_corpus).products
    first, again = synthesise(products, seed=3), synthesise(products, seed=3)
    assert [q.to_json() for q in first.train] == [q.to_json() for q in again.train]
    assert [q.query for q in synthesise(products, seed=4).train] != [q.query for q in first.train]
    every = [q for split in first.as_dict().values() for q in split]
    per_product: dict[str, int] = {}
    for q in every:
        per_product[q.relevant_ids[0]] = per_product.get(q.relevant_ids[0], 0) + 1
        assert 2 <= len(q.query.split()) <= 12 and q.query == q.query.lower()
    assert max(per_product.values()) <= 3 and len(per_product) == 60
    styles = {q.style for q in every}
    assert {"title", "brand_category", "price"} <= styles
    fantech = [q.query for q in every if q.relevant_ids == ["700000471"]]
    assert any(q.startswith("fantech ") for q in fantech)


def test_silver_constraints_and_words() -> None:
    assert [price_ceiling(p) for p in (45, 99, 535, 1350, 3814, 62990)] == [50, 100, 600, 1500, 4000, 70000]
    assert title_words("【No-profit】 NEW Stylish Premium POLO Shirt For Men") == ["polo", "shirt", "men"]


def test_splits_never_leak_products_or_duplicate_titles() -> None:
    products = [_product(str(i), f"Unique Jeans Model {i} Slim Black", price=500.0 + i) for i in range(300)]
    products += [_product(f"d{i}", "Same Title Denim Jacket Blue", price=900.0) for i in range(5)]
    splits = synthesise(products, seed=1)
    owner: dict[str, str] = {}
    for name, records in splits.as_dict().items():
        for record in records:
            for pid in record.relevant_ids:
                assert owner.setdefault(pid, name) == name, f"product {pid} in two splits"
    assert all(len(s) > 0 for s in splits.as_dict().values())
    duplicates = [q for split in splits.as_dict().values() for q in split if q.relevant_ids[0].startswith("d")]
    assert duplicates and all(sorted(q.relevant_ids) == [f"d{i}" for i in range(5)] for q in duplicates)
    titles: dict[str, str] = {}
    by_id = {p.product_id: p.title for p in products}
    for name, records in splits.as_dict().items():
        for record in records:
            assert titles.setdefault(by_id[record.relevant_ids[0]], name) == name


def test_real_silver_splits_do_not_leak(real_sample: Path) -> None:
    splits = synthesise(parse_corpus(real_sample).products)
    seen = [set(pid for q in records for pid in q.relevant_ids) for records in splits.as_dict().values()]
    assert not (seen[0] & seen[1]) and not (seen[0] & seen[2]) and not (seen[1] & seen[2])


def _metrics(expected: list[str], retrieved: list[str]) -> dict[str, float]:
    return {m.metric_name: m.compute(expected_ids=expected, retrieved_ids=retrieved).score for m in product_metrics()}


def test_metrics_on_hand_made_rankings() -> None:
    ranking = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"]
    assert _metrics(["a"], ranking) == {
        "recall@1": 1.0,
        "recall@5": 1.0,
        "recall@10": 1.0,
        "mrr@10": 1.0,
        "ndcg@10": 1.0,
    }
    third = _metrics(["c"], ranking)
    assert third["recall@1"] == 0.0 and third["recall@5"] == 1.0 and third["mrr@10"] == pytest.approx(1 / 3)
    assert third["ndcg@10"] == pytest.approx(1 / math.log2(4))
    late = _metrics(["k"], ranking)  # 11th: outside every cut-off
    assert late == {"recall@1": 0.0, "recall@5": 0.0, "recall@10": 0.0, "mrr@10": 0.0, "ndcg@10": 0.0}
    two = _metrics(["b", "c"], ranking)  # two duplicates at ranks 2 and 3
    ideal = 1 + 1 / math.log2(3)
    assert two["ndcg@10"] == pytest.approx((1 / math.log2(3) + 1 / math.log2(4)) / ideal)
    assert two["mrr@10"] == pytest.approx(0.5)
    many = _metrics([str(i) for i in range(12)], [str(i) for i in range(10)])  # 12 duplicates, top 10 perfect
    assert many["ndcg@10"] == pytest.approx(1.0)
    assert _metrics(["a"], [])["recall@10"] == 0.0


class _FixedRetriever(BaseRetriever):
    """Returns the same chunks for every query (product a has two chunks)."""

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        chunks = [("a-0", "a", 0.9), ("a-1", "a", 0.8), ("b-0", "b", 0.7), ("c-0", "c", 0.6)]
        return [
            NodeWithScore(node=TextNode(id_=cid, text=cid, metadata={"product_id": pid}), score=s)
            for cid, pid, s in chunks
        ]


def test_evaluator_ranks_products_not_chunks() -> None:
    evaluator = ProductRetrieverEvaluator(metrics=product_metrics(), retriever=_FixedRetriever())
    result = evaluator.evaluate(query="x", expected_ids=["b"])
    assert result.retrieved_ids == ["a", "b", "c"]
    assert result.metric_vals_dict["mrr@10"] == pytest.approx(0.5)
    report = evaluate_retriever(
        _FixedRetriever(), [QueryRecord("q", "x", ["c"], {"style": "s"})], "fixed", show_progress=False
    )
    summary = report.summary()
    assert summary["recall@1"] == 0.0 and summary["recall@5"] == 1.0 and summary["mrr@10"] == pytest.approx(1 / 3)
    assert summary["p50_ms"] >= 0 and summary["queries"] == 1 and set(report.by_style()) == {"s"}


def test_eval_command_end_to_end(demo_index_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_json, out_png = tmp_path / "eval.json", tmp_path / "eval.png"
    code = main(
        [
            "eval",
            "--index-dir",
            str(demo_index_dir),
            "--queries",
            str(DEMO_QUERIES),
            "--modes",
            "bm25,dense,hybrid",
            "--json",
            str(out_json),
            "--plot",
            str(out_png),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "R@1" in out and "MRR@10" in out and "by style" in out
    payload = json.loads(out_json.read_text(encoding="utf-8"))
    assert set(payload["summary"]) == {"bm25", "dense", "hybrid"}
    assert payload["settings"]["query_count"] == 12 and payload["settings"]["corpus"]["sha256"]
    hybrid = payload["summary"]["hybrid"]
    assert hybrid["recall@10"] >= hybrid["recall@5"] >= hybrid["recall@1"] >= 0.5  # real models, easy queries
    assert len(payload["per_query"]["bm25"]) == 12
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out_png.stat().st_size > 10_000


def test_queries_command_writes_three_splits(
    demo_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["queries", str(demo_corpus), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for name in ("train", "dev", "test"):
        assert f"{name}:" in out and (tmp_path / f"{name}.jsonl").is_file()
    loaded = load_queries(tmp_path / "train.jsonl")
    assert loaded.problems == [] and loaded.queries
