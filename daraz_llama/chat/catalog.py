"""The catalog a chat server serves: one index per process, with retrievers and generators shared by sessions."""

from __future__ import annotations

import json
import math
import os
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from llama_index.core.llms import LLM
from llama_index.core.memory import ChatMemoryBuffer

from daraz_llama.answers.chat_engine import ProductChatEngine
from daraz_llama.answers.generators import make_llm
from daraz_llama.chat.options import ChatOptions
from daraz_llama.index import DEFAULT_INDEX_DIR, IndexNotFoundError, ProductIndex, ProductIndexError, read_manifest
from daraz_llama.milvus_store import MilvusIndex
from daraz_llama.models import fine_tuned_dir
from daraz_llama.retriever import ProductRetriever, RetrieverConfig, build_retriever, open_index, open_milvus_index

CORPUS_ENV = "DARAZ_LLAMA_CORPUS"
INDEX_DIR_ENV = "DARAZ_LLAMA_INDEX_DIR"
MILVUS_URI_ENV = "DARAZ_LLAMA_MILVUS_URI"  # the index in Milvus instead (a Milvus Lite file or a server URL)
DATA_DIR = Path(__file__).resolve().parent.parent / "data"
DEMO_CORPUS = DATA_DIR / "demo_corpus.md"
DEMO_QUESTIONS = DATA_DIR / "demo_questions.jsonl"
STARTERS = 4
COMMON_COLOURS = frozenset(
    "black white red blue green yellow pink purple grey gray brown navy maroon silver golden beige orange".split()
)


class CatalogError(Exception):
    """The catalog cannot be served; the message says which command fixes it."""


@dataclass(frozen=True)
class CatalogSource:
    """Where the catalog comes from: a corpus (indexed into ``index_dir`` when needed) or an index folder alone."""

    corpus: Path | None
    index_dir: Path
    milvus_uri: str | None = None  # the index is in Milvus (built with `daraz-llama index --store milvus`)

    @classmethod
    def from_env(cls) -> "CatalogSource":
        """``DARAZ_LLAMA_MILVUS_URI``, or ``DARAZ_LLAMA_CORPUS`` / ``DARAZ_LLAMA_INDEX_DIR``; with none set, the
        packaged demo corpus."""
        corpus = os.environ.get(CORPUS_ENV)
        index_dir = os.environ.get(INDEX_DIR_ENV)
        milvus_uri = os.environ.get(MILVUS_URI_ENV)
        if milvus_uri:
            return cls(None, Path(DEFAULT_INDEX_DIR), milvus_uri)
        if not corpus and not index_dir:
            return cls(DEMO_CORPUS, Path(DEFAULT_INDEX_DIR) / "demo")
        return cls(Path(corpus) if corpus else None, Path(index_dir or DEFAULT_INDEX_DIR))

    def as_env(self, base: Mapping[str, str]) -> dict[str, str]:
        """``base`` with this source's variables set (and a corpus variable dropped when there is none)."""
        env = {key: value for key, value in base.items() if key not in (CORPUS_ENV, MILVUS_URI_ENV)}
        if self.corpus is not None:
            env[CORPUS_ENV] = str(self.corpus)
        if self.milvus_uri is not None:
            env[MILVUS_URI_ENV] = self.milvus_uri
        env[INDEX_DIR_ENV] = str(self.index_dir)
        return env

    def needs_build(self) -> bool:
        """Whether loading will first build (or refresh) the index: worth telling the user."""
        try:
            return self.corpus is not None and read_manifest(self.index_dir)["corpus"]["path"] != str(
                self.corpus.resolve()
            )
        except IndexNotFoundError:
            return self.corpus is not None


class Catalog:
    """The loaded index, its facets, and per-options retrievers and generators (built once, shared)."""

    def __init__(self, index: ProductIndex | MilvusIndex, source: CatalogSource) -> None:
        self.index = index
        self.source = source
        self.lock = threading.Lock()  # one retrieval at a time: sessions share retrievers and models
        self._retrievers: dict[tuple, ProductRetriever] = {}
        self._llms: dict[tuple[str, str | None, str | None], LLM] = {}
        self._llm_lock = threading.Lock()  # a generator is loaded once, even when two sessions ask at once
        per_product = {c["product_id"]: c.get("category") for c in index.chunks}
        self.category_counts = Counter(category for category in per_product.values() if category)
        self.categories = [name for name, _ in self.category_counts.most_common()]
        self.brands = {c["brand"].casefold(): c["brand"] for c in index.chunks if c.get("brand")}

    @classmethod
    def load(cls, source: CatalogSource, show_progress: bool = True) -> "Catalog":
        if source.milvus_uri is not None:
            try:
                return cls(open_milvus_index(source.milvus_uri), source)
            except ProductIndexError as err:
                raise CatalogError(str(err)) from None
        if source.corpus is not None:
            if not source.corpus.is_file():
                raise CatalogError(f"corpus file not found: {source.corpus}")
            index = open_index(source.corpus, RetrieverConfig(index_dir=source.index_dir), show_progress)
        else:
            found: ProductIndex | None = None
            try:
                found = open_index(source.index_dir, show_progress=show_progress) if source.index_dir.is_dir() else None
            except IndexNotFoundError:
                pass
            if found is None:
                raise CatalogError(
                    f"no index in {source.index_dir}: build it with `daraz-llama index CORPUS "
                    f"--index-dir {source.index_dir}`, or start with `daraz-llama chat --corpus "
                    f"CORPUS`"
                )
            index = found
        return cls(index, source)

    @property
    def products(self) -> int:
        return self.index.manifest["counts"]["products"]

    def retriever(self, options: ChatOptions) -> ProductRetriever:
        key = (options.mode, options.filters)
        if key not in self._retrievers:
            self._retrievers[key] = build_retriever(
                self.index, RetrieverConfig(mode=options.mode, filters=options.filters)
            )
        return self._retrievers[key]

    def llm(self, options: ChatOptions) -> LLM:
        """The generator the options ask for; GeneratorError says what is missing."""
        model = runtime = None
        if options.generator == "local":
            from daraz_llama.answers.local_llm import base_model, default_runtime

            runtime = default_runtime() if options.local_runtime == "auto" else options.local_runtime
            if options.local_model == "fine-tuned" and fine_tuned_generator_exists():
                model = str(fine_tuned_dir("generator-ft").resolve())
            else:
                model = base_model(runtime)
        key = (options.generator, model, runtime)
        with self._llm_lock:
            if key not in self._llms:
                self._llms[key] = make_llm(options.generator, model=model, runtime=runtime)
            return self._llms[key]

    def engine(self, options: ChatOptions, memory: ChatMemoryBuffer | None = None) -> ProductChatEngine:
        """A chat engine for one session (``memory`` carries the conversation over a settings change)."""
        with self.lock:
            retriever = self.retriever(options)
        return ProductChatEngine(retriever, self.llm(options), context_products=options.products, memory=memory)

    def warm_up(self, options: ChatOptions) -> None:
        """Load what the first question would (vectors, embedder, cross-encoder, generator) before anyone asks."""
        engine = self.engine(options)
        with self.lock:
            engine.retriever.retrieve("warm up")

    def starters(self) -> list[str]:
        """Example questions as shoppers ask: the demo's own for the demo corpus; else, for the biggest
        categories, "<colour or brand> <category> under <budget> taka" from a well-rated product."""
        if self.source.corpus is not None and self.source.corpus.resolve() == DEMO_CORPUS:
            rows = [json.loads(line) for line in DEMO_QUESTIONS.read_text(encoding="utf-8").splitlines() if line]
            return [row["question"] for row in rows if row.get("answerable", True)][:STARTERS]
        best: dict[str, dict] = {}
        for chunk in self.index.chunks:
            category = chunk.get("category")
            if (
                category is not None
                and category in self.categories[:STARTERS]
                and chunk.get("price")
                and chunk.get("rating")
            ):
                if category not in best or chunk["rating"] > best[category]["rating"]:
                    best[category] = chunk
        questions = []
        for category in self.categories[:STARTERS]:
            if category in best:
                metadata = self.index.nodes([best[category]["id"]])[0].metadata
                ceiling = int(math.ceil(best[category]["price"] / 100.0) * 100)
                questions.append(f"{_salient(metadata, category)}{category} under {ceiling} taka")
        return questions


def _salient(metadata: Mapping[str, object], category: str) -> str:
    """A colour or brand worth asking for ("black ", "fantech "), or nothing."""
    colour = str(metadata.get("colors") or "").split(",")[0].strip().lower()
    if colour in COMMON_COLOURS and colour not in category:
        return f"{colour} "
    brand = str(metadata.get("brand") or "").strip()
    if brand and brand.casefold() != "no brand" and len(brand.split()) == 1 and brand.casefold() not in category:
        return f"{brand.lower()} "
    return ""


def fine_tuned_generator_exists() -> bool:
    return (fine_tuned_dir("generator-ft") / "config.json").is_file()


def generator_note(options: ChatOptions) -> str | None:
    """What a shopper should know about the generator they chose (None: nothing)."""
    if options.generator == "local" and options.local_model == "fine-tuned" and not fine_tuned_generator_exists():
        return (
            "There is no fine-tuned answer model yet (`daraz-llama train generator CORPUS` makes one): "
            "answers come from the base Gemma 3 270M."
        )
    return None


_shared: Catalog | None = None
_shared_lock = threading.Lock()


def shared_catalog() -> Catalog:
    """The process's catalog, loaded once (by the first caller; the others wait) from the environment."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Catalog.load(CatalogSource.from_env())
        return _shared


def catalog_loaded() -> bool:
    return _shared is not None
