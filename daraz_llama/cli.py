"""The ``daraz-llama`` command line."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Sequence

from daraz_llama.answers.generators import GENERATORS, GeneratorError
from daraz_llama.corpus import CorpusError, Product, parse_corpus
from daraz_llama.evaluation import evaluate_retriever, format_table
from daraz_llama.filters import ProductFilters
from daraz_llama.index import DEFAULT_INDEX_DIR, ProductIndexError, build_index
from daraz_llama.judgments import load_judgments
from daraz_llama.milvus_build import build_milvus_index
from daraz_llama.milvus_store import DEFAULT_COLLECTION, TOKEN_ENV, MilvusIndex, is_lite
from daraz_llama.models import DENSE_EXTRA_HINT, ModelError, default_backend, dense_installed
from daraz_llama.onnx_backend import BACKENDS
from daraz_llama.plotting import plot_metrics
from daraz_llama.queries import QueryRecord, load_queries, write_queries
from daraz_llama.retriever import (
    MODES,
    NO_MODEL,
    RetrievalWarning,
    RetrieverConfig,
    build_retriever,
    open_index,
    open_milvus_index,
)
from daraz_llama.schema import view
from daraz_llama.silver import synthesise


class CliError(Exception):
    """A user error: printed as one line, exit code 2."""


def _add_index_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--index-dir", default=DEFAULT_INDEX_DIR, help=f"index folder (default: {DEFAULT_INDEX_DIR})")


def _add_milvus(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--milvus-uri",
        help=f"the index in Milvus: a .db file (Milvus Lite) or http://host:19530 (token from ${TOKEN_ENV})",
    )
    parser.add_argument("--collection", default=DEFAULT_COLLECTION, help="Milvus collection (default: %(default)s)")


def _add_backend(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        help="the cross-encoder's runtime (default: onnx when onnxruntime is installed, else torch)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="daraz-llama", description="Product-catalog search on LlamaIndex.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more, other libraries' output included")
    commands = parser.add_subparsers(dest="command", required=True)
    for add in (
        _add_index,
        _add_search,
        _add_queries,
        _add_expand,
        _add_eval,
        _add_ask,
        _add_eval_answers,
        _add_serve_llm,
        _add_chat,
        _add_hash_password,
        _add_train,
    ):
        add(commands)
    return parser


def _add_index(commands: Any) -> None:
    index = commands.add_parser("index", help="parse a corpus and build (or update) its persisted index")
    index.add_argument("corpus", help="Markdown corpus with DOC:START/END blocks")
    _add_index_dir(index)
    index.add_argument(
        "--embedder",
        help="sentence-transformers name or folder; 'none' for BM25 only "
        "(default: fine-tuned model if present, else packaged MiniLM)",
    )
    index.add_argument("--strict", action="store_true", help="fail when any block is malformed")
    _add_milvus(index)
    index.add_argument(
        "--store",
        default="faiss",
        choices=("faiss", "milvus"),
        help="faiss: BM25 and FAISS files in --index-dir (default); milvus: both inside Milvus",
    )
    index.add_argument("--hnsw", action="store_true", help="milvus: an HNSW dense index instead of exact search")
    index.add_argument(
        "--expansions",
        metavar="FILE",
        help="predicted shopper queries per product (`daraz-llama expand`): searched with the product by BM25, "
        "never shown",
    )
    index.add_argument(
        "--expansions-per-product", type=int, metavar="N", help="use at most the first N queries of each product"
    )
    index.add_argument("--expand-dense", action="store_true", help="embed the predicted queries too (a dense chunk)")
    index.add_argument(
        "--backend",
        default="torch",
        choices=BACKENDS,
        help="run the embedder on torch (default) or onnx (int8 ONNX Runtime, about twice as fast "
        "here); queries are embedded the same way",
    )


def _add_search(commands: Any) -> None:
    search = commands.add_parser("search", help="search the catalog")
    search.add_argument("query")
    _add_index_dir(search)
    search.add_argument("--corpus", help="search this corpus (index built or refreshed in --index-dir)")
    _add_milvus(search)
    search.add_argument(
        "--mode",
        default="auto",
        choices=MODES,
        help="default: auto = hybrid+rerank when a cross-encoder is available, else hybrid",
    )
    search.add_argument("--top-k", type=int, default=10)
    search.add_argument("--embedder", help="must match the index's embedder")
    search.add_argument("--reranker", help="cross-encoder name or folder for hybrid+rerank")
    _add_backend(search)
    search.add_argument(
        "--rerank-candidates",
        type=int,
        default=RetrieverConfig.rerank_candidates,
        help="products the cross-encoder re-ranks (default: %(default)s)",
    )
    search.add_argument("--category")
    search.add_argument("--brand")
    search.add_argument("--min-price", type=float)
    search.add_argument("--max-price", type=float)
    search.add_argument("--min-rating", type=float)
    search.add_argument("--json", action="store_true", help="print a JSON list of products")


def _add_queries(commands: Any) -> None:
    queries = commands.add_parser(
        "queries",
        help="silver queries split into train/dev/test, or shopper queries written by an LLM for every product",
    )
    queries.add_argument("corpus")
    queries.add_argument(
        "--out",
        required=True,
        help="silver: folder for train.jsonl, dev.jsonl, test.jsonl; "
        "openai: the query file (appended to, so a run resumes)",
    )
    queries.add_argument("--seed", type=int, default=13)
    queries.add_argument(
        "--writer",
        default="silver",
        choices=("silver", "openai"),
        help="silver: from titles and fields (offline); openai: an OpenAI-compatible LLM "
        "(OPENAI_API_KEY / OPENAI_BASE_URL) writes them, few-shot",
    )
    queries.add_argument("--model", help="the LLM's model name (default: OPENAI_MODEL or gpt-4o-mini)")
    queries.add_argument(
        "--examples",
        help="query file whose queries are shown as examples (default: a dozen "
        "natural shopper queries shipped with the package)",
    )
    queries.add_argument("--per-product", type=int, default=3, help="queries per product (openai)")
    queries.add_argument("--limit", type=int, help="write queries for the first N products only (openai)")


def _add_expand(commands: Any) -> None:
    expand = commands.add_parser(
        "expand", help="write the queries shoppers would type for each product, for `index --expansions` (doc2query)"
    )
    expand.add_argument("corpus")
    expand.add_argument("--out", required=True, help="the expansion file (appended to, so a run resumes)")
    expand.add_argument(
        "--writer",
        default="local",
        choices=("local", "openai"),
        help="local: the fine-tuned Gemma query writer (`train querywriter`); openai: an OpenAI-compatible LLM, "
        "few-shot",
    )
    expand.add_argument(
        "--model", help="local: the query writer's folder (default: models/querywriter-ft); openai: the model name"
    )
    expand.add_argument("--per-product", type=int, default=10, help="queries per product (default: 10)")
    expand.add_argument("--category", action="append", default=[], help="expand only this category (repeatable)")
    expand.add_argument("--limit", type=int, help="expand only the first N products")
    expand.add_argument("--seed", type=int, default=13, help="local: sampling seed")
    expand.add_argument(
        "--samples", type=int, help="local: queries sampled per product before repeats are dropped (default: 1.5 N)"
    )


def _add_eval(commands: Any) -> None:
    evaluate = commands.add_parser("eval", help="score retrieval modes on a query set")
    _add_index_dir(evaluate)
    evaluate.add_argument("--corpus", help="evaluate on this corpus (index built or refreshed in --index-dir)")
    _add_milvus(evaluate)
    evaluate.add_argument("--queries", required=True, help="JSON Lines query set")
    evaluate.add_argument("--modes", default="bm25,dense,hybrid", help="comma-separated modes")
    evaluate.add_argument("--embedder")
    evaluate.add_argument("--reranker")
    _add_backend(evaluate)
    evaluate.add_argument("--rerank-candidates", type=int, default=RetrieverConfig.rerank_candidates)
    evaluate.add_argument(
        "--judgments",
        help="JSON Lines of {qid, pid, grade} (E/S/I): adds Success@1, ESCI "
        "nDCG@5, P@5(E), the judged share and condensed scores",
    )
    evaluate.add_argument(
        "--metrics",
        default="",
        help="LlamaIndex retrieval metrics to add, computed on the first "
        "10 products (comma-separated: hit_rate, mrr, precision, "
        "recall, ap, ndcg)",
    )
    evaluate.add_argument("--limit", type=int, help="evaluate only the first N queries")
    evaluate.add_argument(
        "--no-price-parsing", action="store_true", help="do not turn 'under 500 taka' in queries into price filters"
    )
    evaluate.add_argument("--json", dest="json_out", help="write every number and the settings here")
    evaluate.add_argument("--plot", help="write a bar chart of the metrics per mode (PNG; the eval extra)")


def _add_ask(commands: Any) -> None:
    ask = commands.add_parser("ask", help="ask a question; prints the streamed, cited answer and the products")
    ask.add_argument("question")
    _add_index_dir(ask)
    ask.add_argument("--corpus", help="answer over this corpus (index built or refreshed in --index-dir)")
    _add_milvus(ask)
    ask.add_argument("--generator", default="none", choices=GENERATORS, help="none: offline (default)")
    ask.add_argument("--model", help="local: GGUF file, model folder or hub name; openai: model name")
    _add_runtime(ask)
    ask.add_argument("--mode", default="auto", choices=MODES, help="retrieval mode")
    ask.add_argument("--products", type=int, default=5, help="products given to the generator")


def _add_runtime(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--runtime",
        choices=("llama.cpp", "transformers"),
        help="local: the runtime (default: llama.cpp when installed, else transformers)",
    )


def _add_eval_answers(commands: Any) -> None:
    answers = commands.add_parser("eval-answers", help="score a generator's answers for grounding and speed")
    answers.add_argument("--questions", required=True, help="JSON Lines of {qid, question, answerable}")
    _add_index_dir(answers)
    answers.add_argument("--corpus")
    _add_milvus(answers)
    answers.add_argument("--generator", default="none", choices=GENERATORS)
    answers.add_argument("--model")
    _add_runtime(answers)
    answers.add_argument("--mode", default="auto", choices=MODES)
    answers.add_argument("--max-new-tokens", type=int, default=320, help="answer length limit for local/openai")
    answers.add_argument("--limit", type=int, help="answer only the first N questions")
    answers.add_argument("--json", dest="json_out", help="write the scores and every answer here")
    answers.add_argument(
        "--judge",
        default="none",
        choices=("none", "openai"),
        help="openai: also run LlamaIndex's Faithfulness and Relevancy evaluators with an "
        "OpenAI-compatible judge (OPENAI_*)",
    )
    answers.add_argument("--judge-model", help="the judge's model name (default: OPENAI_MODEL or gpt-4o-mini)")


def _add_serve_llm(commands: Any) -> None:
    serve = commands.add_parser("serve-llm", help="serve a generator on an OpenAI-compatible endpoint")
    serve.add_argument("--model", default="none", help="'none' (offline generator) or a local model folder/hub name")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8008)


def _add_chat(commands: Any) -> None:
    chat = commands.add_parser("chat", help="open the Chainlit chat over the catalog (http://HOST:PORT)")
    chat.add_argument(
        "--corpus",
        help="chat over this corpus (index built or refreshed in --index-dir); default: the packaged demo corpus",
    )
    chat.add_argument("--index-dir", help="index folder (default: daraz-index, or daraz-index/demo for the demo)")
    chat.add_argument("--milvus-uri", help="chat over the index in Milvus (a .db file or a server URL)")
    chat.add_argument("--host", default="127.0.0.1")
    chat.add_argument("--port", type=int, default=8000)
    chat.add_argument("--open", action="store_true", help="open a browser tab")


def _add_hash_password(commands: Any) -> None:
    commands.add_parser(
        "hash-password",
        help="print a salted scrypt hash of a password for a chat users entry "
        "(reads the password from the terminal or one line of stdin)",
    )


def _add_train(commands: Any) -> None:
    from daraz_llama.training.presets import PRESETS, RERANKER_LOSSES

    train = commands.add_parser("train", help="fine-tune models on a corpus (the train extra)")
    train_steps = train.add_subparsers(dest="what", required=True)
    retrieval = train_steps.add_parser("retrieval", help="embedder, hard negatives and cross-encoder re-ranker")
    retrieval.add_argument("corpus")
    retrieval.add_argument(
        "--size", default="cpu", choices=tuple(PRESETS), help="tiny, cpu (this machine, < 45 min) or gpu"
    )
    retrieval.add_argument("--models-dir", default="models", help="writes embedder-ft/ and reranker-ft/ here")
    retrieval.add_argument("--embedder-base", help="base bi-encoder (default: packaged all-MiniLM-L6-v2)")
    retrieval.add_argument(
        "--reranker-base",
        help="base for the cross-encoder, e.g. cross-encoder/ms-marco-MiniLM-L-6-v2 (default: packaged MiniLM)",
    )
    retrieval.add_argument(
        "--train-queries",
        action="append",
        default=[],
        metavar="FILE",
        help="natural queries to train on (JSON Lines like the eval sets; a shop's search log "
        "with clicked products looks the same); repeatable. Split by title group into "
        "train and natural-dev, which selects the models",
    )
    retrieval.add_argument(
        "--no-silver",
        action="store_true",
        help="train on the --train-queries alone, without synthesised silver queries",
    )
    retrieval.add_argument(
        "--reranker-loss",
        default="bce",
        choices=RERANKER_LOSSES,
        help="bce (pointwise), mnrl (one positive against its negatives), lambda or listnet "
        "(listwise, sentence-transformers' LambdaLoss / ListNetLoss)",
    )
    retrieval.add_argument(
        "--reranker-max-length",
        type=int,
        help="tokens the cross-encoder reads, in training and at query time (default: the preset's)",
    )
    retrieval.add_argument("--seed", type=int, default=13)
    retrieval.add_argument("--force", action="store_true", help="redo every step")
    generator = train_steps.add_parser("generator", help="supervised fine-tuning of Gemma 3 270M on cited answers")
    generator.add_argument("corpus")
    generator.add_argument("--size", default="cpu", choices=tuple(PRESETS), help="tiny, cpu or gpu")
    generator.add_argument("--models-dir", default="models", help="writes generator-ft/ here")
    generator.add_argument("--base", help="base model folder or hub name (default: packaged Gemma 3 270M)")
    generator.add_argument(
        "--train-queries",
        action="append",
        default=[],
        metavar="FILE",
        help="natural queries to phrase as questions (repeatable; split by title group, the held-out part "
        "becomes held-out questions)",
    )
    generator.add_argument("--seed", type=int, default=13)
    writer = train_steps.add_parser(
        "querywriter", help="fine-tune Gemma 3 270M to write the queries shoppers type for a product (doc2query)"
    )
    writer.add_argument("corpus")
    writer.add_argument(
        "--train-queries",
        action="append",
        required=True,
        metavar="FILE",
        help="natural queries with their products (repeatable; split by title group, the held-out part measures "
        "the model)",
    )
    writer.add_argument("--size", default="cpu", choices=("tiny", "cpu", "gpu"), help="tiny, cpu or gpu")
    writer.add_argument("--models-dir", default="models", help="writes querywriter-ft/ here")
    writer.add_argument("--base", help="base model folder or hub name (default: packaged Gemma 3 270M)")
    writer.add_argument("--seed", type=int, default=13)


def cmd_ask(args: argparse.Namespace) -> int:
    from daraz_llama.answers.chat_engine import ProductChatEngine
    from daraz_llama.answers.context import taka
    from daraz_llama.answers.generators import make_llm

    config = RetrieverConfig(mode=args.mode, index_dir=args.index_dir)
    llm = make_llm(args.generator, model=args.model, runtime=args.runtime)
    retriever = build_retriever(_index_source(args), config)
    engine = ProductChatEngine(retriever, llm, context_products=args.products)
    response = engine.stream_chat(args.question)
    for token in response.response_gen:
        print(token, end="", flush=True)
    print("\n")
    turn = engine.last_turn
    assert turn is not None  # stream_chat has run
    for product in turn.products:
        price = taka(product.price) if product.price is not None else "no price"
        print(f"[{product.number}] {product.title} | {price} | {product.url or 'no link'}")
    return 0


def cmd_eval_answers(args: argparse.Namespace) -> int:
    from daraz_llama.answers.chat_engine import ProductChatEngine
    from daraz_llama.answers.evaluate import evaluate_answers, load_questions
    from daraz_llama.answers.generators import make_llm

    questions = load_questions(args.questions)[: args.limit]
    config = RetrieverConfig(mode=args.mode, index_dir=args.index_dir)
    retriever = build_retriever(_index_source(args), config)
    llm = make_llm(args.generator, model=args.model, max_new_tokens=args.max_new_tokens, runtime=args.runtime)
    judge = make_llm("openai", model=args.judge_model, max_new_tokens=256) if args.judge == "openai" else None
    report = evaluate_answers(lambda: ProductChatEngine(retriever, llm), questions, judge=judge)
    summary = report["summary"]
    print(f"\n{args.generator} on {args.questions} ({summary['questions']} questions, retrieval {retriever.mode})")
    for key, value in summary.items():
        print(f"  {key:<22} {value if value is None or isinstance(value, int) else round(value, 3)}")
    if args.json_out:
        Path(args.json_out).write_text(
            json.dumps(
                {"generator": args.generator, "model": args.model, "runtime": args.runtime, **report},
                indent=2,
                ensure_ascii=False,
            ),
            encoding="utf-8",
        )
        print(f"wrote {args.json_out}")
    return 0


def cmd_serve_llm(args: argparse.Namespace) -> int:
    import uvicorn

    from daraz_llama.answers.generators import make_llm
    from daraz_llama.answers.server import create_app

    llm = make_llm("none") if args.model == "none" else make_llm("local", model=args.model)
    print(f"serving {args.model} on http://{args.host}:{args.port}/v1 (OpenAI chat completions)", flush=True)
    uvicorn.run(create_app(llm, args.model), host=args.host, port=args.port, log_level="warning")
    return 0


def cmd_hash_password(args: argparse.Namespace) -> int:
    import getpass

    from daraz_llama.chat.auth import UsersError, hash_password

    password = getpass.getpass("password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
    try:
        print(hash_password(password))
    except UsersError as err:
        raise CliError(str(err)) from None
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    import signal
    import subprocess

    from daraz_llama.chat.auth import UsersError, login_users
    from daraz_llama.chat.catalog import Catalog, CatalogError, CatalogSource
    from daraz_llama.chat.launch import app_root, chainlit_command

    if args.corpus and not Path(args.corpus).is_file():
        raise CliError(f"corpus file not found: {args.corpus}")
    try:
        login_users()  # the server would refuse a half-made login configuration: say why before starting it
    except UsersError as err:
        raise CliError(f"login: {err}") from None
    if args.milvus_uri:
        uri = str(Path(args.milvus_uri).resolve()) if is_lite(args.milvus_uri) else args.milvus_uri
        source = CatalogSource(None, Path(DEFAULT_INDEX_DIR).resolve(), uri)
    elif args.corpus or args.index_dir:
        source = CatalogSource(
            Path(args.corpus).resolve() if args.corpus else None, Path(args.index_dir or DEFAULT_INDEX_DIR).resolve()
        )
    else:
        source = CatalogSource.from_env()
    try:  # build or refresh the index here, with a progress bar, before the server starts
        catalog = Catalog.load(source)
    except CatalogError as err:
        raise CliError(str(err)) from None
    print(
        f"{catalog.products} products from {source.milvus_uri or source.corpus or source.index_dir}; "
        f"chat on http://{args.host}:{args.port}",
        flush=True,
    )
    if isinstance(catalog.index, MilvusIndex):
        catalog.index.close()  # the server opens it: a Milvus Lite file serves one process at a time
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stopped: the server goes and the app root is removed
    with app_root() as root:
        env = {**source.as_env(os.environ), "CHAINLIT_APP_ROOT": os.environ.get("CHAINLIT_APP_ROOT", str(root))}
        try:
            return subprocess.call(chainlit_command(args.host, args.port, headless=not args.open), env=env)
        except KeyboardInterrupt:
            return 0


def cmd_train(args: argparse.Namespace) -> int:
    from daraz_llama.training.pipeline import run_generator_pipeline, run_retrieval_pipeline

    if not Path(args.corpus).is_file():
        raise CliError(f"corpus file not found: {args.corpus}")
    if args.what == "querywriter":
        from daraz_llama.training.querywriter import run_querywriter_pipeline

        run_querywriter_pipeline(args.corpus, args.train_queries, args.models_dir, args.size, args.base, args.seed)
    elif args.what == "generator":
        run_generator_pipeline(
            args.corpus, args.models_dir, args.size, args.base, args.seed, train_queries=args.train_queries
        )
    else:
        if args.no_silver and not args.train_queries:
            raise CliError("--no-silver needs --train-queries")
        run_retrieval_pipeline(
            args.corpus,
            args.models_dir,
            args.size,
            args.embedder_base,
            args.reranker_base,
            args.reranker_loss,
            args.seed,
            args.force,
            train_queries=args.train_queries,
            use_silver=not args.no_silver,
            reranker_max_length=args.reranker_max_length,
        )
    return 0


def _parse_reporting(corpus: str):  # -> ParseResult
    """Parse ``corpus``, print the problem summary, and fail when nothing could be parsed."""
    result = parse_corpus(corpus)
    _print_problems(result.problems, result.start_markers, len(result.products))
    if not result.products:
        raise CliError(f"{corpus}: no product could be parsed")
    return result


def _index_source(args: argparse.Namespace) -> str | MilvusIndex:
    """The index in Milvus (``--milvus-uri``), the corpus (when given) or the index folder to open; a clear
    error when there is none."""
    if getattr(args, "milvus_uri", None):
        if args.corpus:
            raise CliError(
                "--corpus and --milvus-uri: build the Milvus index with `daraz-llama index CORPUS --store "
                "milvus --milvus-uri URI`, then search it with --milvus-uri alone"
            )
        return open_milvus_index(args.milvus_uri, args.collection)
    if not args.corpus and not Path(args.index_dir).is_dir():
        raise CliError(
            f"no index in {args.index_dir}: run `daraz-llama index CORPUS --index-dir {args.index_dir}` "
            "or pass --corpus"
        )
    return args.corpus or args.index_dir


def cmd_index(args: argparse.Namespace) -> int:
    result = _parse_reporting(args.corpus)
    if args.strict and result.skipped:
        raise CliError(f"--strict: {len(result.skipped)} malformed block(s), index not built")
    embedder = None if args.embedder == NO_MODEL else (args.embedder or RetrieverConfig().resolved_embedder())
    started = time.perf_counter()
    if args.store == "milvus":
        if args.expansions:
            raise CliError("--expansions is not supported with --store milvus yet: index with --store faiss")
        return _index_into_milvus(args, result, embedder, started)
    expansions = None
    if args.expansions:
        from daraz_llama.expansions import load_expansions

        expansions = load_expansions(args.expansions, {p.product_id for p in result.products})
        for problem in expansions.problems[:20]:
            print(f"  expansion skipped: {problem}", file=sys.stderr)
    index = build_index(
        args.corpus,
        args.index_dir,
        embedder=embedder,
        show_progress=True,
        parsed=result,
        backend=args.backend,
        expansions=expansions,
        expansions_per_product=args.expansions_per_product,
        expand_dense=args.expand_dense,
    )
    counts = index.manifest["counts"]
    print(
        f"indexed {counts['products']} products as {counts['chunks']} chunks in "
        f"{time.perf_counter() - started:.1f}s -> {args.index_dir}"
    )
    bm25_only = "none (BM25 only)" if dense_installed() else f"none (BM25 only: for dense vectors {DENSE_EXTRA_HINT})"
    print(
        f"embedder: {index.embedder or bm25_only}; "
        f"embedded {counts['embedded']} chunks, reused {counts['reused_vectors']}"
    )
    if index.manifest.get("expansions"):
        expanded = index.manifest["expansions"]
        queries, products, into = expanded["queries"], expanded["products"], expanded["into"]
        print(f"expansions: {queries} predicted queries of {products} products ({into})")
    return 0


def _index_into_milvus(args: argparse.Namespace, parsed: Any, embedder: str | None, started: float) -> int:
    if not args.milvus_uri:
        raise CliError("--store milvus needs --milvus-uri (a .db file for Milvus Lite, or http://host:19530)")
    index = build_milvus_index(
        args.corpus,
        args.milvus_uri,
        args.collection,
        embedder=embedder,
        backend=args.backend,
        parsed=parsed,
        hnsw=args.hnsw,
    )
    counts = index.manifest["counts"]
    print(
        f"indexed {counts['products']} products as {counts['chunks']} chunks in "
        f"{time.perf_counter() - started:.1f}s -> Milvus {args.milvus_uri} ({args.collection})"
    )
    print(
        f"embedder: {index.embedder or 'none (BM25 only)'}; upserted {counts['upserted']} chunks, "
        f"deleted {counts['deleted']}, unchanged {counts['unchanged']}"
    )
    return 0


def _print_problems(problems: list, starts: int, parsed: int) -> None:
    skipped = [p for p in problems if p.skipped]
    print(f"{starts} product blocks: {parsed} parsed, {len(skipped)} skipped", file=sys.stderr)
    for problem in problems[:20]:
        print(f"  problem: {problem}", file=sys.stderr)
    if len(problems) > 20:
        print(f"  … and {len(problems) - 20} more", file=sys.stderr)


def describe(retriever: Any) -> str:
    """Which mode and models a retriever uses, in one line."""
    parts = [f"mode: {retriever.mode}"]
    if retriever.mode != "bm25":
        parts.append(f"embedder: {retriever.index.embedder}")
    if retriever.mode == "hybrid+rerank":
        parts.append(f"reranker: {retriever.config.resolved_reranker()}")
    return "; ".join(parts)


def product_row(node_with_score: Any) -> dict[str, Any]:
    """A result as a plain product record: the schema's ``row`` fields (``product_id`` as ``id``) and the score."""
    row = view(node_with_score.node.metadata, "row")
    return {"id": row.pop("product_id"), **row, "score": round(float(node_with_score.score or 0.0), 4)}


def _format_table(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'#':>2}  {'score':>7}  {'price ৳':>9}  {'rating':>6}  {'id':<10}  title"]
    for rank, row in enumerate(rows, start=1):
        price = f"{row['price']:,.0f}" if row["price"] is not None else "-"
        rating = f"{row['rating']:.1f}" if row["rating"] is not None else "-"
        lines.append(
            f"{rank:>2}  {row['score']:>7.3f}  {price:>9}  {rating:>6}  {row['id']:<10}  "
            f"{row['title'][:70]}  [{row['category']}]"
        )
    return "\n".join(lines)


def cmd_search(args: argparse.Namespace) -> int:
    filters = ProductFilters(
        category=args.category,
        brand=args.brand,
        min_price=args.min_price,
        max_price=args.max_price,
        min_rating=args.min_rating,
    )
    config = RetrieverConfig(
        mode=args.mode,
        top_k=args.top_k,
        embedder=args.embedder,
        reranker=args.reranker,
        rerank_candidates=args.rerank_candidates,
        filters=filters,
        index_dir=args.index_dir,
        backend=args.backend,
    )
    retriever = build_retriever(_index_source(args), config)
    rows = [product_row(n) for n in retriever.retrieve(args.query)]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
    elif rows:
        print(describe(retriever) + (f"; filters: {filters.as_dict()}" if filters.active else ""))
        print(_format_table(rows))
    else:
        print("no matching products" + (f" for filters {filters.as_dict()}" if filters.active else ""))
    return 0


def cmd_queries(args: argparse.Namespace) -> int:
    result = _parse_reporting(args.corpus)
    if args.writer == "openai":
        return _write_llm_queries(args, result.products[: args.limit] if args.limit else result.products)
    splits = synthesise(result.products, seed=args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, records in splits.as_dict().items():
        count = write_queries(out / f"{name}.jsonl", records)
        products = len({pid for r in records for pid in r.relevant_ids})
        print(f"{name}: {count} queries over {products} products -> {out / (name + '.jsonl')}")
    return 0


def _write_llm_queries(args: argparse.Namespace, products: list[Product]) -> int:
    """Queries for ``products`` from an LLM (``queries --writer openai``, ``expand``): the OpenAI-compatible one
    few-shot, or the fine-tuned Gemma query writer (``--writer local``), appended to ``args.out``."""
    from daraz_llama.query_writer import load_examples, write_queries_with_llm, writer_messages

    if args.per_product < 1:
        raise CliError("--per-product must be at least 1")
    if args.writer == "local":
        from daraz_llama.gemma_query_writer import GemmaQueryWriter
        from daraz_llama.models import fine_tuned_dir

        folder = args.model or str(fine_tuned_dir("querywriter-ft"))
        samples = args.samples or args.per_product + args.per_product // 2
        llm: Any = GemmaQueryWriter(model=folder, samples=samples, seed=args.seed)
        name, messages_for, examples = f"gemma:{folder}", writer_messages, []
    else:
        from daraz_llama.answers.generators import make_llm

        llm = make_llm("openai", model=args.model, max_new_tokens=60 * args.per_product)
        name, messages_for = str(getattr(llm, "model", args.model)), None
        examples = load_examples(getattr(args, "examples", None))
    started = time.perf_counter()
    report = write_queries_with_llm(
        llm, products, args.out, args.per_product, examples, writer_name=name, messages_for=messages_for
    )
    minutes = (time.perf_counter() - started) / 60
    speed = f"; {llm.stats.tokens_per_s:.0f} tokens/s" if args.writer == "local" and report.products else ""
    print(
        f"{report.queries} queries for {report.products} products in {minutes:.1f} min{speed} -> {args.out}; "
        f"{report.resumed} products already there (resumed); {report.bad_lines} unusable lines skipped "
        f"(empty, title copies, repeats); {len(report.failed)} products without a usable query"
        + (f" (first: {', '.join(report.failed[:5])})" if report.failed else "")
    )
    return 0 if report.products or report.resumed else 1


def cmd_expand(args: argparse.Namespace) -> int:
    products = _parse_reporting(args.corpus).products
    if args.category:
        wanted = {name.lower() for name in args.category}
        products = [p for p in products if (p.category or "").lower() in wanted]
        if not products:
            raise CliError(f"no product in categories {', '.join(args.category)}")
    return _write_llm_queries(args, products[: args.limit] if args.limit else products)


def cmd_eval(args: argparse.Namespace) -> int:
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for mode in modes:
        if mode not in MODES:
            raise CliError(f"unknown mode {mode!r}: choose from {', '.join(MODES)}")
    config = RetrieverConfig(
        embedder=args.embedder,
        reranker=args.reranker,
        rerank_candidates=args.rerank_candidates,
        index_dir=args.index_dir,
        parse_price=not args.no_price_parsing,
        backend=args.backend,
    )
    source = _index_source(args)
    index = source if isinstance(source, MilvusIndex) else open_index(source, config)
    query_set = load_queries(args.queries, known_ids=set(index.product_ids()))
    for problem in query_set.problems[:20]:
        print(f"  skipped: {problem}", file=sys.stderr)
    print(f"{len(query_set.queries)} queries, {len(query_set.problems)} skipped", file=sys.stderr)
    queries = query_set.queries[: args.limit] if args.limit else query_set.queries
    if not queries:
        raise CliError(f"{args.queries}: no valid query")
    grades = _load_grades(args.judgments, query_set.queries, index.product_ids()) if args.judgments else None
    extra_metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    reports = {}
    for mode in modes:
        retriever = build_retriever(index, config, mode=mode)
        label = mode if retriever.mode == mode else f"{mode}->{retriever.mode}"
        reports[label] = evaluate_retriever(
            retriever, queries, label, judgments=grades, llama_index_metrics=extra_metrics
        )
    summaries = {label: report.summary() for label, report in reports.items()}
    print(f"\n{args.queries} on {index.manifest['corpus']['path']} ({len(queries)} queries)")
    print(format_table(summaries))
    styles = {label: report.by_style() for label, report in reports.items()}
    if any(styles.values()):
        for label, by_style in styles.items():
            print(f"\nby style, {label}:")
            print(format_table(by_style, first_column="style"))
    if args.json_out:
        settings = {
            "queries": args.queries,
            "query_count": len(queries),
            "skipped": len(query_set.problems),
            "judgments": args.judgments,
            "corpus": index.manifest["corpus"],
            "index_counts": index.manifest["counts"],
            "embedder": index.embedder,
            "reranker": config.resolved_reranker(),
            "backend": config.backend or default_backend(),
            "candidate_k": config.candidate_k,
            "rerank_candidates": config.rerank_candidates,
            "fusion": config.fusion,
            "retriever_weights": config.retriever_weights,
            "parse_price": config.parse_price,
        }
        payload = {
            "settings": settings,
            "summary": summaries,
            "by_style": styles,
            "per_query": {label: [r.__dict__ for r in report.results] for label, report in reports.items()},
        }
        Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_out).write_text(json.dumps(payload, indent=2, ensure_ascii=False), encoding="utf-8")
        print(f"\nwrote {args.json_out}")
    if args.plot:
        print(f"wrote {plot_metrics(summaries, args.plot, f'{Path(args.queries).name}: {len(queries)} queries')}")
    return 0


def _load_grades(path: str, queries: list[QueryRecord], product_ids: list[str]) -> dict[str, dict[str, str]]:
    """The judgments for ``queries``, bad lines reported on stderr."""
    judged = load_judgments(path, known_qids={q.qid for q in queries}, known_ids=set(product_ids))
    for problem in judged.problems[:20]:
        print(f"  skipped: {problem}", file=sys.stderr)
    print(f"{judged.count} judgments of {len(judged.grades)} queries, {len(judged.problems)} skipped", file=sys.stderr)
    if not judged.grades:
        raise CliError(f"{path}: no valid judgment for these queries")
    return judged.grades


COMMANDS = {
    "index": cmd_index,
    "search": cmd_search,
    "queries": cmd_queries,
    "expand": cmd_expand,
    "eval": cmd_eval,
    "train": cmd_train,
    "ask": cmd_ask,
    "serve-llm": cmd_serve_llm,
    "eval-answers": cmd_eval_answers,
    "chat": cmd_chat,
    "hash-password": cmd_hash_password,
}


def _show_warnings(verbose: bool) -> None:
    """Ours as one ``warning:`` line each (once per message); other libraries' only with ``--verbose``."""
    if not verbose:
        warnings.filterwarnings("ignore")
        warnings.filterwarnings("default", category=RetrievalWarning)
    warnings.showwarning = _show_warning


_PYTHON_SHOWWARNING = warnings.showwarning  # taken once: main() may run many times in one process


def _show_warning(message: Warning | str, category: type[Warning], *where: Any, **kwargs: Any) -> None:
    if issubclass(category, RetrievalWarning):
        print(f"warning: {message}", file=sys.stderr)
    else:
        _PYTHON_SHOWWARNING(message, category, *where, **kwargs)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as stop:  # --help, or a usage error argparse has printed
        return stop.code if isinstance(stop.code, int) else 2
    if not args.verbose:  # other libraries' progress bars (weights, hub downloads) only with --verbose
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    _show_warnings(args.verbose)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s: %(message)s")
    logging.getLogger("bm25s").setLevel(logging.INFO if args.verbose else logging.WARNING)
    try:
        return COMMANDS[args.command](args)
    except (CliError, CorpusError, ProductIndexError, ModelError, GeneratorError, ValueError, FileNotFoundError) as err:
        print(f"daraz-llama {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
