"""Start the packaged Chainlit app from any install: its files are copied to a fresh app root, because Chainlit
writes into the app root (uploads in ``.files/``, translation files) and an installed package may be read-only."""

from __future__ import annotations

import shutil
import sys
import tempfile
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Iterator


def app_file() -> Path:
    """The Chainlit app (the handlers), inside the installed package."""
    return Path(str(resources.files("daraz_llama.chat") / "app.py"))


def copy_app_root(target: Path) -> Path:
    """Copy the packaged ``.chainlit/``, ``public/`` and ``chainlit.md`` into ``target``; return it."""
    packaged = resources.files("daraz_llama.chat") / "app_root"
    with resources.as_file(packaged) as source:
        shutil.copytree(source, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".files", "__pycache__"))
    return target


@contextmanager
def app_root() -> Iterator[Path]:
    """A temporary copy of the packaged app root, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="daraz-llama-chat-") as folder:
        yield copy_app_root(Path(folder))


def chainlit_command(host: str, port: int, headless: bool = True) -> list[str]:
    """The command line that serves the app with this Python."""
    command = [sys.executable, "-m", "chainlit", "run", str(app_file()), "--host", host, "--port", str(port)]
    return command + (["--headless"] if headless else [])
