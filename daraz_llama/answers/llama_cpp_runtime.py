"""The fast runtime of the ``local`` generator: a GGUF model through llama.cpp (``llama-cpp-python``).

The packaged Gemma 3 270M GGUF runs as it is; a fine-tuned model runs from its GGUF export
(:mod:`daraz_llama.answers.gguf_export`). Prompts are rendered with Gemma's chat template; the
instructions lead every prompt, so llama.cpp reuses their evaluated tokens from one answer to the next.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

from daraz_llama.answers.grounded_decoding import TAIL_TOKENS, GroundedDecoding
from daraz_llama.models import ModelError

STOP = ("<end_of_turn>",)
CONTEXT_TOKENS = 4096
QUESTION_TOKENS = 400  # more than a 1,000-character message takes


def llama_cpp_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("llama_cpp") is not None


@dataclass
class Generation:
    """What one answer cost: prompt tokens, generated tokens, seconds to the first piece and in all."""

    prompt_tokens: int = 0
    tokens: int = 0
    first_token_s: float = 0.0
    total_s: float = 0.0

    @property
    def tokens_per_s(self) -> float:
        decoding = self.total_s - self.first_token_s
        return (self.tokens - 1) / decoding if self.tokens > 1 and decoding > 0 else 0.0

    def record(self, pieces: Iterable[str], count_tokens: Callable[[str], int], max_new_tokens: int) -> Iterator[str]:
        """Pass ``pieces`` on, timing the first one and the whole answer; then count the answer's tokens (with
        the end of turn, when the answer ended before ``max_new_tokens``)."""
        started = time.perf_counter()
        text = ""
        for piece in pieces:
            if not piece:
                continue
            if not text:
                self.first_token_s = time.perf_counter() - started
            text += piece
            yield piece
        self.total_s = time.perf_counter() - started
        count = count_tokens(text)
        self.tokens = count + (count < max_new_tokens)


def answer_tail(token_ids: Sequence[int], prompt_tokens: int, decode: Callable[[list[int]], str]) -> str:
    """The end of the answer so far, enough for grounded decoding (which reads only its last characters):
    decoding the whole answer at every step would make a long answer quadratic."""
    start = max(prompt_tokens, len(token_ids) - TAIL_TOKENS)
    return decode([int(token) for token in token_ids[start:]])


@functools.lru_cache(maxsize=1)
def _template() -> Any:
    import jinja2

    from daraz_llama.answers.local_llm import GEMMA_CHAT_TEMPLATE

    return jinja2.Environment(autoescape=False).from_string(GEMMA_CHAT_TEMPLATE)


def render_prompt(turns: list[dict[str, str]]) -> str:
    """Gemma's chat format for ``turns`` (``role``: user / assistant), ending with the model's turn."""
    return str(_template().render(messages=turns, bos_token="<bos>", add_generation_prompt=True))


class LlamaCppModel:
    """One GGUF model in llama.cpp; one generation at a time (shoppers queue for the CPU)."""

    def __init__(self, path: str | Path, threads: int | None = None, verbose: bool = False) -> None:
        from llama_cpp import Llama
        from llama_cpp._utils import suppress_stdout_stderr  # llama.cpp prints to the C streams

        logging.getLogger("llama-cpp-python").setLevel(logging.DEBUG if verbose else logging.ERROR)
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelError(f"GGUF model not found: {self.path}")
        try:
            with suppress_stdout_stderr(disable=verbose):
                self.llama = Llama(
                    model_path=str(self.path),
                    n_ctx=CONTEXT_TOKENS,
                    n_threads=threads or max(1, min(os.cpu_count() or 1, 8)),
                    verbose=verbose,
                )
        except ValueError as err:  # llama-cpp-python's error for a file it cannot load
            raise ModelError(f"could not load {self.path} with llama.cpp: {err}") from err
        self._lock = threading.Lock()
        self._pieces: dict[int, str] = {}  # token → its text, for grounded decoding
        self.last = Generation()

    def stream(
        self,
        turns: list[dict[str, str]],
        max_new_tokens: int,
        repeat_penalty: float = 1.1,
        stop: Sequence[str] = STOP,
        rules: GroundedDecoding | None = None,
    ) -> Iterator[str]:
        """Text pieces of the greedy answer to ``turns``, up to ``max_new_tokens`` tokens, the end of turn or
        a ``stop`` text (not included); with ``rules``, only the amounts and citations they allow."""
        prompt = self.llama.tokenize(render_prompt(turns).encode("utf-8"), add_bos=False, special=True)
        room = CONTEXT_TOKENS - max_new_tokens
        if len(prompt) > room:  # an overlong prompt keeps its start (instructions, products) and its end (question)
            prompt = prompt[: room - QUESTION_TOKENS] + prompt[-QUESTION_TOKENS:]
        with self._lock:
            stats = Generation(prompt_tokens=len(prompt))
            chunks: Any = self.llama.create_completion(
                prompt,
                max_tokens=max_new_tokens,
                temperature=0.0,
                top_k=1,
                repeat_penalty=repeat_penalty,
                stop=list(stop),
                stream=True,
                logits_processor=self._processor(rules, len(prompt)) if rules else None,
            )
            pieces = (chunk["choices"][0]["text"] for chunk in chunks)
            yield from stats.record(pieces, self._count_tokens, max_new_tokens)
            self.last = stats

    def _count_tokens(self, text: str) -> int:
        return len(self.llama.tokenize(text.encode("utf-8"), add_bos=False))

    def _decode(self, tokens: list[int]) -> str:
        return self.llama.detokenize(tokens).decode("utf-8", errors="ignore")

    def _piece(self, token: int) -> str:
        if token not in self._pieces:
            self._pieces[token] = self._decode([token])
        return self._pieces[token]

    def _processor(self, rules: GroundedDecoding, prompt_tokens: int) -> Any:
        from llama_cpp import LogitsProcessorList

        def ground(input_ids: Any, scores: Any) -> Any:
            return rules.mask(answer_tail(input_ids, prompt_tokens, self._decode), scores, self._piece)

        return LogitsProcessorList([ground])


@functools.lru_cache(maxsize=2)
def load_llama_cpp(path: str) -> LlamaCppModel:
    """The model at ``path``, loaded once per process."""
    return LlamaCppModel(path)
