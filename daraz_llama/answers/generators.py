"""Pick the answer generator: ``none`` (offline template), ``local`` (Gemma 3 270M) or ``openai`` (any
OpenAI-compatible endpoint). All three are LlamaIndex ``LLM``s."""

from __future__ import annotations

import os

from llama_index.core.llms import LLM

GENERATORS = ("none", "local", "openai")
DEFAULT_OPENAI_MODEL = "gpt-4o-mini"


class GeneratorError(Exception):
    """The generator asked for is not configured or cannot be reached."""


def make_llm(
    kind: str = "none",
    model: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    max_new_tokens: int = 320,
    runtime: str | None = None,
) -> LLM:
    """The generator ``kind``; ``model`` is a GGUF file, folder or hub name (local) or a model name (openai);
    ``runtime`` (local): llama.cpp or transformers, None for the fastest installed."""
    if kind == "none":
        from daraz_llama.answers.offline_llm import CatalogAnswerLLM

        return CatalogAnswerLLM()
    if kind == "local":
        from daraz_llama.answers.local_llm import LocalGemmaLLM

        return LocalGemmaLLM(model=model, runtime=runtime, max_new_tokens=max_new_tokens)
    if kind == "openai":
        from llama_index.llms.openai_like import OpenAILike

        base_url = base_url or os.environ.get("OPENAI_BASE_URL")
        api_key = api_key or os.environ.get("OPENAI_API_KEY")
        if not api_key and not base_url:
            raise GeneratorError(
                "the openai generator needs OPENAI_API_KEY (and OPENAI_BASE_URL for another "
                "endpoint, e.g. one started with `daraz-llama serve-llm`)"
            )
        return OpenAILike(
            model=model or os.environ.get("OPENAI_MODEL", DEFAULT_OPENAI_MODEL),
            api_base=base_url or "https://api.openai.com/v1",
            api_key=api_key or "not-needed",
            is_chat_model=True,
            context_window=8192,
            max_tokens=max_new_tokens,
            timeout=60,
            max_retries=1,
        )
    raise GeneratorError(f"unknown generator {kind!r}: choose one of {', '.join(GENERATORS)}")
