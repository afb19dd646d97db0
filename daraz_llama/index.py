"""Build, persist and load the product index: chunks, BM25, FAISS and a manifest.

Layout of an index folder::

    DIR/CURRENT            name of the live version (replaced atomically)
    DIR/versions/<name>/   manifest.json, chunks.json, docstore + FAISS (LlamaIndex storage), bm25/

A build writes a new version folder and only then points CURRENT at it, so an
interrupted build leaves the last good index in place.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import faiss
import numpy as np
from llama_index.core import StorageContext, VectorStoreIndex, load_index_from_storage
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.schema import BaseNode, MetadataMode, TextNode
from llama_index.core.storage.docstore import BaseDocumentStore, SimpleDocumentStore
from llama_index.retrievers.bm25 import BM25Retriever

from daraz_llama import __version__
from daraz_llama.bm25_terms import BM25_LANGUAGE, BM25_TERMS, bm25_stemmer
from daraz_llama.corpus import CorpusError, ParseProblem, ParseResult, file_sha256, parse_corpus
from daraz_llama.expansions import EXPANSION_KEY, Expansions, expansion_nodes
from daraz_llama.faiss_store import FilterableFaissVectorStore
from daraz_llama.models import load_embedder, model_id, resolve_model_name
from daraz_llama.node_parser import ProductNodeParser
from daraz_llama.onnx_backend import ONNX_VECTORS
from daraz_llama.postprocessor import product_id_of
from daraz_llama.reader import product_to_document
from daraz_llama.schema import keys

logger = logging.getLogger(__name__)

INDEX_FORMAT = 1
CURRENT_FILE = "CURRENT"
LOCK_FILE = ".build.lock"


DEFAULT_INDEX_DIR = "daraz-index"  # where the CLI and the chat keep an index unless told otherwise


class ProductIndexError(Exception):
    """Base class for index problems."""


class IndexNotFoundError(ProductIndexError):
    """No index in the given folder."""


class StaleIndexError(ProductIndexError):
    """The index was built from another corpus, model or chunking than asked for."""


class DamagedIndexError(ProductIndexError):
    """A file of the index is truncated, corrupt or missing."""


class IndexWriteError(ProductIndexError):
    """The index folder cannot be written."""


class BuiltWith:
    """What a manifest says the index was built with (shared by the FAISS folder and the Milvus store)."""

    manifest: dict[str, Any]

    @property
    def embedder(self) -> str | None:
        """Name or folder of the embedder the vectors were made with (None: BM25 only)."""
        embedder = self.manifest.get("embedder")
        return embedder["name"] if embedder else None

    @property
    def embedder_backend(self) -> str:
        """How the vectors were made (``torch`` or ``onnx``); queries are embedded the same way."""
        return (self.manifest.get("embedder") or {}).get("backend", "torch")


@dataclass
class ProductIndex(BuiltWith):
    """A loaded product index: the chunks in a fixed order, BM25 over them and (optionally) FAISS."""

    manifest: dict[str, Any]
    chunks: list[dict[str, Any]]
    bm25: BM25Retriever  # holds the bm25s index and the chunk corpus; per-query retrievers share it
    docstore: BaseDocumentStore
    storage: StorageContext | None = None  # holds the FAISS store; None for a BM25-only index
    path: Path | None = None
    problems: list[ParseProblem] = field(default_factory=list)
    cache: dict[str, Any] = field(default_factory=dict, repr=False)  # data derived once per loaded index
    _vector_index: VectorStoreIndex | None = None

    def vector_index(self) -> VectorStoreIndex | None:
        """The FAISS-backed LlamaIndex index, with the embedder it was built with (loaded on first use)."""
        if self._vector_index is None and self.storage is not None and self.embedder is not None:
            embed_model = load_embedder(self.embedder, self.embedder_backend)
            loaded = load_index_from_storage(self.storage, embed_model=embed_model)
            assert isinstance(loaded, VectorStoreIndex)
            self._vector_index = loaded
        return self._vector_index

    @property
    def has_vectors(self) -> bool:
        """Whether the index holds dense vectors (else BM25 only)."""
        return self.storage is not None

    @property
    def chunk_ids(self) -> list[str]:
        return [chunk["id"] for chunk in self.chunks]

    def nodes(self, node_ids: list[str]) -> list[BaseNode]:
        return self.docstore.get_nodes(node_ids)

    def as_retriever(self, **kwargs: Any) -> Any:  # -> ProductRetriever (imported lazily: it imports this module)
        """A :class:`~daraz_llama.retriever.ProductRetriever` over this index; ``kwargs`` as for ``build_retriever``
        (``mode``, ``similarity_top_k``, ``filters`` as ``MetadataFilters`` or ``ProductFilters`` …)."""
        from daraz_llama.retriever import build_retriever

        return build_retriever(self, **kwargs)

    def as_query_engine(self, llm: Any = None, **kwargs: Any) -> Any:  # -> RetrieverQueryEngine
        """LlamaIndex's ``RetrieverQueryEngine`` over :meth:`as_retriever`; retriever settings go to the retriever,
        the rest (``response_mode`` …) to ``RetrieverQueryEngine.from_args``; ``llm`` None: ``Settings.llm``."""
        from dataclasses import fields

        from llama_index.core.query_engine import RetrieverQueryEngine

        from daraz_llama.retriever import RetrieverConfig

        names = {f.name for f in fields(RetrieverConfig)} | {"similarity_top_k"}
        retriever_kwargs = {key: kwargs.pop(key) for key in list(kwargs) if key in names}
        return RetrieverQueryEngine.from_args(self.as_retriever(**retriever_kwargs), llm=llm, **kwargs)

    @classmethod
    def from_nodes(
        cls, nodes: Sequence[BaseNode], embedder: str | None = None, show_progress: bool = False
    ) -> "ProductIndex":
        """An index over ``nodes`` from any LlamaIndex pipeline (see :func:`index_nodes`)."""
        return index_nodes(nodes, embedder, show_progress=show_progress)

    def titles(self) -> dict[str, str]:
        """Each product's title, by product id."""
        return {product_id_of(n): str(n.metadata.get("title", "")) for n in self.docstore.docs.values()}

    def product_ids(self) -> list[str]:
        """Product ids in corpus order, each once."""
        return list(dict.fromkeys(chunk["product_id"] for chunk in self.chunks))

    def first_chunks(self) -> dict[str, BaseNode]:
        """Each product's first real chunk (what is shown for a hit on its predicted queries), by product id."""
        if "first_chunks" not in self.cache:
            first: dict[str, str] = {}
            for chunk in self.chunks:
                if not chunk.get(EXPANSION_KEY):
                    first.setdefault(chunk["product_id"], chunk["id"])
            nodes = self.nodes(list(first.values()))
            self.cache["first_chunks"] = dict(zip(first, nodes))
        return self.cache["first_chunks"]


def chunk_key(model: str | None, embed_text: str) -> str:
    return hashlib.sha1(f"{model}\x00{embed_text}".encode("utf-8")).hexdigest()


def _catalog_row(node: BaseNode, key: str) -> dict[str, Any]:
    row: dict[str, Any] = {"id": node.node_id, "key": key}
    row.update({name: node.metadata[name] for name in keys("catalog") if name in node.metadata})  # for filtering
    row["product_id"] = product_id_of(node)
    if node.metadata.get(EXPANSION_KEY):
        row[EXPANSION_KEY] = True
    return row


def current_version_dir(index_dir: str | Path) -> Path | None:
    """The live version folder of ``index_dir``, or None when there is none."""
    pointer = Path(index_dir) / CURRENT_FILE
    if not pointer.is_file():
        return None
    version = Path(index_dir) / "versions" / pointer.read_text(encoding="utf-8").strip()
    return version if (version / "manifest.json").is_file() else None


def _live_version(index_dir: str | Path) -> Path:
    """The live version folder of ``index_dir``; a clear error when there is none."""
    version = current_version_dir(index_dir)
    if version is None:
        raise IndexNotFoundError(
            f"no index in {index_dir}: build one with `daraz-llama index CORPUS --index-dir {index_dir}`"
        )
    return version


def read_manifest(index_dir: str | Path) -> dict[str, Any]:
    return json.loads((_live_version(index_dir) / "manifest.json").read_text(encoding="utf-8"))


def _reusable_vectors(index_dir: Path | None) -> dict[str, np.ndarray]:
    """Vectors of the live version of ``index_dir`` by chunk key, for incremental rebuilds."""
    version = current_version_dir(index_dir) if index_dir else None
    if version is None or not (version / "default__vector_store.json").is_file():
        return {}
    try:
        store = FilterableFaissVectorStore.from_persist_path(str(version / "default__vector_store.json"))
        chunks = json.loads((version / "chunks.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, RuntimeError) as err:
        logger.warning("cannot reuse vectors of %s (%s): embedding everything", version, err)
        return {}
    vectors = store.vectors()
    row_of = {node_id: row for row, node_id in enumerate(store.row_node_ids)}
    return {c["key"]: vectors[row_of[c["id"]]] for c in chunks if c["id"] in row_of}


@contextmanager
def build_lock(index_dir: str | Path) -> Iterator[None]:
    """Hold ``index_dir``'s build lock: one builder at a time; another one waits, and says so."""
    index_dir = Path(index_dir)
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        handle = open(index_dir / LOCK_FILE, "a+b")  # noqa: SIM115 - closed below
    except OSError as err:
        raise IndexWriteError(f"cannot write the index in {index_dir}: {err.strerror or err}") from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            logger.warning("another build of %s is running: waiting for it to finish", index_dir)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_index(
    corpus: str | Path,
    index_dir: str | Path | None = None,
    embedder: str | None = None,
    parser: ProductNodeParser | None = None,
    show_progress: bool = True,
    parsed: ParseResult | None = None,
    backend: str = "torch",
    expansions: Expansions | None = None,
    expansions_per_product: int | None = None,
    expand_dense: bool = False,
) -> ProductIndex:
    """Parse ``corpus``, chunk it, embed what is new and index it; persist to ``index_dir`` if given.

    ``embedder`` is a sentence-transformers name or folder, or None for a BM25-only index; ``backend`` runs it
    on ``torch`` or ``onnx`` (int8 ONNX Runtime), and queries are embedded the same way.
    ``expansions``: predicted queries (at most ``expansions_per_product`` per product) searched by BM25 and,
    with ``expand_dense``, by the dense index too, as one hidden chunk per product (never shown).
    Vectors of unchanged chunks are taken from the existing index in ``index_dir``.
    ``parsed``: the corpus already parsed (it is not parsed again). Builds into one ``index_dir`` take
    turns (:func:`build_lock`), so each one reuses the vectors of the one before.
    """
    expanding = (expansions, expansions_per_product, expand_dense)
    if index_dir is None:
        return _build_index(corpus, None, embedder, parser, show_progress, parsed, backend, expanding)
    with build_lock(index_dir):
        return _build_index(corpus, index_dir, embedder, parser, show_progress, parsed, backend, expanding)


def _build_index(
    corpus: str | Path,
    index_dir: str | Path | None,
    embedder: str | None,
    parser: ProductNodeParser | None,
    show_progress: bool,
    parsed: ParseResult | None,
    backend: str,
    expanding: tuple[Expansions | None, int | None, bool],
) -> ProductIndex:
    started = time.perf_counter()
    parser = parser or ProductNodeParser()
    parsed, nodes = corpus_nodes(corpus, parser, parsed, show_progress)
    expansions, per_product, dense = expanding
    extra = expansion_nodes(nodes, expansions, per_product) if expansions else []
    index = index_nodes(
        nodes,
        embedder,
        reuse_from=index_dir,
        show_progress=show_progress,
        backend=backend,
        expansions=extra,
        expand_dense=dense,
    )
    corpus_path = Path(corpus).resolve()
    index.manifest.update(
        {
            "chunking": parser.settings(),
            "corpus": {"path": str(corpus_path), "sha256": file_sha256(corpus_path)},
            "expansions": expansions.describe(per_product, dense) if expansions else None,
            "build_seconds": round(time.perf_counter() - started, 2),
        }
    )
    index.manifest["counts"].update({"products": len(parsed.products), "problems": len(parsed.problems)})
    index.problems = parsed.problems
    if index_dir is not None:
        persist_index(index, index_dir)
    return index


def corpus_nodes(
    corpus: str | Path, parser: ProductNodeParser, parsed: ParseResult | None, show_progress: bool
) -> tuple[ParseResult, list[BaseNode]]:
    """``corpus`` parsed (unless ``parsed`` is given) and chunked; an error when no product could be parsed."""
    parsed = parsed or parse_corpus(corpus)
    documents = [product_to_document(product) for product in parsed.products]
    if not documents:
        raise CorpusError(f"{corpus}: no product could be parsed ({len(parsed.problems)} problems)")
    return parsed, parser.get_nodes_from_documents(documents, show_progress=show_progress)


def vectors_made_by(model: str | None, backend: str) -> str | None:
    """What a chunk's vector depends on besides its text: the model, and the runtime when it is not torch (int8
    vectors are not the float ones; ONNX vectors made before each text ran alone depended on their batch)."""
    if not model or backend == "torch":
        return model
    return f"{model}#{ONNX_VECTORS if backend == 'onnx' else backend}"


def index_nodes(
    nodes: Sequence[BaseNode],
    embedder: str | None = None,
    reuse_from: str | Path | None = None,
    show_progress: bool = False,
    backend: str = "torch",
    expansions: Sequence[TextNode] = (),
    expand_dense: bool = False,
) -> ProductIndex:
    """BM25 and (with an ``embedder``) FAISS over ``nodes`` as they are, e.g. from any LlamaIndex pipeline.

    A chunk's product is its ``product_id`` metadata, else its source document. Vectors of chunks unchanged
    since the index in ``reuse_from`` are taken from it. Nothing is written. ``expansions``
    (:func:`~daraz_llama.expansions.expansion_nodes`) join BM25, and FAISS too with ``expand_dense``.
    """
    real_nodes: list[BaseNode] = [
        node
        if isinstance(node, TextNode)
        else TextNode(text=node.get_content(), metadata=dict(node.metadata), id_=node.node_id)
        for node in nodes
    ]
    if not real_nodes:
        raise ValueError("no nodes to index")
    text_nodes = real_nodes + list(expansions)
    embedded = text_nodes if expand_dense else real_nodes
    embedder = resolve_model_name(embedder) if embedder else None
    model = model_id(embedder) if embedder else None
    embed_texts = [node.get_content(metadata_mode=MetadataMode.EMBED) for node in text_nodes]
    keys_ = [chunk_key(vectors_made_by(model, backend), text) for text in embed_texts]
    docstore = SimpleDocumentStore()
    vector_index, reused = None, 0
    if embedder:
        count = len(embedded)
        vector_index, reused = _embed(
            embedded,
            embed_texts[:count],
            keys_[:count],
            load_embedder(embedder, backend),
            docstore,
            reuse_from,
            show_progress,
        )
        docstore.add_documents(text_nodes[count:])
    else:
        docstore.add_documents(text_nodes)
    bm25 = BM25Retriever.from_defaults(nodes=text_nodes, stemmer=bm25_stemmer(), language=BM25_LANGUAGE)
    bm25.bm25.corpus = bm25.corpus  # as after loading, so retrievers made from bm25.bm25 find their nodes
    manifest = {
        "package_version": __version__,
        "format": INDEX_FORMAT,
        "bm25": BM25_TERMS,
        "embedder": {"name": embedder, "id": model, "dim": vector_index.vector_store.client.d, "backend": backend}
        if vector_index
        else None,
        "expansions": {"chunks": len(expansions), "into": "bm25+dense" if expand_dense else "bm25"}
        if expansions
        else None,
        "counts": {
            "chunks": len(real_nodes),
            "expansion_chunks": len(expansions),
            "embedded": len(embedded) - reused if embedder else 0,
            "reused_vectors": reused,
        },
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    return ProductIndex(
        manifest=manifest,
        chunks=[_catalog_row(node, key) for node, key in zip(text_nodes, keys_)],
        bm25=bm25,
        docstore=docstore,
        storage=vector_index.storage_context if vector_index else None,
        _vector_index=vector_index,
    )


def _embed(
    nodes: list[BaseNode],
    embed_texts: list[str],
    keys_: list[str],
    embed_model: BaseEmbedding,
    docstore: SimpleDocumentStore,
    reuse_from: str | Path | None,
    show_progress: bool,
) -> tuple[VectorStoreIndex, int]:
    """FAISS over ``nodes``: new chunks embedded, unchanged ones' vectors reused; returns it and the reused count."""
    cached = _reusable_vectors(Path(reuse_from) if reuse_from else None)
    todo = [i for i, key in enumerate(keys_) if key not in cached]
    fresh = (
        embed_model.get_text_embedding_batch([embed_texts[i] for i in todo], show_progress=show_progress)
        if todo
        else []
    )
    for i, vector in zip(todo, fresh):
        nodes[i].embedding = vector
    for i, key in enumerate(keys_):
        if nodes[i].embedding is None:
            nodes[i].embedding = cached[key].tolist()
    store = FilterableFaissVectorStore(faiss.IndexFlatIP(len(nodes[0].get_embedding())))
    storage = StorageContext.from_defaults(vector_store=store, docstore=docstore)
    vector_index = VectorStoreIndex(nodes, storage_context=storage, embed_model=embed_model)
    for node in nodes:
        node.embedding = None
    return vector_index, len(nodes) - len(todo)


def persist_index(index: ProductIndex, index_dir: str | Path) -> Path:
    """Write ``index`` as a new version of ``index_dir`` and make it the live one; return its folder.

    Call it holding :func:`build_lock`. The version that was live until now is kept (a reader may be
    loading it); older ones and folders of builds that died half-way are removed.
    """
    index_dir = Path(index_dir)
    versions = index_dir / "versions"
    name = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:8]
    tmp = versions / f".{name}.partial"
    previous = current_version_dir(index_dir)
    try:
        tmp.mkdir(parents=True)
        _write_version(index, tmp)
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise IndexWriteError(f"cannot write the index in {index_dir}: {err.strerror or err}") from None
    final = versions / name
    tmp.rename(final)
    pointer_tmp = index_dir / f".{CURRENT_FILE}.{name}"
    pointer_tmp.write_text(name, encoding="utf-8")
    os.replace(pointer_tmp, index_dir / CURRENT_FILE)
    keep = {name, previous.name if previous else None}
    for old in versions.iterdir():
        if old.name not in keep:
            shutil.rmtree(old, ignore_errors=True)
    index.path = final
    return final


def _write_version(index: ProductIndex, folder: Path) -> None:
    if index.storage is not None:
        index.storage.persist(persist_dir=str(folder))
    else:
        index.docstore.persist(str(folder / "docstore.json"))
    index.bm25.persist(str(folder / "bm25"), show_progress=False)
    (folder / "chunks.json").write_text(json.dumps(index.chunks, ensure_ascii=False), encoding="utf-8")
    (folder / "problems.json").write_text(
        json.dumps([p.__dict__ for p in index.problems], ensure_ascii=False), encoding="utf-8"
    )
    (folder / "manifest.json").write_text(json.dumps(index.manifest, indent=2, ensure_ascii=False), encoding="utf-8")


def load_index(index_dir: str | Path) -> ProductIndex:
    """Load the live version of ``index_dir`` (no embedding work); a damaged file is a
    :class:`DamagedIndexError` naming it and the command that rebuilds the index."""
    version = _live_version(index_dir)
    reading = version / "manifest.json"
    manifest: dict[str, Any] = {}
    try:
        manifest = json.loads(reading.read_text(encoding="utf-8"))
        if manifest.get("format") != INDEX_FORMAT:
            raise StaleIndexError(
                f"{index_dir} was written in index format {manifest.get('format')}, "
                f"this version reads {INDEX_FORMAT}: rebuild it with `daraz-llama index`"
            )
        reading = version / "chunks.json"
        chunks = json.loads(reading.read_text(encoding="utf-8"))
        reading = version / "problems.json"
        problems = [ParseProblem(**p) for p in json.loads(reading.read_text(encoding="utf-8"))]
        reading = version / "bm25"
        bm25 = BM25Retriever.from_persist_dir(str(reading), show_progress=False)
        if not isinstance(bm25.corpus, list) or len(bm25.corpus) != len(chunks):
            reading = version / "bm25" / "corpus.jsonl"
            raise ValueError(f"{len(bm25.corpus or [])} BM25 documents for {len(chunks)} chunks")
        if manifest.get("embedder"):
            reading = version / "default__vector_store.json"
            store = FilterableFaissVectorStore.from_persist_path(str(reading))
            reading = version / "docstore.json"
            storage = StorageContext.from_defaults(persist_dir=str(version), vector_store=store)
            docstore = storage.docstore
        else:
            storage = None
            reading = version / "docstore.json"
            docstore = SimpleDocumentStore.from_persist_path(str(reading))
    except StaleIndexError:
        raise
    except Exception as err:  # noqa: BLE001 - JSON, numpy, FAISS and bm25s each fail their own way
        rebuild = rebuild_command(manifest if isinstance(manifest, dict) else {}, index_dir)
        detail = (str(err).strip().splitlines() or [""])[0][:120]
        raise DamagedIndexError(
            f"index file {reading} is damaged or missing ({type(err).__name__}: {detail}): rebuild it with `{rebuild}`"
        ) from None
    return ProductIndex(
        manifest=manifest, chunks=chunks, bm25=bm25, docstore=docstore, storage=storage, path=version, problems=problems
    )


def staleness(
    manifest: dict[str, Any],
    corpus: str | Path | None = None,
    embedder: str | None = None,
    parser: ProductNodeParser | None = None,
    backend: str | None = None,
) -> list[str]:
    """Reasons why an index with ``manifest`` does not match the corpus, embedder and chunking asked for."""
    reasons = []
    parser = parser or ProductNodeParser()
    if manifest.get("format") != INDEX_FORMAT:
        reasons.append(f"index format {manifest.get('format')} != {INDEX_FORMAT}")
    built_from = manifest.get("corpus")  # None: built from nodes
    if built_from and manifest.get("chunking") != parser.settings():
        reasons.append(f"chunking {manifest.get('chunking')} != {parser.settings()}")
    corpus_path = Path(corpus) if corpus else Path(built_from["path"]) if built_from else None
    if corpus_path and built_from and corpus_path.is_file() and file_sha256(corpus_path) != built_from["sha256"]:
        reasons.append(f"corpus {corpus_path} changed since the index was built")
    built_with = (manifest.get("embedder") or {}).get("id")
    if embedder is not None and model_id(embedder) != built_with:
        reasons.append(f"embedder {model_id(embedder)} != {built_with} used to build the index")
    built_on = (manifest.get("embedder") or {}).get("backend", "torch")
    if embedder is not None and backend is not None and backend != built_on:
        reasons.append(f"embedder backend {backend} != {built_on} used to build the index")
    expansion_file = (manifest.get("expansions") or {}).get("path")  # None: built from nodes, or not expanded
    if expansion_file and Path(expansion_file).is_file():
        if file_sha256(expansion_file) != manifest["expansions"]["sha256"]:
            reasons.append(f"expansion file {expansion_file} changed since the index was built")
    return reasons


def rebuild_command(manifest: dict[str, Any], index_dir: str | Path) -> str:
    """The command that rebuilds the index in ``index_dir`` the way ``manifest`` says it was built (``CORPUS``
    when the manifest cannot say)."""
    corpus = (manifest.get("corpus") or {}).get("path", "CORPUS")
    command = f"daraz-llama index {corpus} --index-dir {index_dir}"
    expanded_with = manifest.get("expansions")
    if expanded_with and expanded_with.get("path"):
        command += f" --expansions {expanded_with['path']}"
        if expanded_with.get("per_product"):
            command += f" --expansions-per-product {expanded_with['per_product']}"
        if expanded_with.get("into") == "bm25+dense":
            command += " --expand-dense"
    return command
