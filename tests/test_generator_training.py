"""A tiny real SFT run of Gemma 3 270M (peft path) on grounded answers built from the demo catalog."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from daraz_llama.answers.evaluate import load_questions
from daraz_llama.answers.generators import make_llm
from daraz_llama.answers.gguf_export import export_gguf, exported_gguf, packaged_gguf
from daraz_llama.answers.grounding import GroundingEvaluator
from daraz_llama.answers.local_llm import base_gemma_folder
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


@pytest.fixture(scope="module")
def tiny_run(demo_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A tiny real SFT run on the demo corpus: the models folder and the card."""
    models = tmp_path_factory.mktemp("sft") / "models"
    return models, run_generator_pipeline(demo_corpus, models, size="tiny", show_progress=False)


def test_tiny_sft_run_gives_a_loadable_generator(tiny_run: tuple[Path, dict]) -> None:
    models, card = tiny_run
    preset = GENERATOR_PRESETS["tiny"]
    assert card["backend"] == "peft" and card["loss_log"] and card["examples"] == preset.train_questions
    for name in ("config.json", "model.safetensors", "card.json", "README.md", "loss.png"):
        assert (models / "generator-ft" / name).is_file()
    held_out = load_questions(models / "work" / "data" / "generator-eval-tiny.jsonl")
    assert len(held_out) == preset.eval_questions
    for runtime in ("llama.cpp", "transformers"):
        llm = make_llm("local", model=str(models / "generator-ft"), runtime=runtime, max_new_tokens=4)
        assert llm.complete("Name a colour.").text.strip()


def test_the_gguf_export_carries_the_fine_tuned_weights(tiny_run: tuple[Path, dict]) -> None:
    """The tuned projections replace the packaged ones (at Q8_0, within its rounding); the rest is copied."""
    import gguf
    from safetensors.numpy import load_file

    models, _ = tiny_run
    tuned = models / "generator-ft"
    exported = exported_gguf(tuned)
    card = json.loads((exported.parent / "card.json").read_text())
    assert card["replaced_tensors"] == 18 * 4  # q, k, v and o of every layer: the LoRA targets
    assert (exported.parent / "README.md").is_file()
    weights = load_file(str(tuned / "model.safetensors"))
    ours, packaged = gguf.GGUFReader(str(exported)), gguf.GGUFReader(str(packaged_gguf()))
    tensor = {t.name: t for t in ours.tensors}
    q_proj = gguf.quants.dequantize(tensor["blk.3.attn_q.weight"].data, tensor["blk.3.attn_q.weight"].tensor_type)
    expected = weights["model.layers.3.self_attn.q_proj.weight"]
    assert q_proj.shape == expected.shape
    assert abs(q_proj - expected).max() < 0.02 * abs(expected).max()
    untouched = {t.name: t for t in packaged.tensors}["blk.3.ffn_up.weight"]
    assert bytes(tensor["blk.3.ffn_up.weight"].data) == bytes(untouched.data)
    before = exported.stat().st_mtime_ns
    assert export_gguf(tuned, base_gemma_folder()) == exported and exported.stat().st_mtime_ns == before  # cached
