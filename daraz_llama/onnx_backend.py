"""ONNX Runtime with int8 weights for the embedder and the cross-encoder: faster on a CPU than torch.

sentence-transformers' own ``backend="onnx"`` needs ``optimum-onnx``, which pins ``transformers<4.58`` (and
``optimum-intel`` pulls a CUDA build of torch), so the export is done here with the two libraries underneath:
``torch.onnx.export`` of the model's transformer, ``onnxruntime.quantization.quantize_dynamic`` for int8 weights.
Inference needs only onnxruntime, the model's ``tokenizer.json`` and numpy. An export is made once per model and
kept beside it (``<model>/onnx-int8/``), or in the user's cache (``~/.cache/daraz-llama/onnx/``) for a hub
name or a model installed as a package.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
import sysconfig
import tempfile
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle

BACKENDS = ("torch", "onnx")
EXPORT_FORMAT = 2  # changes when the export or its quantisation does
EXPORT_FOLDER = "onnx-int8"
SETTINGS_FILE = "export.json"
ONNX_VECTORS = "onnx-alone"  # what an index's chunk keys record of this runtime (each text embedded alone)
Kind = Literal["embedder", "cross-encoder"]


def onnx_installed() -> bool:
    """Whether onnxruntime (and onnx, for the export) are installed."""
    return all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "onnx"))


def _cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "daraz-llama" / "onnx"


def export_folder(model_path: str, identity: str) -> Path:
    """Where the export of the model at ``model_path`` (with weights ``identity``) lives: beside a model folder of
    one's own, in the user's cache for a hub name or a model installed as a package."""
    folder = Path(model_path).resolve()
    installed = Path(sysconfig.get_paths()["purelib"]).resolve()
    if folder.is_dir() and os.access(folder, os.W_OK) and installed not in folder.parents:
        return folder / EXPORT_FOLDER
    return _cache_root() / hashlib.sha1(identity.encode("utf-8")).hexdigest()[:16]


def ensure_export(model_path: str, identity: str, kind: Kind) -> Path:
    """The int8 ONNX export of a local sentence-transformers model, made now if missing or made from other
    weights. Written to a temporary folder first, so a crash never leaves half an export."""
    folder = export_folder(model_path, identity)
    settings_file = folder / SETTINGS_FILE
    if settings_file.is_file():
        settings = json.loads(settings_file.read_text(encoding="utf-8"))
        if settings.get("identity") == identity and settings.get("format") == EXPORT_FORMAT:
            return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        settings = _export(model_path, kind, partial)
        (partial / SETTINGS_FILE).write_text(
            json.dumps({"format": EXPORT_FORMAT, "identity": identity, "kind": kind, **settings}, indent=2),
            encoding="utf-8",
        )
        shutil.rmtree(folder, ignore_errors=True)
        partial.rename(folder)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return folder


def _export(model_path: str, kind: Kind, out: Path) -> dict[str, Any]:
    """Export the transformer of the model to ``out/model.onnx`` and quantise it to ``out/model_int8.onnx``."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    class _FirstOutput(torch.nn.Module):
        """The network called with its inputs by name, giving its first output (token embeddings or logits)."""

        def __init__(self, network: torch.nn.Module) -> None:
            super().__init__()
            self.network = network

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any = None) -> Any:
            inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
            if token_type_ids is not None:
                inputs["token_type_ids"] = token_type_ids
            return self.network(**inputs)[0]

    if kind == "embedder":
        from sentence_transformers import SentenceTransformer

        encoder = SentenceTransformer(model_path, device="cpu")
        modules = [type(module).__name__ for module in encoder]
        pooling = encoder[1].get_config_dict().get("pooling_mode") if len(encoder) > 1 else None
        if modules[:2] != ["Transformer", "Pooling"] or pooling != "mean" or len(modules) > 3:
            raise ValueError(
                f"the onnx backend handles Transformer + mean Pooling (+ Normalize) embedders, "
                f"not {modules} with {pooling} pooling: use backend 'torch'"
            )
        network = encoder[0].auto_model
        settings = {
            "max_length": encoder.max_seq_length,
            "normalize": len(modules) == 3,
            "query_prompt": (encoder.prompts or {}).get("query", ""),
        }
        output = "token_embeddings"
    else:
        from sentence_transformers import CrossEncoder

        encoder = CrossEncoder(model_path, device="cpu")
        network = encoder.model
        settings = {
            "max_length": encoder.max_seq_length,
            "sigmoid": isinstance(encoder.activation_fn, torch.nn.Sigmoid),
        }
        output = "logits"
    encoder.tokenizer.save_pretrained(str(out))
    sample = encoder.tokenizer(["a query"], ["a product passage"], return_tensors="pt")
    names = [name for name in ("input_ids", "attention_mask", "token_type_ids") if name in sample]
    network.eval()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on Python control flow in the model
        torch.onnx.export(
            _FirstOutput(network),
            tuple(sample[name] for name in names),
            str(out / "model.onnx"),
            input_names=names,
            output_names=[output],
            opset_version=17,
            dynamo=False,
            dynamic_axes={**{name: {0: "batch", 1: "tokens"} for name in names}, output: {0: "batch"}},
        )
    # Per-channel int8 weights of the matrix products: 0.994 mean cosine to the float vectors on real chunks
    # (per-tensor: 0.955), about twice as fast as torch on this CPU (benchmarks/RESULTS.md).
    logging.disable(logging.WARNING)  # onnxruntime logs a hint on the root logger
    try:
        quantize_dynamic(
            str(out / "model.onnx"),
            str(out / "model_int8.onnx"),
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul"],
        )
    finally:
        logging.disable(logging.NOTSET)
    (out / "model.onnx").unlink()
    return {**settings, "inputs": names}


class OnnxModel:
    """An exported model: its int8 ONNX session and its fast tokenizer.

    Each input runs alone (one thread per call, ``workers`` calls at once in the model's own thread pool): int8
    activations are quantised per call, so in a batch an input's output would depend on the others (cosine 0.992
    to itself alone on real chunks); alone it depends on the input only, there is no padding, and on this 2-core
    CPU two single-input calls at once embed faster than batches of 32 (benchmarks/RESULTS.md)."""

    def __init__(self, folder: Path, max_length: int | None = None, workers: int | None = None) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        self.settings = json.loads((folder / SETTINGS_FILE).read_text(encoding="utf-8"))
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.log_severity_level = 3
        self.session = onnxruntime.InferenceSession(
            str(folder / "model_int8.onnx"), options, providers=["CPUExecutionProvider"]
        )
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length or self.settings["max_length"])
        self.tokenizer.no_padding()
        self.inputs: list[str] = self.settings["inputs"]
        self._pool = ThreadPoolExecutor(workers or os.cpu_count() or 1, thread_name_prefix="onnx")

    def run_each(self, texts: list[str] | list[tuple[str, str]]) -> list[np.ndarray]:
        """The model's output for each text (or pair), each run alone: token vectors, or logits."""
        encodings = self.tokenizer.encode_batch(texts)
        if len(encodings) <= 1:
            return [self._run(encoding) for encoding in encodings]
        return list(self._pool.map(self._run, encodings))

    def _run(self, encoding: Any) -> np.ndarray:
        feeds = {
            "input_ids": np.asarray([encoding.ids], dtype=np.int64),
            "attention_mask": np.asarray([encoding.attention_mask], dtype=np.int64),
            "token_type_ids": np.asarray([encoding.type_ids], dtype=np.int64),
        }
        return self.session.run(None, {name: feeds[name] for name in self.inputs})[0][0]


class OnnxEmbedding(BaseEmbedding):
    """A LlamaIndex embedding model running an exported sentence-transformers embedder on ONNX Runtime (mean
    pooling, normalised when the model normalises); a text's vector depends on that text only."""

    folder: str = Field(description="the export folder")
    _model: OnnxModel = PrivateAttr()

    def __init__(self, folder: str | Path, **kwargs: Any) -> None:
        super().__init__(folder=str(folder), **kwargs)
        self._model = OnnxModel(Path(folder))

    @classmethod
    def class_name(cls) -> str:
        return "OnnxEmbedding"

    def _embed(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        vectors = np.stack([tokens.mean(axis=0) for tokens in self._model.run_each(texts)])
        if self._model.settings["normalize"]:
            vectors /= np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)
        return vectors.tolist()

    def query_embeddings(self, queries: list[str]) -> list[list[float]]:
        """Vectors of many queries at once (query prompt included)."""
        return self._embed([self._model.settings["query_prompt"] + query for query in queries])

    def _get_query_embedding(self, query: str) -> list[float]:
        return self.query_embeddings([query])[0]

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._embed([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._embed(texts)


class OnnxRerank(BaseNodePostprocessor):
    """Re-rank nodes with an exported cross-encoder on ONNX Runtime (as ``SentenceTransformerRerank`` does)."""

    top_n: int = Field(default=10)
    folder: str = Field(description="the export folder")
    max_length: int | None = Field(default=None, description="tokens read per pair (None: the model's)")
    _model: OnnxModel = PrivateAttr()

    def __init__(self, folder: str | Path, **kwargs: Any) -> None:
        super().__init__(folder=str(folder), **kwargs)
        self._model = OnnxModel(Path(folder), max_length=self.max_length)

    @classmethod
    def class_name(cls) -> str:
        return "OnnxRerank"

    def scores(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        """The cross-encoder's score of each (query, passage) pair (each pair's alone: no other pair changes it)."""
        result = np.array([logits[0] for logits in self._model.run_each(pairs)], dtype=np.float32)
        return 1 / (1 + np.exp(-result)) if self._model.settings["sigmoid"] else result

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        if query_bundle is None:
            raise ValueError("re-ranking needs the query")
        if not nodes:
            return []
        pairs = [(query_bundle.query_str, n.node.get_content(metadata_mode=MetadataMode.EMBED)) for n in nodes]
        for node, score in zip(nodes, self.scores(pairs)):
            node.score = float(score)
        return sorted(nodes, key=lambda n: n.score or 0.0, reverse=True)[: self.top_n]
