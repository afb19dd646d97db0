"""A tiny real SFT run of Gemma 3 270M (peft path) on grounded answers built from the demo catalog."""

from __future__ import annotations

from pathlib import Path

from daraz_llama.answers.evaluate import load_questions
from daraz_llama.answers.generators import make_llm
from daraz_llama.answers.grounding import GroundingEvaluator
from daraz_llama.corpus import parse_corpus
from daraz_llama.index import load_index
from daraz_llama.silver import synthesise
from daraz_llama.training.generator import GENERATOR_PRESETS, build_sft_set
from daraz_llama.training.pipeline import run_generator_pipeline


def test_sft_set_targets_are_grounded(demo_index_dir: Path, demo_corpus: Path) -> None:
    queries = synthesise(parse_corpus(demo_corpus).products).train
    examples = build_sft_set(load_index(demo_index_dir), queries, 16, seed=1)
    assert len(examples) == 16
    evaluator = GroundingEvaluator()
    refusals = 0
    for example in examples:
        system, user, answer = (m["content"] for m in example["messages"])
        assert user.startswith("QUESTION: ") and "PRODUCTS (" in system
        context = system[system.index("PRODUCTS (") :]
        result = evaluator.evaluate(
            query=user,
            response=answer["content"] if isinstance(answer, dict) else answer,
            contexts=[context],
            expect_refusal="couldn't find" in answer,
        )
        assert result.passing, result.feedback
        refusals += "couldn't find" in answer
    assert refusals >= 2  # the out-of-catalog questions


def test_tiny_sft_run_gives_a_loadable_generator(demo_corpus: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    card = run_generator_pipeline(demo_corpus, models, size="tiny", show_progress=False)
    preset = GENERATOR_PRESETS["tiny"]
    assert card["backend"] == "peft" and card["loss_log"] and card["examples"] == preset.train_questions
    for name in ("config.json", "model.safetensors", "card.json", "README.md", "loss.png"):
        assert (models / "generator-ft" / name).is_file()
    held_out = load_questions(models / "work" / "data" / "generator-eval-tiny.jsonl")
    assert len(held_out) == preset.eval_questions
    llm = make_llm("local", model=str(models / "generator-ft"), max_new_tokens=4)
    assert llm.complete("Name a colour.").text.strip()
