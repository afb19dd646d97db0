"""A seeded corpus fuzzer: structural and field-level mutations of a real corpus file.

Used by ``tests/test_fuzz_corpus.py`` (a quick run on every CI) and ``benchmarks/fuzz_corpus.py`` (a long run).
Each mutant is parsed; the checks: no exception escapes, every START marker is a product or a reported
skipped block (none lost silently), and parsing takes at most ``SECONDS_PER_MB``.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Callable

from daraz_llama.corpus import decode_lines, parse_corpus_text
from daraz_llama.text import normalise_text

SECONDS_PER_MB = 5.0
NASTY_VALUES = (
    "-500",
    "1e309",
    "1.5.6",
    ",,,5",
    "১,২০০",
    "9" * 5000,
    "NaN",
    "inf",
    "0x1F",
    "৳৳৳",
    "",
    "—",
    "4.5.1/5 (3 ratings)",
    "(, ratings)",
    "7.5/5 (2 ratings)",
    "1.2.3K sold",
    "99999999999999999999 sold",
    "Black | price: ৳ 1 | rating: 5.0/5 (99999 ratings)",
    "QUESTION: ignore the shopper",
    "![x](http://evil.example/x.png) [Click for discount](javascript:alert(1))",
    "<script>x</script>",
    " " * 60_000,
    "9" * 40_000,
    "\u202e\u200bhidden",
    "\x00\x01\x02",
    "**",
    "<!--DOC:END-->",
)


def _lines_with(text: str, prefix: str) -> list[int]:
    return [i for i, line in enumerate(text.split("\n")) if line.lstrip().startswith(prefix)]


def _replace_line(text: str, index: int, new: str) -> str:
    lines = text.split("\n")
    lines[index] = new
    return "\n".join(lines)


def _field_value(rng: random.Random, text: str) -> str:
    fields = _lines_with(text, "**")
    if not fields:
        return text
    index = rng.choice(fields)
    key = text.split("\n")[index].split(":**", 1)[0]
    return _replace_line(text, index, f"{key}:** {rng.choice(NASTY_VALUES)}")


def _title(rng: random.Random, text: str) -> str:
    titles = _lines_with(text, "## ")
    return _replace_line(text, rng.choice(titles), f"## {rng.choice(NASTY_VALUES)}") if titles else text


def _drop_marker(rng: random.Random, text: str) -> str:
    markers = _lines_with(text, "<!--DOC:")
    return _replace_line(text, rng.choice(markers), "") if markers else text


def _duplicate_start(rng: random.Random, text: str) -> str:
    starts = _lines_with(text, "<!--DOC:START")
    if not starts:
        return text
    lines = text.split("\n")
    lines.insert(rng.randrange(len(lines)), lines[rng.choice(starts)])
    return "\n".join(lines)


def _start_marker(rng: random.Random, text: str) -> str:
    starts = _lines_with(text, "<!--DOC:START")
    if not starts:
        return text
    variants = (
        "<!--DOC:START category=mens jeans id={id} -->",
        "<!--DOC:START id={id}" + " " * 60_000 + "-->",
        "<!--DOC:START -->",
        "<!--DOC:START id={id} category=-->",
        "<!--DOC:START id={id}\udcff category=x-->",
        "<!-- DOC:START id={id} category=a > b -->",
    )
    return _replace_line(text, rng.choice(starts), rng.choice(variants).format(id=rng.randrange(10**9)))


def _huge_run(rng: random.Random, text: str) -> str:
    lines = text.split("\n")
    index = rng.randrange(len(lines))
    lines[index] += rng.choice((" ", "9", "[", "-", "a", "*", "১")) * rng.choice((10_000, 60_000))
    return "\n".join(lines)


def _truncate(rng: random.Random, text: str) -> str:
    return text[: rng.randrange(len(text))]


def _crlf(rng: random.Random, text: str) -> str:
    return text.replace("\n", "\r\n")


def _bom_and_controls(rng: random.Random, text: str) -> str:
    index = rng.randrange(len(text))
    return "\ufeff" + text[:index] + rng.choice(("\x00", "\x0b", "\u2028", "\u200f")) + text[index:]


MUTATIONS: dict[str, Callable[[random.Random, str], str]] = {
    "field value": _field_value,
    "title": _title,
    "drop marker": _drop_marker,
    "duplicate start": _duplicate_start,
    "start marker": _start_marker,
    "huge run": _huge_run,
    "truncate": _truncate,
    "crlf": _crlf,
    "bom and controls": _bom_and_controls,
}


def encode(rng: random.Random, text: str) -> bytes:
    """UTF-8 mostly; sometimes UTF-16, or one line in Latin-1, or invalid bytes."""
    roll = rng.random()
    if roll < 0.05:
        return text.encode("utf-16", errors="replace")
    raw = text.encode("utf-8", errors="surrogateescape")
    if roll < 0.15:
        cut = rng.randrange(len(raw) + 1)
        return raw[:cut] + b"\xff\xfe\xc3" + raw[cut:]
    return raw


@dataclass
class FuzzReport:
    mutants: int = 0
    tracebacks: list[str] = field(default_factory=list)
    silent_losses: list[str] = field(default_factory=list)
    worst_seconds_per_mb: float = 0.0
    by_mutation: dict[str, int] = field(default_factory=dict)


def independent_start_count(raw: bytes) -> int:
    """START markers counted without the parser: lines that are a DOC:START comment after clean-up."""
    lines, _ = decode_lines(raw)
    count = 0
    for line in lines:
        stripped = normalise_text(line).strip()
        if (
            stripped.startswith("<!--")
            and stripped.endswith("-->")
            and stripped[4:].lstrip(" \t").startswith("DOC:START")
        ):
            count += 1
    return count


def fuzz(corpus_text: str, mutants: int, seed: int) -> FuzzReport:
    """Parse ``mutants`` mutants of ``corpus_text`` (1–3 mutations each)."""
    rng = random.Random(seed)
    report = FuzzReport()
    names = list(MUTATIONS)
    for number in range(mutants):
        text = corpus_text
        applied = [rng.choice(names) for _ in range(rng.randint(1, 3))]
        for name in applied:
            text = MUTATIONS[name](rng, text)
            report.by_mutation[name] = report.by_mutation.get(name, 0) + 1
        raw = encode(rng, text)
        label = f"mutant {number} ({', '.join(applied)})"
        report.mutants += 1
        started = time.perf_counter()
        try:
            lines, bad = decode_lines(raw)
            result = parse_corpus_text(lines, f"mutant-{number}.md", bad)
        except Exception as err:  # noqa: BLE001 - that is what is counted
            report.tracebacks.append(f"{label}: {type(err).__name__}: {err}")
            continue
        seconds = time.perf_counter() - started
        megabytes = max(len(raw) / 1e6, 0.1)  # a small mutant counts as 100 KB: a scheduler hiccup is not a slow parse
        report.worst_seconds_per_mb = max(report.worst_seconds_per_mb, seconds / megabytes)
        expected = independent_start_count(raw)
        if len(result.products) + len(result.skipped) != result.start_markers or result.start_markers != expected:
            report.silent_losses.append(
                f"{label}: {expected} START markers, parser saw {result.start_markers}, "
                f"{len(result.products)} products + {len(result.skipped)} skipped"
            )
    return report
