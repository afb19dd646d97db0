"""The LlamaIndex user script in examples/ runs as documented."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def test_llamaindex_user_example(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DARAZ_LLAMA_")}
    run = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "llamaindex_user.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "IngestionPipeline: 60 chunks, e.g. 700000101-0 (shop=demo)" in run.stdout
    prices = [float(p.replace(",", "")) for p in re.findall(r"RetrieverQueryEngine: .* ৳([\d,]+)", run.stdout)]
    assert len(prices) == 3 and all(price <= 600 for price in prices)  # MetadataFilters applied
    assert "async 'fantech gamepad': Fantech WGP13" in run.stdout
    ticks, seconds = re.search(r"ticked (\d+) times while the searches ran \(([\d.]+) s\)", run.stdout).groups()
    assert int(ticks) >= max(1.0, 0.3 * float(seconds) / 0.005)  # searches ran off the event loop
