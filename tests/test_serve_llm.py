"""The OpenAI backend, through the real openai client, against a real `daraz-llama serve-llm` process."""

from __future__ import annotations

import json
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
from tests.conftest import RecordingLLM, free_port, openai_test_server

CLI = str(Path(sys.executable).with_name("daraz-llama"))


@pytest.fixture(scope="module")
def server_url():
    port = free_port()
    process = subprocess.Popen(
        [CLI, "serve-llm", "--model", "none", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
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
    assert reply.choices[0].message.content.startswith("The best match is **Red Jamdani Saree** [1]")
    stream = client.chat.completions.create(model="none", messages=[{"role": "user", "content": prompt}], stream=True)
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
    llm = make_llm("openai", model="x", base_url=f"http://127.0.0.1:{free_port()}/v1", api_key="local")
    engine = ProductChatEngine(build_retriever(demo_index_dir, mode="bm25"), llm)
    with pytest.raises(Exception, match="(?i)connect"):
        engine.chat("saree")


class Verdict(RecordingLLM):
    """A judge model that gives a fixed verdict and records what it was asked (behind the real protocol)."""

    verdict: str = "YES"

    def reply(self, prompt: str) -> str:
        return self.verdict


@pytest.fixture()
def judge_server(monkeypatch: pytest.MonkeyPatch):
    """An OpenAI-compatible judge endpoint (the app of `serve-llm`) in a thread of this process."""
    judge = Verdict(prompts=[])
    with openai_test_server(judge, "judge") as url:
        monkeypatch.setenv("OPENAI_BASE_URL", url)
        monkeypatch.setenv("OPENAI_API_KEY", "judge-key")
        yield judge


def test_eval_answers_runs_llamaindex_judges_through_openai(
    judge_server: "Verdict", demo_index_dir: Path, tmp_path: Path
) -> None:
    from daraz_llama.cli import main
    from tests.conftest import ROOT

    questions = ROOT / "daraz_llama" / "data" / "demo_questions.jsonl"
    out = tmp_path / "judged.json"
    assert (
        main(
            [
                "eval-answers",
                "--questions",
                str(questions),
                "--index-dir",
                str(demo_index_dir),
                "--generator",
                "none",
                "--judge",
                "openai",
                "--judge-model",
                "judge",
                "--limit",
                "3",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    summary = json.loads(out.read_text())["summary"]
    assert summary["judge_faithfulness"] == 1.0 and summary["judge_relevancy"] == 1.0
    assert any("PRODUCTS" in prompt for prompt in judge_server.prompts)  # the judge saw the numbered context
    judge_server.verdict = "NO"
    assert (
        main(
            [
                "eval-answers",
                "--questions",
                str(questions),
                "--index-dir",
                str(demo_index_dir),
                "--generator",
                "none",
                "--judge",
                "openai",
                "--limit",
                "2",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    assert json.loads(out.read_text())["summary"]["judge_faithfulness"] == 0.0
