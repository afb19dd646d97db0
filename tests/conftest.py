"""Shared fixtures: the demo corpus, the real corpus (when ../shared is there), built indexes and models."""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest
from llama_index.core.base.llms.types import CompletionResponse, CompletionResponseGen, LLMMetadata
from llama_index.core.llms import CustomLLM
from llama_index.core.llms.callbacks import llm_completion_callback

from daraz_llama.index import build_index
from daraz_llama.models import packaged_minilm_path

ROOT = Path(__file__).resolve().parent.parent
DEMO_CORPUS = ROOT / "daraz_llama" / "data" / "demo_corpus.md"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED = ROOT.parent / "shared"
REAL_CORPUS = SHARED / "data" / "daraz_products_corpus.md"
REAL_SAMPLE = SHARED / "data" / "daraz_sample_200.md"
CHROMIUM = Path("/usr/bin/chromium")  # Debian's (bash scripts/setup-browser.sh), driven by Playwright
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-sync",
    "--disable-background-networking",
    "--disable-component-update",
]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RecordingLLM(CustomLLM):
    """A stand-in for a remote model behind the real protocol: answers with ``reply(prompt)`` and records
    every prompt. Subclasses say what to reply."""

    prompts: list[str] = []

    def reply(self, prompt: str) -> str:
        raise NotImplementedError

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(is_chat_model=False)

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        self.prompts.append(prompt)
        return CompletionResponse(text=self.reply(prompt))

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        yield self.complete(prompt)


@contextmanager
def openai_test_server(llm, model_name: str) -> Iterator[str]:
    """An OpenAI-compatible endpoint (the app of `daraz-llama serve-llm`) answering with ``llm``, in a thread
    of this process; yields its base URL."""
    import uvicorn

    from daraz_llama.answers.server import create_app

    server = uvicorn.Server(
        uvicorn.Config(create_app(llm, model_name), host="127.0.0.1", port=free_port(), log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{server.config.port}/v1"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(autouse=True)
def _isolated_working_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run each test in an empty folder, so models/ or an index left in the checkout never leak in."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def demo_corpus() -> Path:
    return DEMO_CORPUS


@pytest.fixture(scope="session")
def real_corpus() -> Path:
    if not REAL_CORPUS.is_file():
        pytest.skip("../shared/data is not beside this checkout")
    return REAL_CORPUS


@pytest.fixture(scope="session")
def real_sample() -> Path:
    if not REAL_SAMPLE.is_file():
        pytest.skip("../shared/data is not beside this checkout")
    return REAL_SAMPLE


@pytest.fixture(scope="session")
def real_bm25_index(real_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A BM25-only index of the whole real corpus (about 10 s; no embedder)."""
    index_dir = tmp_path_factory.mktemp("real-bm25-index")
    build_index(real_corpus, index_dir, embedder=None, show_progress=False)
    return index_dir


@pytest.fixture(scope="session")
def minilm() -> str:
    return packaged_minilm_path()


@pytest.fixture(scope="session")
def demo_index_dir(tmp_path_factory: pytest.TempPathFactory, minilm: str) -> Path:
    """A persisted index of the demo corpus with real MiniLM embeddings (built once per run)."""
    index_dir = tmp_path_factory.mktemp("demo-index")
    build_index(DEMO_CORPUS, index_dir, embedder=minilm, show_progress=False)
    return index_dir


@pytest.fixture(scope="session")
def tiny_cross_encoder(tmp_path_factory: pytest.TempPathFactory, minilm: str) -> str:
    """A cross-encoder folder made from the packaged MiniLM weights with a fresh scoring head."""
    from sentence_transformers import CrossEncoder

    folder = tmp_path_factory.mktemp("cross-encoder")
    CrossEncoder(minilm, num_labels=1, device="cpu").save(str(folder))
    return str(folder)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium through Playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()
