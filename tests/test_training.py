"""A tiny real run of the retrieval training pipeline, and the rules it must keep."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from daraz_llama.index import build_index, read_manifest
from daraz_llama.models import model_id, trained_max_length
from daraz_llama.retriever import build_retriever
from daraz_llama.training.data import prepare_data, training_queries
from daraz_llama.training.natural import load_natural
from daraz_llama.training.negatives import mine_negatives
from daraz_llama.training.pipeline import run_retrieval_pipeline
from daraz_llama.training.presets import PRESETS, get_preset
from tests.test_evaluation import DEMO_QUERIES

DUPLICATE_BLOCK = """
<!--DOC:START id=799999901 category=gaming controllers -->
## Fantech WGP13 Wired Gamepad for PC, PS3 and Android  
**DocID:** 799999901

**Category:** gaming controllers  
**Brand:** Fantech  
**Price:** ৳ 1,399  

**Description:**
The same gamepad from another seller.

---
<!--DOC:END-->

<!--DOC:START id=799999902 category=gaming controllers -->
## Fantech WGP13 Wired Gamepad for PC, PS3 and Android Black  
**DocID:** 799999902

**Category:** gaming controllers  
**Brand:** Fantech  
**Price:** ৳ 1,450  

**Description:**
The same gamepad again, its title one word longer.

---
<!--DOC:END-->
"""


@pytest.fixture(scope="module")
def corpus_with_duplicate(tmp_path_factory: pytest.TempPathFactory, demo_corpus: Path) -> Path:
    path = tmp_path_factory.mktemp("dup") / "corpus.md"
    path.write_text(demo_corpus.read_text(encoding="utf-8") + DUPLICATE_BLOCK, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def natural_queries(tmp_path_factory: pytest.TempPathFactory, demo_corpus: Path) -> Path:
    """Natural queries for the demo corpus (its query set) with two bad lines."""
    path = tmp_path_factory.mktemp("natural") / "natural.jsonl"
    lines = DEMO_QUERIES.read_text(encoding="utf-8").splitlines()
    lines.insert(3, "{not json")
    lines.append('{"qid": "n-bad", "query": "ghost product", "relevant_ids": ["123"]}')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, corpus_with_duplicate: Path, natural_queries: Path):
    models = tmp_path_factory.mktemp("train") / "models"
    return run_retrieval_pipeline(
        corpus_with_duplicate,
        models,
        size="tiny",
        show_progress=False,
        train_queries=[natural_queries],
        reranker_loss="lambda",
    )


def test_pipeline_produces_loadable_models_with_cards(trained) -> None:
    assert trained.steps_run == ["embedder", "negatives", "reranker"]
    for folder, title in ((trained.embedder_dir, "embedder"), (trained.reranker_dir, "re-ranker")):
        card = json.loads((folder / "card.json").read_text(encoding="utf-8"))
        assert card["data_hash"] and card["settings"]["name"] == "tiny" and card["train_seconds"] > 0
        assert set(card["dev_before"]) & set(card["dev_after"]) and card["loss_log"]
        assert card["dev"]["split"] == "natural-dev"  # selected on the natural queries, not on silver
        readme = (folder / "README.md").read_text(encoding="utf-8")  # sentence-transformers' own model card
        assert f"daraz-llama fine-tuned {title}" in readme and "library_name: sentence-transformers" in readme
    embedder_card = json.loads((trained.embedder_dir / "card.json").read_text(encoding="utf-8"))
    assert embedder_card["natural_train_queries"] >= 9 and embedder_card["natural_upsample"] == 2
    assert "MultipleNegativesRankingLoss" in (trained.embedder_dir / "README.md").read_text(encoding="utf-8")
    reranker_card = json.loads((trained.reranker_dir / "card.json").read_text(encoding="utf-8"))
    assert reranker_card["loss"] == "lambda" and reranker_card["max_length"] == 64
    assert (trained.embedder_dir / "config.json").is_file() and (trained.reranker_dir / "config.json").is_file()
    manifest = read_manifest(trained.index_dir)
    assert manifest["embedder"]["id"] == model_id(str(trained.embedder_dir))


def test_retriever_picks_up_the_fine_tuned_models(
    trained, corpus_with_duplicate: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(trained.embedder_dir.parent.parent)  # ./models/ is found relative to the working folder
    retriever = build_retriever(corpus_with_duplicate, index_dir=tmp_path / "idx", mode="hybrid+rerank", top_k=3)
    assert retriever.mode == "hybrid+rerank"
    assert retriever.index.embedder == str(trained.embedder_dir.resolve())
    assert retriever.config.resolved_reranker() == str(trained.reranker_dir.resolve())
    results = retriever.retrieve("fantech wired gamepad")
    assert len(results) == 3 and all(r.score is not None for r in results)


def test_second_run_redoes_nothing(trained, corpus_with_duplicate: Path, natural_queries: Path) -> None:
    again = run_retrieval_pipeline(
        corpus_with_duplicate,
        trained.embedder_dir.parent,
        size="tiny",
        show_progress=False,
        train_queries=[natural_queries],
        reranker_loss="lambda",
    )
    assert again.steps_run == []
    longer = run_retrieval_pipeline(
        corpus_with_duplicate,
        trained.embedder_dir.parent,
        size="tiny",
        show_progress=False,
        train_queries=[natural_queries],
        reranker_loss="lambda",
        reranker_max_length=48,
    )
    assert longer.steps_run == ["reranker"]  # a cross-encoder setting does not retrain the embedder
    assert json.loads((trained.reranker_dir / "card.json").read_text(encoding="utf-8"))["max_length"] == 48
    assert trained_max_length(str(trained.reranker_dir)) == 48  # what the retriever will feed it


def test_natural_queries_are_validated_and_split_by_title(
    corpus_with_duplicate: Path, natural_queries: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from daraz_llama.corpus import parse_corpus

    titles = {p.product_id: p.title for p in parse_corpus(corpus_with_duplicate).products}
    natural = load_natural([natural_queries], titles, seed=3, dev_share=0.25)
    assert [(p.line, p.message) for p in natural.problems] == [
        (4, "not JSON (Expecting property name enclosed in double quotes)"),
        (14, "qid n-bad: relevant id(s) not in the corpus: 123"),
    ]
    assert f"{natural_queries}:4:" in capsys.readouterr().err
    assert len(natural.train) + len(natural.dev) == 12 and 2 <= len(natural.dev) <= 5
    dev_titles = {titles[pid] for q in natural.dev for pid in q.relevant_ids}
    assert not dev_titles & {titles[pid] for q in natural.train for pid in q.relevant_ids}
    with pytest.raises(ValueError, match="no valid query"):
        load_natural([natural_queries], {}, seed=3)


def test_real_natural_queries_split_without_leakage(real_corpus: Path) -> None:
    from daraz_llama.corpus import parse_corpus

    titles = {p.product_id: p.title for p in parse_corpus(real_corpus).products}
    natural = load_natural([real_corpus.parent / "train_queries.jsonl"], titles)
    assert natural.problems == [] and len(natural.train) + len(natural.dev) == 3624
    assert 0.08 <= len(natural.dev) / 3624 <= 0.12
    group = {pid: " ".join(titles[pid].lower().split()) for pid in titles}
    train_groups = {group[pid] for q in natural.train for pid in q.relevant_ids}
    assert not train_groups & {group[pid] for q in natural.dev for pid in q.relevant_ids}


def test_silver_queries_of_natural_dev_products_are_not_trained_on(
    corpus_with_duplicate: Path, natural_queries: Path, tmp_path: Path
) -> None:
    index = build_index(corpus_with_duplicate, tmp_path / "idx", embedder=None, show_progress=False)
    data = prepare_data(index, tmp_path / "work", 13, [natural_queries])
    dev_titles = {data.title_group[pid] for q in data.natural_dev for pid in q.relevant_ids}
    assert data.natural_dev and data.selection_dev == data.natural_dev
    assert not dev_titles & {data.title_group[q.relevant_ids[0]] for q in data.train}
    alone = prepare_data(index, tmp_path / "work", 13, [natural_queries], use_silver=False)
    assert alone.train == [] and alone.natural_train == data.natural_train and alone.data_hash != data.data_hash
    assert training_queries(alone, budget=5, natural_upsample=2, seed=1) == alone.natural_train * 2
    mixed = training_queries(data, budget=len(data.natural_train) * 2 + 4, natural_upsample=2, seed=1)
    assert (
        mixed[: 2 * len(data.natural_train)] == data.natural_train * 2 and len(mixed) == 2 * len(data.natural_train) + 4
    )


def test_negatives_never_hold_positives_or_duplicates(corpus_with_duplicate: Path, minilm: str, tmp_path: Path) -> None:
    index = build_index(corpus_with_duplicate, tmp_path / "idx", embedder=minilm, show_progress=False)
    data = prepare_data(index, tmp_path / "work")
    gamepad = [q for q in data.train + data.dev if "700000471" in q.relevant_ids or "799999901" in q.relevant_ids]
    assert gamepad and all(set(q.relevant_ids) == {"700000471", "799999901"} for q in gamepad)
    mined = mine_negatives(index, data, data.train + data.dev, per_query=5, depth=10, show_progress=False)
    by_qid = {q.qid: q for q in data.train + data.dev}
    assert mined
    for m in mined:
        forbidden = data.duplicates_of(by_qid[m.qid].relevant_ids)
        assert not forbidden & set(m.negative_ids) and len(m.negative_ids) <= 5
        assert len(set(m.negative_ids)) == len(m.negative_ids)
        if m.positive_id in {"700000471", "799999901"}:  # the near-duplicate listing is no negative either
            assert "799999902" not in m.negative_ids
    assert data.near_duplicate("700000471", "799999902") and not data.near_duplicate("700000471", "700000360")


def test_cpu_preset_is_valid_and_fits_its_budget() -> None:
    cpu = get_preset("cpu")
    assert cpu.estimated_cpu_minutes(8298, 14215, 16251) <= cpu.budget_minutes == 45
    assert get_preset("gpu").embed_queries is None  # full size
    with pytest.raises(ValueError, match="outside 16..512"):
        dataclasses.replace(PRESETS["cpu"], ce_max_len=1024).validate()
    with pytest.raises(ValueError, match="budget"):
        dataclasses.replace(PRESETS["cpu"], embed_epochs=20).validate()
    with pytest.raises(ValueError, match="unknown size"):
        get_preset("huge")
