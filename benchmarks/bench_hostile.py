"""Timings of the hostile inputs of the reliability issue (each once; seconds).

    python benchmarks/bench_hostile.py [--index-dir INDEX]   # INDEX: any built index (default: builds the demo)

Rows: a 60,000-space query through the retriever; a 40,000-space chat message through the chat engine;
an 80,000-space QUESTION line for the offline generator; corpus blocks with a 60 KB whitespace run in a
**Brand:** line and in a START marker, and 40k digits in a rating; a 2 MB and a 10 MB single-line description
chunked.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from daraz_llama.answers.chat_engine import ProductChatEngine
from daraz_llama.answers.generators import make_llm
from daraz_llama.answers.offline_llm import compose_answer
from daraz_llama.corpus import parse_corpus_text
from daraz_llama.index import build_index, load_index
from daraz_llama.node_parser import pack_paragraphs
from daraz_llama.retriever import build_retriever

DEMO = Path(__file__).resolve().parents[1] / "daraz_llama" / "data" / "demo_corpus.md"


def _block(
    brand: str = "Fantech", start: str = "<!--DOC:START id=1 category=gaming-->", rating: str = "4.5/5 (3 ratings)"
) -> list[str]:
    return [start, "## Gamepad", f"**Brand:** {brand}", "**Price:** ৳ 500", f"**Rating:** {rating}", "<!--DOC:END-->"]


def _timed(label: str, work) -> None:
    started = time.perf_counter()
    work()
    print(f"| {label} | {time.perf_counter() - started:.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index-dir")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        index = (
            load_index(args.index_dir)
            if args.index_dir
            else build_index(DEMO, Path(folder) / "idx", show_progress=False)
        )
        retriever = build_retriever(index, mode="bm25")
        retriever.retrieve("warm up")
        print("| input | seconds |\n| --- | ---: |")
        _timed(
            "search: 'jeans under' + 60,000 spaces + 'x'",
            lambda: retriever.retrieve("jeans under" + " " * 60_000 + "x"),
        )
        engine = ProductChatEngine(retriever, make_llm("none"))
        _timed("chat message of 40,000 spaces", lambda: engine.chat(" " * 40_000))
        _timed(
            "offline generator: 'QUESTION: a' + 80,000 spaces + 'b'",
            lambda: compose_answer("QUESTION: a" + " " * 80_000 + "b"),
        )
        _timed(
            "corpus: 60 KB of spaces in a **Brand:** line",
            lambda: parse_corpus_text(_block(brand=" " * 60_000 + "x"), "b.md"),
        )
        _timed(
            "corpus: 60 KB of spaces in a START marker",
            lambda: parse_corpus_text(_block(start="<!--DOC:START id=1" + " " * 60_000 + "category=x-->"), "s.md"),
        )
        _timed("corpus: 40k digits in a rating", lambda: parse_corpus_text(_block(rating="9" * 40_000 + "/5"), "r.md"))
        _timed("chunking a 2 MB single-line description", lambda: pack_paragraphs("word " * 400_000, 40, 160))
        _timed("chunking a 10 MB single-line description", lambda: pack_paragraphs("word " * 2_000_000, 40, 160))


if __name__ == "__main__":
    main()
