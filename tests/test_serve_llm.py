"""The OpenAI backend, through the real openai client, against a real `daraz-llama serve-llm` process."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from openai import OpenAI

from daraz_llama.answers.chat_engine import ProductChatEngine
from daraz_llama.answers.context import format_context
from daraz_llama.answers.generators import make_llm
from daraz_llama.answers.grounding import GroundingEvaluator
from daraz_llama.retriever import build_retriever

CLI = str(Path(sys.executable).with_name("daraz-llama"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server_url():
    port = _free_port()
    process = subprocess.Popen([CLI, "serve-llm", "--model", "none", "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{url}/models", timeout=1)
                break
            except OSError:
                if process.poll() is not None:
                    raise RuntimeError(process.stdout.read())
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)
    assert process.returncode is not None


def test_openai_client_against_serve_llm(server_url: str) -> None:
    client = OpenAI(base_url=server_url, api_key="local")
    assert [m.id for m in client.models.list().data] == ["none"]
    prompt = "PRODUCTS (1):\n[1] Red Jamdani Saree\n    price: ৳ 4,500 | rating: 4.9/5 (26 ratings)\nQUESTION: jamdani"
    reply = client.chat.completions.create(model="none", messages=[{"role": "user", "content": prompt}])
    assert reply.choices[0].message.content.startswith("For “jamdani”, the best match is **Red Jamdani Saree** [1]")
    stream = client.chat.completions.create(model="none", messages=[{"role": "user", "content": prompt}],
                                            stream=True)
    pieces = [chunk.choices[0].delta.content or "" for chunk in stream]
    assert len(pieces) > 5 and "".join(pieces) == reply.choices[0].message.content


def test_openai_backend_in_the_chat_engine(server_url: str, demo_index_dir: Path) -> None:
    llm = make_llm("openai", model="none", base_url=server_url, api_key="local")
    engine = ProductChatEngine(build_retriever(demo_index_dir, mode="hybrid"), llm)
    streamed = "".join(engine.stream_chat("sony noise cancelling headphones").response_gen)
    assert "Sony WH-1000XM5" in streamed and "[1]" in streamed
    context = format_context(engine.last_turn.products)
    assert GroundingEvaluator().evaluate(query="q", response=streamed, contexts=[context]).passing


def test_unreachable_endpoint_is_a_clear_error(demo_index_dir: Path) -> None:
    llm = make_llm("openai", model="x", base_url=f"http://127.0.0.1:{_free_port()}/v1", api_key="local")
    engine = ProductChatEngine(build_retriever(demo_index_dir, mode="bm25"), llm)
    with pytest.raises(Exception, match="(?i)connect"):
        engine.chat("saree")
