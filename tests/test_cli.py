"""The daraz-llama command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from daraz_llama.cli import main
from tests.conftest import FIXTURES

CLI = str(Path(sys.executable).with_name("daraz-llama"))


def test_index_then_search_as_json(
    tmp_path: Path, demo_corpus: Path, minilm: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["index", str(demo_corpus), "--index-dir", str(tmp_path / "idx"), "--embedder", minilm]) == 0
    out = capsys.readouterr()
    assert "indexed 60 products" in out.out and "60 product blocks: 60 parsed, 0 skipped" in out.err
    assert main(["search", "jamdani saree", "--index-dir", str(tmp_path / "idx"), "--json", "--top-k", "3"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 3 and set(rows[0]) == {"id", "title", "category", "price", "rating", "url", "score"}
    assert rows[0]["title"].startswith("Jamdani Saree") and rows[0]["price"] == 4500.0
    assert rows[0]["score"] >= rows[1]["score"] >= rows[2]["score"]


def test_search_table_with_filters(demo_index_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "search",
            "smart watch",
            "--index-dir",
            str(demo_index_dir),
            "--mode",
            "bm25",
            "--max-price",
            "1000",
            "--min-rating",
            "4",
            "--category",
            "smart watches",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "mode: bm25" in out and "Smartwatch with 8 Straps" in out and "780" in out
    assert "Apple Watch" not in out and "Smart Band M8" not in out  # too dear / rated 3.6


def test_search_with_nothing_matching(demo_index_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["search", "saree", "--index-dir", str(demo_index_dir), "--brand", "Nobody"]) == 0
    assert "no matching products" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["index", "missing.md"], "corpus file not found: missing.md"),
        (["search", "x", "--index-dir", "no-such-dir"], "no index in no-such-dir"),
        (["search", "x", "--mode", "telepathy"], "invalid choice: 'telepathy'"),
        (["train", "retrieval", "{demo}", "--reranker-loss", "hinge"], "invalid choice: 'hinge'"),
        (["index", "{demo}", "--index-dir", "{tmp}", "--embedder", "./no/such/model"], "embedder folder not found"),
        (["index", "{demo}", "--index-dir", "{tmp}", "--embedder", "not-a-model"], "unknown embedder 'not-a-model'"),
    ],
)
def test_clear_errors(
    argv: list[str], message: str, tmp_path: Path, demo_corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [a.format(demo=demo_corpus, tmp=tmp_path / "idx") for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_malformed_corpus_is_summarised_and_strict_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corpus = str(FIXTURES / "malformed_corpus.md")
    assert main(["index", corpus, "--index-dir", str(tmp_path / "a"), "--embedder", "none"]) == 0
    err = capsys.readouterr().err
    assert "9 product blocks: 3 parsed, 6 skipped" in err and "duplicate id" in err
    assert main(["index", corpus, "--index-dir", str(tmp_path / "b"), "--embedder", "none", "--strict"]) == 2
    assert "--strict: 6 malformed block(s)" in capsys.readouterr().err


def test_nothing_parsable_exits_non_zero(tmp_path: Path) -> None:
    empty = tmp_path / "empty.md"
    empty.write_text("# nothing here\n", encoding="utf-8")
    assert main(["index", str(empty), "--index-dir", str(tmp_path / "idx")]) == 2


def test_console_script(demo_index_dir: Path) -> None:
    done = subprocess.run(
        [CLI, "search", "fantech wired gamepad for pc", "--index-dir", str(demo_index_dir), "--json", "--top-k", "1"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0]["title"].startswith("Fantech WGP13")


def test_search_is_quiet_unless_verbose(demo_index_dir: Path) -> None:
    import subprocess
    import sys

    command = [
        sys.executable,
        "-m",
        "daraz_llama.cli",
        "search",
        "slim jeans",
        "--index-dir",
        str(demo_index_dir),
        "--mode",
        "hybrid",
    ]
    import os

    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_DISABLE_PROGRESS_BARS"}  # main() in this process sets it
    quiet = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert quiet.returncode == 0 and "Slim" in quiet.stdout
    assert "Loading weights" not in quiet.stderr and "Finding newlines" not in quiet.stderr, quiet.stderr
    verbose = subprocess.run(command[:3] + ["-v"] + command[3:], capture_output=True, text=True, timeout=300, env=env)
    assert verbose.returncode == 0 and "Loading weights" in verbose.stderr
