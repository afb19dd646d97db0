"""The fine-tuned Gemma query writer (doc2query) as a LlamaIndex LLM: each answer is ``samples`` sampled
shopper queries, one per line.

Runtimes: CTranslate2 (int8; all samples of a product decoded as one batch, about twice llama.cpp's
single-stream tokens/s on a 2-core CPU; the conversion is made once beside the model) or transformers
(``num_return_sequences``), the fallback.
"""

from __future__ import annotations

import importlib.util
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
)
from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.custom import CustomLLM

from daraz_llama.answers.local_llm import gemma_turns
from daraz_llama.models import ModelError

WRITER_RUNTIMES = ("ctranslate2", "transformers")
CT2_FOLDER = "ct2-int8"
END_TOKENS = ["<end_of_turn>", "<eos>"]


def ctranslate2_installed() -> bool:
    return importlib.util.find_spec("ctranslate2") is not None


def ct2_export(folder: Path) -> Path:
    """The int8 CTranslate2 conversion of the model in ``folder``, made once into ``folder/ct2-int8`` (again
    when the model's card changed); a crash leaves no partial conversion."""
    out = folder / CT2_FOLDER
    card = folder / "card.json"
    made_from = card.read_text(encoding="utf-8") if card.is_file() else ""
    source = out / "source-card.json"
    if source.is_file() and source.read_text(encoding="utf-8") == made_from:
        return out
    from ctranslate2.converters import TransformersConverter

    partial = folder / f".{CT2_FOLDER}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    try:
        TransformersConverter(str(folder)).convert(str(partial), quantization="int8", force=True)
        (partial / "source-card.json").write_text(made_from, encoding="utf-8")
        shutil.rmtree(out, ignore_errors=True)
        partial.rename(out)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return out


@dataclass
class WritingStats:
    """Tokens written and seconds spent, over every answer so far."""

    tokens: int = 0
    seconds: float = 0.0

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0


class GemmaQueryWriter(CustomLLM):
    """A query-writer model folder (``daraz-llama train querywriter``) that answers a product card with
    ``samples`` sampled queries, one per line (duplicates are left for the caller to drop)."""

    model: str = Field(description="folder of the fine-tuned query writer")
    samples: int = Field(default=10, ge=1, description="queries sampled per answer")
    temperature: float = Field(default=0.8, gt=0)
    top_k: int = Field(default=10, ge=1, description="sample from the 10 likeliest tokens, as docTTTTTquery does")
    max_new_tokens: int = Field(default=24, ge=1)
    runtime: str | None = Field(default=None, description="ctranslate2 or transformers; None: the fastest installed")
    seed: int = Field(default=13)
    _tokenizer: Any = PrivateAttr()
    _backend: Any = PrivateAttr()
    _stats: WritingStats = PrivateAttr(default_factory=WritingStats)

    def __init__(self, **data: Any) -> None:
        super().__init__(**data)
        folder = Path(self.model)
        if not (folder / "config.json").is_file():
            raise ModelError(
                f"no query writer in {folder}: train one with "
                "`daraz-llama train querywriter CORPUS --train-queries FILE`"
            )
        self.runtime = self.runtime or ("ctranslate2" if ctranslate2_installed() else "transformers")
        if self.runtime not in WRITER_RUNTIMES:
            choices = ", ".join(WRITER_RUNTIMES)
            raise ModelError(f"unknown query-writer runtime {self.runtime!r}: choose one of {choices}")
        if self.runtime == "ctranslate2":
            if not ctranslate2_installed():
                raise ModelError("the ctranslate2 runtime is not installed: pip install 'daraz-llama[expand]'")
            import ctranslate2
            from transformers import AutoTokenizer

            ctranslate2.set_random_seed(self.seed)
            self._tokenizer = AutoTokenizer.from_pretrained(str(folder))
            self._backend = ctranslate2.Generator(str(ct2_export(folder)), device="cpu", compute_type="int8")
        else:
            import torch

            from daraz_llama.answers.local_llm import load_causal_lm

            torch.manual_seed(self.seed)
            self._tokenizer, self._backend = load_causal_lm(str(folder))

    @classmethod
    def class_name(cls) -> str:
        return "GemmaQueryWriter"

    @property
    def stats(self) -> WritingStats:
        return self._stats

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name=self.model, num_output=self.max_new_tokens, is_chat_model=True)

    def _prompt_ids(self, messages: Sequence[ChatMessage]) -> list[int]:
        ids = self._tokenizer.apply_chat_template(gemma_turns(messages), add_generation_prompt=True, tokenize=True)
        return list(ids if isinstance(ids, list) else ids["input_ids"])

    def _sample(self, prompt: list[int]) -> list[list[int]]:
        if self.runtime == "ctranslate2":
            result = self._backend.generate_batch(
                [self._tokenizer.convert_ids_to_tokens(prompt)],
                num_hypotheses=self.samples,
                sampling_topk=self.top_k,
                sampling_temperature=self.temperature,
                max_length=self.max_new_tokens,
                include_prompt_in_result=False,
                end_token=END_TOKENS,
            )
            return [list(ids) for ids in result[0].sequences_ids]
        import torch

        stop = [self._tokenizer.convert_tokens_to_ids(token) for token in END_TOKENS]
        with torch.no_grad():
            output = self._backend.generate(
                torch.tensor([prompt], device=self._backend.device),
                do_sample=True,
                top_k=self.top_k,
                temperature=self.temperature,
                num_return_sequences=self.samples,
                max_new_tokens=self.max_new_tokens,
                eos_token_id=stop,
                pad_token_id=self._tokenizer.pad_token_id,
            )
        skip = {*stop, self._tokenizer.pad_token_id}
        return [[t for t in row[len(prompt) :].tolist() if t not in skip] for row in output]

    def write(self, messages: Sequence[ChatMessage]) -> list[str]:
        """``samples`` queries for the product in ``messages`` (one line each; empty ones included)."""
        started = time.perf_counter()
        sequences = self._sample(self._prompt_ids(messages))
        self._stats.seconds += time.perf_counter() - started
        self._stats.tokens += sum(len(ids) for ids in sequences)
        return [" ".join(self._tokenizer.decode(ids, skip_special_tokens=True).split()) for ids in sequences]

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        text = "\n".join(self.write(messages))
        return ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=text))

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return CompletionResponse(text=self.chat([ChatMessage(role=MessageRole.USER, content=prompt)]).message.content)

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        response = self.complete(prompt, formatted)
        yield CompletionResponse(text=response.text, delta=response.text)
