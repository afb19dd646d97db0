"""The local generator on the real Gemma 3 270M weights (converted from the packaged GGUF once, then cached)."""

from __future__ import annotations

import pytest
from llama_index.core.base.llms.types import ChatMessage, MessageRole

from daraz_llama.answers import local_llm
from daraz_llama.answers.generators import make_llm


def test_local_gemma_streams_a_short_answer() -> None:
    llm = make_llm("local", max_new_tokens=6)
    messages = [
        ChatMessage(role=MessageRole.SYSTEM, content="Answer briefly."),
        ChatMessage(role=MessageRole.USER, content="Name a colour."),
    ]
    pieces = [chunk.delta for chunk in llm.stream_chat(messages)]
    assert pieces and "".join(pieces).strip()
    assert llm.chat(messages).message.content.strip()
    folder = local_llm.base_gemma_folder()
    assert (folder / "config.json").is_file() and list(folder.glob("*.safetensors"))


def test_conversion_is_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    local_llm.base_gemma_folder()  # converted by now

    def refuse(*args, **kwargs):
        raise AssertionError("the GGUF must not be converted twice")

    monkeypatch.setattr("transformers.AutoModelForCausalLM.from_pretrained", refuse)
    assert (local_llm.base_gemma_folder() / "config.json").is_file()
