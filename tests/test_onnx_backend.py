"""The int8 ONNX Runtime backend: exported once from the real MiniLM weights, close to torch, used end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from daraz_llama.index import build_index, staleness
from daraz_llama.models import ModelError, load_embedder, load_reranker
from daraz_llama.onnx_backend import SETTINGS_FILE, export_folder
from daraz_llama.retriever import build_retriever

TEXTS = ["Fantech WGP13 wired gamepad for PC", "Black slim fit denim jeans for men", "Jamdani saree, cotton, red"]


@pytest.fixture(autouse=True)
def _own_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "cache"))


def test_the_embedder_export_is_made_once_in_the_cache_and_stays_close_to_torch(minilm: str) -> None:
    onnx = load_embedder(minilm, "onnx")
    folder = Path(onnx.folder)
    assert folder.parent.parent.name == "daraz-llama"  # an installed model gets its export in the user's cache
    assert (folder / SETTINGS_FILE).is_file() and (folder / "model_int8.onnx").is_file()
    assert not (folder / "model.onnx").exists() and [p.name for p in folder.parent.iterdir()] == [folder.name]
    torch_vectors = np.asarray(load_embedder(minilm, "torch").get_text_embedding_batch(TEXTS))
    onnx_vectors = np.asarray(onnx.get_text_embedding_batch(TEXTS))
    assert np.all((torch_vectors * onnx_vectors).sum(axis=1) > 0.98)
    assert np.allclose(np.linalg.norm(onnx_vectors, axis=1), 1.0, atol=1e-4)
    assert np.dot(onnx.get_query_embedding("gamepad for pc"), onnx_vectors[0]) > np.dot(
        onnx.get_query_embedding("gamepad for pc"), onnx_vectors[2]
    )


def test_a_cross_encoder_export_sits_beside_its_folder_and_scores_like_torch(tiny_cross_encoder: str) -> None:
    onnx = load_reranker(tiny_cross_encoder, top_n=2, backend="onnx")
    assert Path(onnx.folder) == export_folder(tiny_cross_encoder, "any") == Path(tiny_cross_encoder) / "onnx-int8"
    torch_reranker = load_reranker(tiny_cross_encoder, top_n=2, backend="torch")
    pairs = [("wired gamepad", text) for text in TEXTS]
    assert np.allclose(onnx.scores(pairs), torch_reranker._model.predict(pairs), atol=0.05)
    nodes = [NodeWithScore(node=TextNode(text=text), score=0.0) for text in TEXTS]
    assert len(onnx.postprocess_nodes(nodes, QueryBundle("wired gamepad"))) == 2


def test_an_input_scores_the_same_whatever_runs_beside_it(minilm: str, tiny_cross_encoder: str) -> None:
    """int8 activations are quantised per call: in a shared batch, a long neighbour would change a vector."""
    embedder = load_embedder(minilm, "onnx")
    long_text = "Premium stretchable slim fit denim jeans for men, dark blue, all sizes " * 12
    alone = np.asarray(embedder.get_text_embedding_batch(TEXTS[:1]))[0]
    beside = np.asarray(embedder.get_text_embedding_batch([TEXTS[0], long_text, *TEXTS[1:]]))[0]
    assert np.array_equal(alone, beside)
    reranker = load_reranker(tiny_cross_encoder, top_n=2, backend="onnx")
    pair = ("wired gamepad", TEXTS[0])
    assert reranker.scores([pair])[0] == reranker.scores([pair, ("wired gamepad", long_text)])[0]
    assert embedder.get_text_embedding_batch([]) == [] and reranker.scores([]).size == 0


def test_an_index_built_on_onnx_embeds_its_queries_the_same_way(tmp_path: Path, demo_corpus: Path, minilm: str) -> None:
    index = build_index(demo_corpus, tmp_path / "idx", embedder=minilm, show_progress=False, backend="onnx")
    assert index.manifest["embedder"]["backend"] == "onnx" and index.embedder_backend == "onnx"
    hits = build_retriever(tmp_path / "idx", mode="dense", similarity_top_k=3).retrieve("wired controller for pc games")
    assert any("Fantech WGP13" in hit.node.metadata["title"] for hit in hits)
    assert staleness(index.manifest, embedder=minilm, backend="torch")  # another backend means other vectors


def test_a_bi_encoder_is_refused_as_a_cross_encoder(minilm: str, tmp_path: Path) -> None:
    import shutil

    shutil.copytree(minilm, tmp_path / "bi-encoder")
    with pytest.raises(ModelError, match="is not a cross-encoder"):
        load_reranker(str(tmp_path / "bi-encoder"), top_n=5)
