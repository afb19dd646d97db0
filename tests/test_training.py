"""A tiny real run of the retrieval training pipeline, and the rules it must keep."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from daraz_llama.index import build_index, read_manifest
from daraz_llama.models import model_id
from daraz_llama.retriever import build_retriever
from training.data import prepare_data
from training.negatives import mine_negatives
from training.pipeline import run_retrieval_pipeline
from training.presets import PRESETS, get_preset

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
"""


@pytest.fixture(scope="module")
def corpus_with_duplicate(tmp_path_factory: pytest.TempPathFactory, demo_corpus: Path) -> Path:
    path = tmp_path_factory.mktemp("dup") / "corpus.md"
    path.write_text(demo_corpus.read_text(encoding="utf-8") + DUPLICATE_BLOCK, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, corpus_with_duplicate: Path):
    models = tmp_path_factory.mktemp("train") / "models"
    return run_retrieval_pipeline(corpus_with_duplicate, models, size="tiny", show_progress=False)


def test_pipeline_produces_loadable_models_with_cards(trained) -> None:
    assert trained.steps_run == ["embedder", "negatives", "reranker"]
    for folder, title in ((trained.embedder_dir, "embedder"), (trained.reranker_dir, "re-ranker")):
        card = json.loads((folder / "card.json").read_text(encoding="utf-8"))
        assert card["data_hash"] and card["settings"]["name"] == "tiny" and card["train_seconds"] > 0
        assert set(card["dev_before"]) & set(card["dev_after"]) and card["loss_log"]
        assert title in (folder / "README.md").read_text(encoding="utf-8")
    assert (trained.embedder_dir / "config.json").is_file() and (trained.reranker_dir / "config.json").is_file()
    manifest = read_manifest(trained.index_dir)
    assert manifest["embedder"]["id"] == model_id(str(trained.embedder_dir))


def test_retriever_picks_up_the_fine_tuned_models(trained, corpus_with_duplicate: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(trained.embedder_dir.parent.parent)  # ./models/ is found relative to the working folder
    retriever = build_retriever(corpus_with_duplicate, index_dir=tmp_path / "idx", mode="hybrid+rerank", top_k=3)
    assert retriever.mode == "hybrid+rerank"
    assert retriever.index.embedder == str(trained.embedder_dir.resolve())
    assert retriever.config.resolved_reranker() == str(trained.reranker_dir.resolve())
    results = retriever.retrieve("fantech wired gamepad")
    assert len(results) == 3 and all(r.score is not None for r in results)


def test_second_run_redoes_nothing(trained, corpus_with_duplicate: Path) -> None:
    again = run_retrieval_pipeline(corpus_with_duplicate, trained.embedder_dir.parent, size="tiny",
                                   show_progress=False)
    assert again.steps_run == []


def test_negatives_never_hold_positives_or_duplicates(corpus_with_duplicate: Path, minilm: str,
                                                      tmp_path: Path) -> None:
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


def test_cpu_preset_is_valid_and_fits_its_budget() -> None:
    cpu = get_preset("cpu")
    assert cpu.estimated_cpu_minutes(8298, 14215, 16251) <= cpu.budget_minutes == 45
    assert get_preset("gpu").embed_queries is None  # full size
    with pytest.raises(ValueError, match="feeds it"):
        dataclasses.replace(PRESETS["cpu"], ce_max_len=512).validate()
    with pytest.raises(ValueError, match="budget"):
        dataclasses.replace(PRESETS["cpu"], embed_epochs=20).validate()
    with pytest.raises(ValueError, match="unknown size"):
        get_preset("huge")
