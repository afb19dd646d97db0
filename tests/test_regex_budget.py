"""Every pattern that sees shopper or catalog text runs in linear time: 100k characters of its worst
case in under 50 ms (Python's ``re`` holds the GIL, so one slow match stalls every session)."""

from __future__ import annotations

import importlib
import re
import time

import pytest

MODULES = (
    "daraz_llama.corpus",
    "daraz_llama.query_parsing",
    "daraz_llama.text",
    "daraz_llama.node_parser",
    "daraz_llama.queries",
    "daraz_llama.answers.shopper_query",
    "daraz_llama.answers.fit",
    "daraz_llama.answers.offline_llm",
    "daraz_llama.answers.grounding",
    "daraz_llama.answers.context",
    "daraz_llama.answers.chat_engine",
    "daraz_llama.chat.cards",
    "daraz_llama.chat.options",
)
N = 100_000
WORST_CASES = {
    "spaces": "jeans under" + " " * N + "x",
    "question": "QUESTION: a" + " " * N + "b",
    "tabs": "\t" * N + "x",
    "digits": "৳ " + "9" * N + "x",
    "letters": "a" * N + "!",
    "brackets": "[" * N,
    "commas": "1," * (N // 2) + "x",
    "dashes": "a-" * (N // 2) + "!",
    "dots": "1." * (N // 2) + "x",
    "lines": "a\n" * (N // 2),
    "stars": "**" + "a" * N,
    "marker": "<!--" + " " * N + "DOC:START",
    "words": "for " * (N // 4),
    "models": "rtx 4060 " * (N // 9),
    "quotes": '"' * N,
    "budgets": "under " * (N // 6) + "5",
    "bangla": "ক" * N,
    "pipes": " | " * (N // 3),
    "numbers": "1 " * (N // 2) + "k",
}


def _patterns() -> list[tuple[str, re.Pattern[str]]]:
    found = []
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        found += [
            (f"{module_name}.{name}", value) for name, value in vars(module).items() if isinstance(value, re.Pattern)
        ]
    return found


@pytest.mark.parametrize(("name", "pattern"), _patterns(), ids=[name for name, _ in _patterns()])
def test_pattern_is_linear_on_its_worst_cases(name: str, pattern: re.Pattern[str]) -> None:
    slow = {}
    for label, text in WORST_CASES.items():
        best = min(_timed(pattern, text) for _ in range(2))
        if best > 0.05:
            slow[label] = round(best, 3)
    assert not slow, f"{name} is slow on {slow} (seconds for {N:,} characters)"


def _timed(pattern: re.Pattern[str], text: str) -> float:
    started = time.perf_counter()
    pattern.findall(text)
    return time.perf_counter() - started
