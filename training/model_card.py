"""What we record beside each trained model: ``card.json`` (data hash, settings and dev numbers, read back to
decide whether a model is fresh). The sentence-transformers models get their README.md from the library's own
model card (``SentenceTransformerModelCardData`` / ``CrossEncoderModelCardData``); the generator gets one here."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

CARD_JSON = "card.json"


def write_model_card(folder: Path, title: str, card: dict[str, Any], readme: bool = True) -> None:
    """Write ``card`` as ``card.json`` into ``folder``, and (``readme``) a readable README.md."""
    card = {"title": title, "written_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **card}
    (folder / CARD_JSON).write_text(json.dumps(card, indent=2, ensure_ascii=False), encoding="utf-8")
    if not readme:
        return
    lines = [
        f"# {title}",
        "",
        f"- base model: `{card.get('base_model')}`",
        f"- data hash: `{card.get('data_hash')}`",
        f"- training time: {card.get('train_seconds', 0):.0f} s",
        "",
        "## Dev metrics",
        "",
        "| metric | before | after |",
        "| --- | ---: | ---: |",
    ]
    before, after = card.get("dev_before", {}), card.get("dev_after", {})
    for key in sorted(set(before) | set(after)):
        lines.append(f"| {key} | {before.get(key, float('nan')):.4f} | {after.get(key, float('nan')):.4f} |")
    lines += ["", "## Settings", "", "```json", json.dumps(card.get("settings", {}), indent=2), "```", ""]
    (folder / "README.md").write_text("\n".join(lines), encoding="utf-8")


def read_model_card(folder: Path) -> dict[str, Any] | None:
    path = folder / CARD_JSON
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
