"""daraz-llama as a LlamaIndex user meets it: the reader in an IngestionPipeline, the product index and
retriever with MetadataFilters inside a RetrieverQueryEngine, and async queries that leave the event loop free.

    python examples/llamaindex_user.py [CORPUS]     # default: the packaged demo corpus; runs offline
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from llama_index.core import Settings
from llama_index.core.ingestion import IngestionPipeline
from llama_index.core.llms import MockLLM
from llama_index.core.readers import ReaderConfig
from llama_index.core.vector_stores.types import FilterOperator, MetadataFilter, MetadataFilters

from daraz_llama import ProductNodeParser
from daraz_llama.index import build_index
from daraz_llama.models import default_embedder
from daraz_llama.reader import DarazCorpusReader

DEMO = Path(__file__).resolve().parents[1] / "daraz_llama" / "data" / "demo_corpus.md"


def ingest(corpus: Path) -> int:
    """The reader (a BasePydanticReader) and the node parser in a standard IngestionPipeline."""
    pipeline = IngestionPipeline(
        readers=[
            ReaderConfig(
                reader=DarazCorpusReader(), reader_kwargs={"file": str(corpus), "extra_info": {"shop": "demo"}}
            )
        ],
        transformations=[ProductNodeParser(min_words=30, max_words=120)],
    )
    nodes = pipeline.run()
    print(f"IngestionPipeline: {len(nodes)} chunks, e.g. {nodes[0].node_id} (shop={nodes[0].metadata['shop']})")
    return len(nodes)


async def ask_concurrently(retriever, questions: list[str]) -> int:
    """Four searches at once with ``aretrieve``; a 5 ms ticker keeps ticking meanwhile."""
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    task = asyncio.create_task(ticker())
    started = asyncio.get_running_loop().time()
    results = await asyncio.gather(*(retriever.aretrieve(q) for q in questions))
    elapsed = asyncio.get_running_loop().time() - started
    task.cancel()
    for question, hits in zip(questions, results):
        print(f"  async {question!r}: {hits[0].node.metadata['title']}")
    print(f"  the event loop ticked {ticks} times while the searches ran ({elapsed:.3f} s)")
    return ticks


def main(corpus: Path) -> None:
    ingest(corpus)
    with tempfile.TemporaryDirectory() as folder:
        index = build_index(corpus, Path(folder) / "index", embedder=default_embedder(), show_progress=False)
        under_600 = MetadataFilters(
            filters=[
                MetadataFilter(key="category", value="mens jeans"),
                MetadataFilter(key="price", operator=FilterOperator.LTE, value=600),
            ]
        )
        # Retrieval only here (offline: no LLM is called); set Settings.llm or pass llm=... for written answers.
        Settings.llm = MockLLM()
        engine = index.as_query_engine(mode="hybrid", similarity_top_k=3, filters=under_600, response_mode="no_text")
        response = engine.query("black slim jeans")
        for hit in response.source_nodes:
            print(f"RetrieverQueryEngine: {hit.node.metadata['title']} ৳{hit.node.metadata['price']:,.0f}")
        retriever = index.as_retriever(mode="hybrid", similarity_top_k=3)
        asyncio.run(
            ask_concurrently(
                retriever, ["fantech gamepad", "jamdani saree", "kids smart watch", "noise cancelling headphones"]
            )
        )


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEMO)
