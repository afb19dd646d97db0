"""Persistence: round trip, incremental rebuilds, staleness and atomic writes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from daraz_llama import index as index_module
from daraz_llama.index import (
    DamagedIndexError,
    IndexNotFoundError,
    IndexWriteError,
    StaleIndexError,
    build_index,
    current_version_dir,
    load_index,
    read_manifest,
    staleness,
)
from daraz_llama.node_parser import ProductNodeParser
from daraz_llama.retriever import RetrievalWarning, RetrieverConfig, build_retriever, open_index


def test_round_trip(demo_index_dir: Path, demo_corpus: Path, minilm: str) -> None:
    manifest = read_manifest(demo_index_dir)
    assert manifest["counts"]["products"] == 60 and manifest["counts"]["problems"] == 0
    assert manifest["embedder"]["id"].startswith(str(Path(minilm).resolve()) + "@")
    assert manifest["embedder"]["name"] == str(Path(minilm).resolve()) and manifest["embedder"]["dim"] == 384
    assert manifest["chunking"] == ProductNodeParser().settings()
    assert manifest["corpus"]["path"] == str(demo_corpus.resolve())
    loaded = load_index(demo_index_dir)
    assert len(loaded.chunks) == manifest["counts"]["chunks"]
    assert loaded.storage is not None and loaded.storage.vector_store.client.ntotal == len(loaded.chunks)
    assert loaded.nodes([loaded.chunk_ids[0]])[0].metadata["product_id"] == loaded.chunks[0]["product_id"]
    assert len(loaded.product_ids()) == 60


def test_loading_does_no_embedding_work(demo_index_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("loading must not embed")

    monkeypatch.setattr("llama_index.embeddings.huggingface.HuggingFaceEmbedding._get_text_embeddings", refuse)
    loaded = load_index(demo_index_dir)
    results = build_retriever(loaded, mode="bm25").retrieve("gaming headset")
    assert results


def test_incremental_rebuild_embeds_only_changed_chunks(tmp_path: Path, demo_corpus: Path, minilm: str) -> None:
    corpus = tmp_path / "corpus.md"
    shutil.copy(demo_corpus, corpus)
    first = build_index(corpus, tmp_path / "idx", embedder=minilm, show_progress=False)
    assert first.manifest["counts"]["reused_vectors"] == 0
    text = corpus.read_text(encoding="utf-8")
    corpus.write_text(text.replace("Budget black jeans", "Cheap black jeans"), encoding="utf-8")
    second = build_index(corpus, tmp_path / "idx", embedder=minilm, show_progress=False)
    assert second.manifest["counts"]["embedded"] == 1
    assert second.manifest["counts"]["reused_vectors"] == second.manifest["counts"]["chunks"] - 1
    # Reused vectors equal fresh ones: a search for the changed product still works.
    top = build_retriever(tmp_path / "idx", mode="dense", embedder=minilm, top_k=1).retrieve("cheap black jeans")
    assert "Budget Edition" in top[0].node.metadata["title"]
    assert len(list((tmp_path / "idx" / "versions").iterdir())) == 2  # older versions than the last are cleaned up


def test_stale_index_is_detected(tmp_path: Path, demo_corpus: Path, minilm: str) -> None:
    corpus = tmp_path / "corpus.md"
    shutil.copy(demo_corpus, corpus)
    build_index(corpus, tmp_path / "idx", embedder=minilm, show_progress=False)
    manifest = read_manifest(tmp_path / "idx")
    assert staleness(manifest) == []
    assert any("embedder" in r for r in staleness(manifest, embedder="BAAI/bge-small-en-v1.5"))
    assert any("chunking" in r for r in staleness(manifest, parser=ProductNodeParser(max_words=100)))
    corpus.write_text(corpus.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    assert any("changed" in r for r in staleness(manifest))
    with pytest.raises(StaleIndexError, match="daraz-llama index"):
        build_retriever(tmp_path / "idx")
    with pytest.raises(StaleIndexError, match="embedder"):
        build_retriever(load_index(tmp_path / "idx"), embedder="BAAI/bge-small-en-v1.5")
    # Opening from the corpus with index_dir refreshes the stale index instead.
    with pytest.warns(RetrievalWarning, match="is stale .* rebuilding"):
        refreshed = open_index(
            corpus, RetrieverConfig(index_dir=tmp_path / "idx", embedder=minilm), show_progress=False
        )
    assert refreshed.manifest["counts"]["embedded"] == 0
    assert staleness(read_manifest(tmp_path / "idx")) == []


def test_interrupted_build_keeps_the_last_good_index(
    tmp_path: Path, demo_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = build_index(demo_corpus, tmp_path / "idx", embedder=None, show_progress=False)
    good_version = current_version_dir(tmp_path / "idx")

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("power cut while writing")

    monkeypatch.setattr(index_module.json, "dumps", crash)
    with pytest.raises(KeyboardInterrupt):
        build_index(demo_corpus, tmp_path / "idx", embedder=None, show_progress=False)
    monkeypatch.undo()
    assert current_version_dir(tmp_path / "idx") == good_version
    assert len(load_index(tmp_path / "idx").chunks) == len(good.chunks)


def test_missing_index_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(IndexNotFoundError, match="daraz-llama index CORPUS"):
        load_index(tmp_path)


def test_concurrent_builds_leave_one_good_index(tmp_path: Path, demo_corpus: Path) -> None:
    """Four `index` processes into one folder at once, twice: they take turns and the live index loads."""
    import subprocess
    import sys

    script = (
        "import sys; from daraz_llama.index import build_index; "
        "build_index(sys.argv[1], sys.argv[2], embedder=None, show_progress=False)"
    )
    for _ in range(2):
        builders = [
            subprocess.Popen(
                [sys.executable, "-c", script, str(demo_corpus), str(tmp_path / "idx")],
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(4)
        ]
        errors = [b.communicate(timeout=300)[1] for b in builders]
        assert [b.returncode for b in builders] == [0] * 4, errors
        assert len(load_index(tmp_path / "idx").chunks) > 0
        versions = sorted(p.name for p in (tmp_path / "idx" / "versions").iterdir())
        assert len(versions) == 2 and not any(v.endswith(".partial") for v in versions)  # live + the one before


def test_a_new_build_keeps_the_version_readers_may_still_load(tmp_path: Path, demo_corpus: Path) -> None:
    build_index(demo_corpus, tmp_path / "idx", embedder=None, show_progress=False)
    first = current_version_dir(tmp_path / "idx")
    build_index(demo_corpus, tmp_path / "idx", embedder=None, show_progress=False)
    second = current_version_dir(tmp_path / "idx")
    assert first.is_dir() and second != first
    build_index(demo_corpus, tmp_path / "idx", embedder=None, show_progress=False)
    assert not first.exists() and second.is_dir()


@pytest.mark.parametrize(
    ("damage", "file"),
    [
        (
            lambda v: (v / "default__vector_store.json").write_bytes(
                (v / "default__vector_store.json").read_bytes()[:100]
            ),
            "default__vector_store.json",
        ),
        (lambda v: (v / "default__vector_store.json").write_bytes(b""), "default__vector_store.json"),
        (lambda v: (v / "default__vector_store.json").unlink(), "default__vector_store.json"),
        (lambda v: (v / "bm25" / "data.csc.index.npy").write_bytes(b""), "bm25"),
        (lambda v: (v / "bm25" / "corpus.jsonl").unlink(), "corpus.jsonl"),
        (lambda v: (v / "bm25" / "corpus.jsonl").write_bytes(b""), "corpus.jsonl"),
        (lambda v: (v / "chunks.json").write_text("{"), "chunks.json"),
    ],
    ids=[
        "truncated-faiss",
        "empty-faiss",
        "deleted-faiss",
        "empty-bm25",
        "deleted-bm25-corpus",
        "empty-bm25-corpus",
        "corrupt-json",
    ],
)
def test_a_damaged_index_file_is_named_with_the_rebuild_command(
    tmp_path: Path, demo_index_dir: Path, damage, file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from daraz_llama.cli import main

    copy = tmp_path / "idx"
    shutil.copytree(demo_index_dir, copy)
    damage(current_version_dir(copy))
    with pytest.raises(DamagedIndexError, match=rf"index file .*{file}.* rebuild it with `daraz-llama index "):
        load_index(copy)
    assert main(["search", "jeans", "--index-dir", str(copy)]) == 2
    assert "is damaged or missing" in capsys.readouterr().err


def test_an_unwritable_index_folder_is_one_clear_error(
    tmp_path: Path, demo_corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from daraz_llama.cli import main

    (tmp_path / "a-file").write_text("not a folder")
    with pytest.raises(IndexWriteError, match="cannot write the index in"):
        build_index(demo_corpus, tmp_path / "a-file" / "idx", embedder=None, show_progress=False)
    assert main(["index", str(demo_corpus), "--index-dir", str(tmp_path / "a-file" / "idx"), "--embedder", "none"]) == 2
    assert "cannot write the index in" in capsys.readouterr().err


def test_loading_never_rebuilds_and_models_are_found_through_one_setting(
    tmp_path: Path, demo_corpus: Path, minilm: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from daraz_llama.models import default_embedder, models_dir

    build_index(demo_corpus, tmp_path / "idx", embedder=minilm, show_progress=False)
    before = current_version_dir(tmp_path / "idx")
    shutil.copytree(minilm, tmp_path / "shop-models" / "embedder-ft")  # a "fine-tuned" embedder appears
    (tmp_path / "shop-models" / "embedder-ft" / "extra.txt").write_text("changes the weights' identity")
    monkeypatch.setenv("DARAZ_LLAMA_MODELS", str(tmp_path / "shop-models"))
    assert models_dir() == tmp_path / "shop-models"
    assert default_embedder() == str((tmp_path / "shop-models" / "embedder-ft").resolve())
    with pytest.warns(RetrievalWarning, match="daraz-llama index .* --index-dir"):
        index = open_index(tmp_path / "idx")
    assert current_version_dir(tmp_path / "idx") == before and index.embedder == minilm  # nothing was written
