"""The local generator on the real Gemma 3 270M weights: llama.cpp on the packaged GGUF, the transformers
fallback (converted from the GGUF once, then cached), and refusals that need no model."""

from __future__ import annotations

from pathlib import Path

import pytest
from llama_index.core.base.llms.types import ChatMessage, MessageRole

from daraz_llama.answers import local_llm
from daraz_llama.answers.chat_engine import ProductChatEngine
from daraz_llama.answers.context import format_context
from daraz_llama.answers.generators import make_llm
from daraz_llama.answers.gguf_export import packaged_gguf
from daraz_llama.answers.grounding import GroundingEvaluator
from daraz_llama.answers.llama_cpp_runtime import load_llama_cpp
from daraz_llama.index import load_index
from daraz_llama.models import ModelError
from daraz_llama.retriever import build_retriever

MESSAGES = [
    ChatMessage(role=MessageRole.SYSTEM, content="Answer briefly."),
    ChatMessage(role=MessageRole.USER, content="Name a colour."),
]


def test_llama_cpp_streams_the_packaged_gguf() -> None:
    llm = make_llm("local", runtime="llama.cpp", max_new_tokens=8)
    assert llm.runtime == "llama.cpp" and llm.model == str(packaged_gguf())
    pieces = [chunk.delta for chunk in llm.stream_chat(MESSAGES)]
    assert len(pieces) > 1 and "".join(pieces).strip()
    generation = llm.last_generation
    assert 2 <= generation.tokens <= 8 and generation.prompt_tokens > 5
    assert 0 < generation.first_token_s <= generation.total_s and generation.tokens_per_s > 0
    assert llm.chat(MESSAGES).message.content.strip()


def test_llama_cpp_stops_before_a_stop_text() -> None:
    model = load_llama_cpp(str(packaged_gguf()))
    turns = [{"role": "user", "content": "Write a sentence about a red bicycle."}]
    full = "".join(model.stream(turns, 24))
    words = [word for word in full.split() if word.isalpha()]
    assert len(words) >= 4, full
    stop = words[len(words) // 2]
    cut = "".join(model.stream(turns, 24, stop=(stop,)))
    assert cut == full[: full.index(stop)]


def test_default_runtime_is_llama_cpp_and_transformers_is_the_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    assert local_llm.installed_runtimes() == ("llama.cpp", "transformers")
    assert make_llm("local", max_new_tokens=2).runtime == "llama.cpp"
    monkeypatch.setattr(local_llm, "llama_cpp_installed", lambda: False)
    llm = make_llm("local", max_new_tokens=6)
    assert llm.runtime == "transformers" and Path(llm.model) == local_llm.base_gemma_folder()
    assert "".join(chunk.delta for chunk in llm.stream_chat(MESSAGES)).strip()
    assert llm.last_generation.tokens >= 1
    with pytest.raises(ModelError, match="pip install"):
        make_llm("local", runtime="llama.cpp")


def test_hub_names_run_on_transformers_only() -> None:
    with pytest.raises(ModelError, match="llama.cpp cannot run"):
        make_llm("local", model="google/gemma-3-270m", runtime="llama.cpp")


def test_conversion_is_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    local_llm.base_gemma_folder()  # converted by now

    def refuse(*args, **kwargs):
        raise AssertionError("the GGUF must not be converted twice")

    monkeypatch.setattr("transformers.AutoModelForCausalLM.from_pretrained", refuse)
    assert (local_llm.base_gemma_folder() / "config.json").is_file()


@pytest.mark.parametrize("generator", ["none", "local"])
def test_an_unanswerable_question_is_refused(generator: str, demo_index_dir: Path) -> None:
    llm = make_llm(generator, max_new_tokens=16)
    engine = ProductChatEngine(build_retriever(load_index(demo_index_dir), mode="hybrid"), llm)
    before = getattr(llm, "last_generation", None)
    answer = "".join(engine.stream_chat("Do you sell flight tickets to Dubai?").response_gen)
    assert engine.last_turn is not None and engine.last_turn.products == []
    context = format_context(engine.last_turn.products)
    result = GroundingEvaluator().evaluate(query="q", response=answer, contexts=[context], expect_refusal=True)
    assert result.passing, result.feedback
    if generator == "local":
        assert llm.last_generation is before  # the catalog refused: the model never ran
