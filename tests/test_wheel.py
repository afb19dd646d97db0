"""The wheel as a user gets it: built from this checkout, installed with the chat extra (no torch) into a fresh
virtual environment outside the checkout; index, search and the chat run from there."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import CHROMIUM, ROOT, free_port
from tests.test_chat_app import _ask, _cards, _open_chat, running

UNCONDITIONAL_HEAVY = ("torch", "sentence-transformers", "chainlit", "openai", "fastapi", "uvicorn", "matplotlib")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built from a copy of what the wheel is made of, so no build folder is left in (or reused from) the checkout."""
    source, out = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("wheel")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for name in ("daraz_llama", "training"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", ".files"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out), str(source)],
        check=True,
        capture_output=True,
        text=True,
    )
    return next(out.glob("daraz_llama-*.whl"))


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Path:
    """A new virtual environment with ``daraz-llama[chat]`` from the wheel (the registry gives the rest)."""
    venv = tmp_path_factory.mktemp("fresh") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    installed = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", f"{wheel}[chat]"], capture_output=True, text=True
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    return venv


def _run(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DARAZ_LLAMA_", "PYTHON"))}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_the_wheel_ships_the_app_the_demo_and_training_under_one_name(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    app_root = "daraz_llama/chat/app_root"
    for needed in (
        "daraz_llama/chat/app.py",
        f"{app_root}/.chainlit/config.toml",
        f"{app_root}/chainlit.md",
        f"{app_root}/public/elements/ProductCards.jsx",
        "daraz_llama/data/demo_corpus.md",
        "daraz_llama/training/pipeline.py",
        "daraz_llama/py.typed",
    ):
        assert needed in names, needed
    assert {name.split("/")[0] for name in names} == {"daraz_llama", wheel.name.split("-py3")[0] + ".dist-info"}
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("METADATA"))).decode()
    requires = [line.split(":", 1)[1].strip() for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    core = [line for line in requires if "extra ==" not in line]
    assert not [line for line in core if line.lower().startswith(UNCONDITIONAL_HEAVY)], core
    torch = [line for line in requires if line.startswith("torch")]
    assert torch and all(">=" in line and "==" not in line.split(";")[0] for line in torch), torch


def test_index_and_search_from_a_fresh_install_never_import_torch(fresh_venv: Path, tmp_path: Path) -> None:
    python, cli = fresh_venv / "bin" / "python", fresh_venv / "bin" / "daraz-llama"
    site = _run(
        fresh_venv,
        str(python),
        "-c",
        "import daraz_llama, pathlib; print(pathlib.Path(daraz_llama.__file__).parent)",
        cwd=tmp_path,
    )
    package = Path(site.stdout.strip())
    assert ROOT not in package.parents, package  # the installed copy, not this checkout
    indexed = _run(
        fresh_venv, str(cli), "index", str(package / "data" / "demo_corpus.md"), "--index-dir", "idx", cwd=tmp_path
    )
    assert indexed.returncode == 0, indexed.stderr
    assert "BM25 only" in indexed.stdout and "daraz-llama[dense]" in indexed.stdout
    found = _run(
        fresh_venv, str(cli), "search", "fantech wired gamepad for pc", "--index-dir", "idx", "--json", cwd=tmp_path
    )
    assert found.returncode == 0, found.stderr
    assert "Fantech WGP13" in json.loads(found.stdout)[0]["title"]
    imported = _run(
        fresh_venv,
        str(python),
        "-c",
        "import sys, importlib.util, daraz_llama, daraz_llama.cli, "
        "daraz_llama.answers.chat_engine; print(importlib.util.find_spec('torch') is None, "
        "'torch' in sys.modules)",
        cwd=tmp_path,
    )
    assert imported.stdout.split() == ["True", "False"], imported.stderr


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed (bash scripts/setup-browser.sh)")
def test_the_chat_from_a_fresh_install_answers_in_the_browser(fresh_venv: Path, tmp_path: Path, browser) -> None:
    package = next((fresh_venv / "lib").glob("python*/site-packages/daraz_llama"))
    port = free_port()
    log = tmp_path / "chat.log"
    scratch = tmp_path / "tmp"  # the chat's temporary app root goes here
    scratch.mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DARAZ_LLAMA_", "CHAINLIT_"))}
    env["TMPDIR"] = str(scratch)
    command = [
        str(fresh_venv / "bin" / "daraz-llama"),
        "chat",
        "--corpus",
        str(package / "data" / "demo_corpus.md"),
        "--index-dir",
        "idx",
        "--port",
        str(port),
    ]
    with running(command, port, tmp_path, env, log) as url:
        page = _open_chat(browser, url)
        answer, index = _ask(page, "fantech wired gamepad for pc")
        assert "[1]" in answer and "Fantech WGP13" in answer
        assert "Fantech WGP13" in _cards(page, index)[0]["text"]
    assert not list(scratch.iterdir()), "the chat's temporary app root was left behind"
