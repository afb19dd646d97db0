"""The scale benchmark on a tiny size: synthetic catalog, every backend measured, curves written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import DEMO_CORPUS, ROOT

pytest.importorskip("milvus_lite")


def test_the_scale_benchmark_runs_on_a_tiny_synthetic_catalog(tmp_path: Path, demo_index_dir: Path) -> None:
    out = tmp_path / "scale"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "bench_scale.py"),
            "--corpus",
            str(DEMO_CORPUS),
            "--vectors",
            str(demo_index_dir),
            "--sizes",
            "150,300",
            "--queries",
            "10",
            "--out",
            str(out),
            "--plot",
            str(tmp_path / "scale.png"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = json.loads((out / "scale.json").read_text(encoding="utf-8"))
    assert [row["size"] for row in rows] == [150, 300]
    for row in rows:
        assert row["chunks"] >= row["size"] and row["parse_peak_mb"] < 5
        for backend in ("faiss-flat", "faiss-hnsw", "milvus"):
            assert row[f"{backend}_hybrid_p50_ms"] > 0 and row[f"{backend}_disk_mb"] > 0
        assert 0.5 <= row["faiss-hnsw_recall@10"] <= 1.0
    assert (tmp_path / "scale.png").stat().st_size > 10_000
    assert not list(out.glob("synthetic-*.md"))  # the synthetic catalogs are never left beside real data
