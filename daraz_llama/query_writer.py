"""Shopper queries written by an LLM for every product of a catalog (InPars / Promptagator, doc2query).

A shop without a search log gets natural training data this way: an OpenAI-compatible LLM reads each
product and, shown a dozen real shopper queries as examples, writes the queries a shopper would type
to find it. The same queries, written by a fine-tuned Gemma query writer (:func:`writer_messages`, no
examples needed), expand the index (doc2query). Output is a query file in the evaluation format, appended
product by product, so an interrupted run resumes where it stopped. Lines that are not usable queries
are skipped and counted.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.llms import LLM
from llama_index.core.utils import get_tqdm_iterable

from daraz_llama.corpus import Product
from daraz_llama.queries import QueryRecord, load_queries

DEFAULT_EXAMPLES = Path(__file__).resolve().parent / "data" / "example_queries.jsonl"
EXAMPLE_COUNT = 12
DESCRIPTION_WORDS = 60
MAX_QUERY_WORDS = 24
GLUED_WORD = re.compile(r"[a-z]{3,}[A-Z]\w*")  # "watchFindingsRequest": a decoding artefact, unless the card has it
LATIN_OR_BENGALI = re.compile(r"^[\x00-\u024F\u0980-\u09FF\u2000-\u206F\u20B9৳’“”]*$")
LIST_MARKER = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.):]|q\d{1,2}[.):])\s*", re.IGNORECASE)
SYSTEM_PROMPT = (
    "You write the search queries real shoppers type into an online shop's search box or chat to find a "
    "product. Vary them: short keywords with the odd typo, a plain-words need, a need with a taka budget "
    "the product fits, brand or model led, and Banglish (Bangla words in Latin letters). Never copy the "
    "listing title. Answer with the queries only, one per line, no numbering."
)

WRITER_INSTRUCTION = "Write a search query a shopper would type to find this product."


@dataclass
class WriteReport:
    """What one run of the writer did."""

    products: int = 0  # products written this run
    resumed: int = 0  # products already in the output file, skipped
    queries: int = 0
    bad_lines: int = 0  # LLM lines that were not usable queries
    failed: list[str] = field(default_factory=list)  # products with no usable query (or an LLM error)


def product_card(product: Product) -> str:
    """The product as the LLM reads it: title, kind, brand, price, options and the start of the description."""
    lines = [f"Title: {product.title}", f"Category: {product.category}"]
    if product.brand and product.brand.lower() not in {"no brand", "generic"}:
        lines.append(f"Brand: {product.brand}")
    if product.price is not None:
        lines.append(f"Price: {product.price:,.0f} taka")
    if product.colors:
        lines.append(f"Colours: {', '.join(product.colors[:6])}")
    if product.sizes:
        lines.append(f"Sizes: {', '.join(product.sizes[:6])}")
    if product.description:
        words = product.description.split()
        more = " …" if len(words) > DESCRIPTION_WORDS else ""
        lines.append("Description: " + " ".join(words[:DESCRIPTION_WORDS]) + more)
    return "\n".join(lines)


def load_examples(path: str | Path | None = None, count: int = EXAMPLE_COUNT) -> list[QueryRecord]:
    """``count`` example queries from ``path`` (default: the packaged ones), spread over their styles."""
    loaded = load_queries(path or DEFAULT_EXAMPLES)
    if not loaded.queries:
        raise ValueError(f"{loaded.source}: no valid example query")
    by_style: dict[str, list[QueryRecord]] = {}
    for record in loaded.queries:
        by_style.setdefault(record.style or "", []).append(record)
    chosen: list[QueryRecord] = []
    while len(chosen) < min(count, len(loaded.queries)):
        for records in by_style.values():
            if records and len(chosen) < count:
                chosen.append(records.pop(0))
    return chosen


def build_messages(product: Product, examples: list[QueryRecord], per_product: int) -> list[ChatMessage]:
    shown = "\n".join(f"- {e.query}" + (f"  ({e.style})" if e.style else "") for e in examples)
    user = (
        f"Queries real shoppers typed for other products:\n{shown}\n\nThe product:\n{product_card(product)}\n\n"
        f"Write {per_product} different queries a shopper would type to find this product."
    )
    return [
        ChatMessage(role=MessageRole.SYSTEM, content=SYSTEM_PROMPT),
        ChatMessage(role=MessageRole.USER, content=user),
    ]


def writer_messages(product: Product) -> list[ChatMessage]:
    """What the fine-tuned query writer reads for ``product`` (in training and when writing): the card, no examples."""
    return [
        ChatMessage(role=MessageRole.SYSTEM, content=WRITER_INSTRUCTION),
        ChatMessage(role=MessageRole.USER, content=product_card(product)),
    ]


def _garbled(query: str, card: str) -> bool:
    """Decoding artefacts a small sampled model writes: code-like glued words or scripts the product's card
    does not have, or the query starting over inside itself."""
    words = query.lower().split()
    restarts = len(words) >= 6 and " ".join(words[:3]) in " ".join(words[3:])
    glued = any(word not in card for word in GLUED_WORD.findall(query))
    return restarts or glued or not (LATIN_OR_BENGALI.match(query) or query in card)


def parse_queries(text: str, product: Product, limit: int) -> tuple[list[str], int]:
    """Usable queries in the LLM's answer (at most ``limit``) and how many lines were not usable:
    empty after list markers and quotes are removed, too long, a copy of the title, repeated, or garbled
    (:func:`_garbled`)."""
    title = " ".join(product.title.lower().split())
    card = product_card(product)
    queries: list[str] = []
    bad = 0
    for line in text.splitlines():
        query = LIST_MARKER.sub("", line).strip().strip("\"'“”`").strip()
        if not query:
            continue
        normal = " ".join(query.lower().split())
        words = normal.split()
        if (
            len(normal) < 3
            or len(words) > MAX_QUERY_WORDS
            or normal == title
            or normal in {" ".join(q.lower().split()) for q in queries}
            or normal.endswith(":")
            or _garbled(query, card)
            or len(queries) >= limit
        ):
            bad += 1
            continue
        queries.append(query)
    return queries, bad


def _done_products(out: Path) -> set[str]:
    """Products that already have queries in ``out`` (a run being resumed); a last line cut short by a
    crash is removed, and its product is written again."""
    if not out.is_file():
        return set()
    text = out.read_text(encoding="utf-8")
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
        out.write_text(text, encoding="utf-8")
    done: set[str] = set()
    for line in text.splitlines():
        try:
            done.add(str(json.loads(line)["product_id"]))
        except (ValueError, KeyError, TypeError):
            continue  # a line cut by a crash: its product is written again
    return done


def write_queries_with_llm(
    llm: LLM,
    products: Iterable[Product],
    out: str | Path,
    per_product: int,
    examples: list[QueryRecord],
    writer_name: str,
    show_progress: bool = True,
    messages_for: Callable[[Product], list[ChatMessage]] | None = None,
) -> WriteReport:
    """Append ``per_product`` LLM-written queries per product to ``out`` (JSON Lines, evaluation format;
    ``relevant_ids`` holds the product and every product with exactly the same title).

    ``messages_for``: the prompt for a product (default: few-shot with ``examples``, asking for
    ``per_product`` lines); the LLM's answer is read one query per line."""
    if per_product < 1:
        raise ValueError("per_product must be at least 1")
    products = list(products)
    same_title: dict[str, list[str]] = {}
    for product in products:
        same_title.setdefault(" ".join(product.title.lower().split()), []).append(product.product_id)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = _done_products(out)
    report = WriteReport(resumed=sum(p.product_id in done for p in products))
    todo = [p for p in products if p.product_id not in done]
    with out.open("a", encoding="utf-8") as handle:
        for product in get_tqdm_iterable(todo, show_progress, "Writing queries"):
            try:
                messages = messages_for(product) if messages_for else build_messages(product, examples, per_product)
                reply = llm.chat(messages).message.content or ""
            except Exception:  # noqa: BLE001 - one failing product must not end a long run
                report.failed.append(product.product_id)
                continue
            queries, bad = parse_queries(reply, product, per_product)
            report.bad_lines += bad
            if not queries:
                report.failed.append(product.product_id)
                continue
            relevant = same_title[" ".join(product.title.lower().split())]
            handle.write(
                "".join(
                    json.dumps(
                        {
                            "qid": f"llm-{product.product_id}-{number}",
                            "query": query,
                            "relevant_ids": relevant,
                            "style": "llm",
                            "writer": writer_name,
                            "product_id": product.product_id,
                        },
                        ensure_ascii=False,
                    )
                    + "\n"
                    for number, query in enumerate(queries)
                )
            )
            handle.flush()
            report.products += 1
            report.queries += len(queries)
    return report
