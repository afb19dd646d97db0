"""daraz-llama: product-catalog search and chat on LlamaIndex."""

import logging

__version__ = "0.1.0"

logging.getLogger("faiss.loader").setLevel(logging.WARNING)  # which CPU build faiss loads: noise in any log

from daraz_llama.filters import ProductFilters  # noqa: E402
from daraz_llama.index import ProductIndex, build_index, load_index  # noqa: E402
from daraz_llama.node_parser import ProductNodeParser  # noqa: E402
from daraz_llama.postprocessor import BestChunkPerProduct  # noqa: E402
from daraz_llama.reader import DarazCorpusReader  # noqa: E402
from daraz_llama.retriever import ProductRetriever, RetrieverConfig, build_retriever  # noqa: E402

__all__ = [
    "BestChunkPerProduct",
    "DarazCorpusReader",
    "ProductFilters",
    "ProductIndex",
    "ProductNodeParser",
    "ProductRetriever",
    "RetrieverConfig",
    "build_index",
    "build_retriever",
    "load_index",
]
