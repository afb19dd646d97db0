"""CPU runtimes for the local Gemma 3 270M, on the same real chat prompts: llama.cpp, CTranslate2, transformers.

    pip install ctranslate2          # only for this comparison; the project runs llama.cpp or transformers
    python benchmarks/bench_runtimes.py --index-dir models/work/index-ft \
        [--questions ../shared/eval/dev_queries.jsonl] [--limit 6] [--tokens 200] \
        [--model packaged|models/generator-ft] [--json out.json]

Each runtime answers the same prompts (the chat engine's brief context for the first ``--limit`` questions,
greedy, exactly ``--tokens`` new tokens: the end of turn is not allowed to stop it) and the table gives the
prompt length, time to the first token, decoding speed in tokens per second and the time for the whole
answer, p50 over the prompts. Models: llama.cpp reads the GGUF (the packaged one, or a fine-tuned
folder's export), CTranslate2 an int8 conversion of the safetensors folder (made once into
``benchmarks/results/ct2-*``), transformers the safetensors folder in float32.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Callable

from daraz_llama.answers.chat_engine import ProductChatEngine
from daraz_llama.answers.context import BRIEF_CONTEXT
from daraz_llama.answers.local_llm import base_gemma_folder, gemma_turns, load_causal_lm
from daraz_llama.answers.offline_llm import CatalogAnswerLLM
from daraz_llama.index import load_index
from daraz_llama.retriever import build_retriever

SHARED = Path(__file__).resolve().parents[2] / "shared"
RESULTS = Path(__file__).resolve().parent / "results"
# One timed answer: (prompt tokens, seconds to the first token, seconds in all).
Runner = Callable[[list[dict[str, str]]], tuple[int, float, float]]


def chat_prompts(index_dir: str, questions: list[str]) -> list[list[dict[str, str]]]:
    """The turns the local generator gets for each question (search, fit test, brief numbered context)."""
    retriever = build_retriever(load_index(index_dir), mode="hybrid")
    prompts = []
    for question in questions:
        engine = ProductChatEngine(retriever, CatalogAnswerLLM(), style=BRIEF_CONTEXT)
        messages, _ = engine.prepare(question)
        if engine.last_turn and engine.last_turn.products:
            prompts.append(gemma_turns(messages))
    return prompts


def llama_cpp_runner(gguf: Path, tokens: int) -> Runner:
    from daraz_llama.answers.llama_cpp_runtime import LlamaCppModel, render_prompt

    llama = LlamaCppModel(gguf).llama  # driven directly, to forbid the end of turn
    end_ids = [llama.token_eos(), *llama.tokenize(b"<end_of_turn>", add_bos=False, special=True)]
    banned = {token: -1e9 for token in end_ids}

    def run(turns: list[dict[str, str]]) -> tuple[int, float, float]:
        prompt = llama.tokenize(render_prompt(turns).encode("utf-8"), add_bos=False, special=True)
        started = time.perf_counter()
        first = None
        for _ in llama.create_completion(
            prompt, max_tokens=tokens, temperature=0.0, top_k=1, logit_bias=banned, stream=True
        ):
            first = first if first is not None else time.perf_counter() - started
        return len(prompt), first or 0.0, time.perf_counter() - started

    return run


def ctranslate2_runner(folder: Path, tokens: int) -> Runner:
    import ctranslate2
    from ctranslate2.converters import TransformersConverter

    converted = RESULTS / f"ct2-{folder.name}-int8"
    if not (converted / "model.bin").is_file():
        TransformersConverter(str(folder)).convert(str(converted), quantization="int8", force=True)
    generator = ctranslate2.Generator(str(converted), device="cpu", compute_type="int8", intra_threads=2)
    tokenizer, _ = load_causal_lm(str(folder))

    def run(turns: list[dict[str, str]]) -> tuple[int, float, float]:
        ids = tokenizer.apply_chat_template(turns, add_generation_prompt=True, tokenize=True)
        ids = ids["input_ids"] if not isinstance(ids, list) else ids
        started = time.perf_counter()
        first = None
        for _ in generator.generate_tokens(
            tokenizer.convert_ids_to_tokens(ids), max_length=tokens, sampling_topk=1, end_token=[]
        ):
            first = first if first is not None else time.perf_counter() - started
        return len(ids), first or 0.0, time.perf_counter() - started

    return run


def transformers_runner(folder: Path, tokens: int) -> Runner:
    from transformers import TextIteratorStreamer

    from daraz_llama.answers.local_llm import TransformersModel

    model = TransformersModel(str(folder))
    tokenizer, causal_lm = model.tokenizer, model.causal_lm

    def run(turns: list[dict[str, str]]) -> tuple[int, float, float]:
        from threading import Thread

        inputs = tokenizer.apply_chat_template(turns, add_generation_prompt=True, return_tensors="pt", return_dict=True)
        streamer = TextIteratorStreamer(tokenizer, skip_prompt=True)
        kwargs = dict(**inputs, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False, streamer=streamer)
        started = time.perf_counter()
        worker = Thread(target=causal_lm.generate, kwargs=kwargs)
        worker.start()
        first = None
        for _ in streamer:
            first = first if first is not None else time.perf_counter() - started
        worker.join()
        return int(inputs["input_ids"].shape[-1]), first or 0.0, time.perf_counter() - started

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index-dir", default="models/work/index-ft")
    parser.add_argument("--questions", default=str(SHARED / "eval" / "dev_queries.jsonl"))
    parser.add_argument("--limit", type=int, default=6)
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--model", default="packaged", help="packaged (base Gemma) or a fine-tuned folder")
    parser.add_argument("--runtimes", default="llama.cpp,ctranslate2,transformers")
    parser.add_argument("--json", help="write the results here too")
    args = parser.parse_args()

    from daraz_llama.answers.gguf_export import export_gguf, packaged_gguf

    folder = base_gemma_folder() if args.model == "packaged" else Path(args.model)
    gguf = packaged_gguf() if args.model == "packaged" else export_gguf(folder, base_gemma_folder())
    rows = [json.loads(line) for line in Path(args.questions).read_text(encoding="utf-8").splitlines() if line]
    prompts = chat_prompts(args.index_dir, [row.get("query") or row.get("question") for row in rows])[: args.limit]
    makers = {"llama.cpp": lambda: llama_cpp_runner(gguf, args.tokens)}
    makers["ctranslate2"] = lambda: ctranslate2_runner(folder, args.tokens)
    makers["transformers"] = lambda: transformers_runner(folder, args.tokens)
    results = {}
    for name in args.runtimes.split(","):
        run = makers[name]()
        run(prompts[0])  # warm-up
        timed = [run(turns) for turns in prompts]
        results[name] = {
            "prompts": len(timed),
            "prompt_tokens_p50": statistics.median(t[0] for t in timed),
            "first_token_p50_s": statistics.median(t[1] for t in timed),
            "tokens_per_s_p50": statistics.median((args.tokens - 1) / (t[2] - t[1]) for t in timed),
            "answer_p50_s": statistics.median(t[2] for t in timed),
        }
    print(f"\n{args.model}: {args.tokens} new tokens per answer, {len(prompts)} chat prompts, p50")
    print(f"{'runtime':<14} {'prompt tok':>10} {'first token s':>14} {'tokens/s':>9} {'answer s':>9}")
    for name, r in results.items():
        print(
            f"{name:<14} {r['prompt_tokens_p50']:>10.0f} {r['first_token_p50_s']:>14.2f} "
            f"{r['tokens_per_s_p50']:>9.1f} {r['answer_p50_s']:>9.2f}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
