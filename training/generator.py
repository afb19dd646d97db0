"""Supervised fine-tuning of the answer generator (Gemma 3 270M) on grounded, cited answers.

The SFT set is built from the catalog and the retriever: shopper questions (from the silver
queries, in several phrasings, plus questions nothing in the catalog answers), the numbered
product context the chat engine would give, and a target answer that is correct by
construction (the offline generator's answer, written from the products' metadata). LoRA
adapters are trained with Unsloth when CUDA and Unsloth are present, with transformers + peft
otherwise, then merged and saved with a model card and a loss curve.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from daraz_llama.answers.chat_engine import ProductChatEngine
from daraz_llama.answers.context import BRIEF_CONTEXT
from daraz_llama.answers.offline_llm import CatalogAnswerLLM, compose_answer
from daraz_llama.index import ProductIndex
from daraz_llama.models import torch_device
from daraz_llama.queries import QueryRecord
from daraz_llama.retriever import build_retriever
from daraz_llama.training.model_card import write_model_card

logger = logging.getLogger(__name__)
# Ways shoppers wrap a search in a message: short searches, full sentences, Banglish.
PHRASINGS = (
    "{q}",
    "find me {q}",
    "do you have {q}?",
    "i want {q}",
    "which {q} is good?",
    "show {q}",
    "I'm looking for {q}. What do you have?",
    "Can you suggest {q}?",
    "Is there any {q} in stock?",
    "I need {q} as a gift, any good options?",
    "What's the best {q} you have?",
    "{q} ache?",
    "amar {q} lagbe",
    "Please show me {q}.",
)
FOLLOW_UPS = ("is there a cheaper one?", "anything cheaper?", "kom dame ache?", "a less expensive one?", "cheaper?")
OUT_OF_CATALOG = (
    "refrigerator with ice maker",
    "car tyres 195/65 r15",
    "life insurance plan",
    "flight ticket to dubai",
    "fresh mangoes 5 kg",
    "washing machine 8 kg front load",
    "motorcycle helmet with bluetooth",
    "a used toyota corolla",
    "hilsa fish 1 kg",
    "a 2 bedroom flat in dhanmondi",
    "dental implant appointment",
    "cement 50 kg bag",
    "a rooftop solar panel 5 kw system",
    "ielts coaching course",
)
# A real search with a budget nothing meets: the retriever finds products, none of them fits.
IMPOSSIBLE_BUDGETS = ("under {n} taka", "below {n} tk", "{n} takar moddhe")


@dataclass(frozen=True)
class GeneratorPreset:
    name: str
    train_questions: int
    eval_questions: int
    max_steps: int
    batch: int
    grad_accum: int
    lr: float
    lora_r: int
    max_length: int


# The brief context (3 products, no descriptions) makes an example ~450 tokens.
GENERATOR_PRESETS = {
    "tiny": GeneratorPreset("tiny", 8, 4, 2, 1, 1, 2e-4, 4, 768),
    "cpu": GeneratorPreset("cpu", 480, 80, 120, 2, 2, 2e-4, 16, 768),
    "gpu": GeneratorPreset("gpu", 6000, 300, 1500, 8, 2, 2e-4, 16, 768),
}


def sft_messages(engine: ProductChatEngine, question: str) -> list[dict[str, str]]:
    """The chat the generator sees for ``question`` (as the chat engine builds it: search, fit test,
    numbered products; a follow-up continues ``engine``'s conversation), with the correct-by-construction
    answer last."""
    system, user = (str(message.content) for message in engine.prepare(question)[0])
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": user},
        {"role": "assistant", "content": compose_answer(f"{system}\n{user}")},
    ]


def _kind(i: int) -> str:
    """Of every 16 examples: 12 plain questions, 2 follow-ups, 1 out-of-catalog, 1 impossible budget."""
    return {6: "follow_up", 14: "follow_up", 7: "out_of_catalog", 15: "impossible_budget"}.get(i % 16, "answer")


def _question(kind: str, record: QueryRecord, rng: random.Random) -> str:
    if kind == "out_of_catalog":
        return rng.choice(PHRASINGS).format(q=rng.choice(OUT_OF_CATALOG))
    if kind == "impossible_budget":
        budget = rng.choice(IMPOSSIBLE_BUDGETS).format(n=rng.choice((5, 10, 20, 30, 49)))
        return rng.choice(PHRASINGS).format(q=f"{record.query} {budget}")
    return rng.choice(PHRASINGS).format(q=record.query)


def build_sft_set(
    index: ProductIndex, queries: list[QueryRecord], count: int, seed: int, natural: Sequence[QueryRecord] = ()
) -> list[dict[str, Any]]:
    """``count`` examples from natural queries (when given; else silver ``queries``) and silver queries, each
    phrased as a shopper would write it: one in eight is a follow-up ("a cheaper one?") after a first
    question, one in eight has no product that fits (out-of-catalog things, budgets nothing meets)."""
    rng = random.Random(seed)
    retriever = build_retriever(index, mode="hybrid", top_k=5)
    pool = list(natural) if natural else list(queries)
    chosen = rng.sample(pool, min(count, len(pool)))
    if natural and queries:
        silver = rng.sample(queries, min(count // 4, len(queries)))
        chosen = chosen[: count - len(silver)] + silver
        rng.shuffle(chosen)
    examples = []
    for i, record in enumerate(chosen):
        kind_of = _kind(i)
        engine = ProductChatEngine(retriever, CatalogAnswerLLM(), style=BRIEF_CONTEXT)
        if kind_of == "follow_up":
            sft_messages(engine, _question("answer", record, rng))
            messages = sft_messages(engine, rng.choice(FOLLOW_UPS))
        else:
            messages = sft_messages(engine, _question(kind_of, record, rng))
        examples.append({"qid": record.qid, "kind": kind_of, "messages": messages})
    return examples


def _tokenize(example: dict[str, Any], tokenizer: Any, max_length: int) -> dict[str, list[int]] | None:
    """Prompt tokens are masked (-100) so only the answer is learned; None when the whole answer does not fit."""
    messages = example["messages"]
    system, user, answer = messages[0]["content"], messages[1]["content"], messages[2]["content"]
    turns = [{"role": "user", "content": f"{system}\n\n{user}"}]
    prompt = tokenizer.apply_chat_template(turns, add_generation_prompt=True, tokenize=True)
    if not isinstance(prompt, list):  # a BatchEncoding in recent transformers
        prompt = prompt["input_ids"]
    target = tokenizer(answer + "<end_of_turn>\n", add_special_tokens=False)["input_ids"]
    if len(prompt) + len(target) > max_length:
        return None
    ids = list(prompt) + target
    return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": [-100] * len(prompt) + target}


def _load_for_training(base: str, preset: GeneratorPreset) -> tuple[Any, Any, str]:
    """(model with LoRA adapters, tokenizer, backend name): Unsloth on CUDA when installed, else peft."""
    import torch

    if torch.cuda.is_available():
        try:
            from unsloth import FastLanguageModel  # type: ignore[import-not-found]

            model, tokenizer = FastLanguageModel.from_pretrained(
                base, max_seq_length=preset.max_length, load_in_4bit=False
            )
            model = FastLanguageModel.get_peft_model(
                model,
                r=preset.lora_r,
                lora_alpha=2 * preset.lora_r,
                target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
            )
            return model, tokenizer, "unsloth"
        except ImportError:
            logger.warning("CUDA is present but Unsloth is not installed: training with peft")
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from daraz_llama.answers.local_llm import load_causal_lm

    tokenizer, _ = load_causal_lm(base)
    model = AutoModelForCausalLM.from_pretrained(base).to(torch_device())
    config = LoraConfig(
        r=preset.lora_r,
        lora_alpha=2 * preset.lora_r,
        lora_dropout=0.05,
        task_type="CAUSAL_LM",
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
    )
    return get_peft_model(model, config), tokenizer, "peft"


def _plot_loss(history: list[dict[str, Any]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = [(h["step"], h["loss"]) for h in history if "loss" in h and "step" in h]
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=110)
    ax.plot([p[0] for p in points], [p[1] for p in points], marker="o")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.set_title("Gemma 3 270M SFT")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


def _answer_token_loss(model: Any, inputs: dict[str, Any], labels: Any) -> tuple[Any, int, Any]:
    """Summed cross-entropy over the answer tokens (labels other than -100), their count and the model's outputs.
    The output layer is projected only where an answer token is predicted: Gemma's 262k-word output layer over
    every prompt position is most of a CPU step, and those positions carry no loss."""
    import torch

    keep = torch.zeros_like(labels, dtype=torch.bool)
    keep[:, :-1] = labels[:, 1:] != -100
    outputs = model(**inputs, logits_to_keep=keep)
    targets = labels[:, 1:][keep[:, :-1]]
    loss = torch.nn.functional.cross_entropy(outputs.logits.float(), targets, reduction="sum")
    return loss, targets.numel(), outputs


def _answer_only_trainer() -> type:
    """A Trainer whose loss is :func:`_answer_token_loss`."""
    from transformers import Trainer

    class AnswerOnlyTrainer(Trainer):
        def compute_loss(
            self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None
        ) -> Any:
            labels = inputs.pop("labels")
            loss, count, outputs = _answer_token_loss(model, inputs, labels)
            loss = loss / (num_items_in_batch if num_items_in_batch is not None else count)
            return (loss, outputs) if return_outputs else loss

    return AnswerOnlyTrainer


def answer_loss(model: Any, rows: list[dict[str, list[int]]]) -> float:
    """Mean cross-entropy per answer token of ``model`` over tokenized ``rows`` (prompt positions excluded)."""
    import torch

    total, count = 0.0, 0
    model.eval()
    with torch.no_grad():
        for row in rows:
            ids = torch.tensor([row["input_ids"]], device=model.device)
            labels = torch.tensor([row["labels"]], device=model.device)
            loss, tokens, _ = _answer_token_loss(model, {"input_ids": ids}, labels)
            total, count = total + float(loss), count + tokens
    model.train()
    return total / max(count, 1)


def train_generator(
    examples: list[dict[str, Any]],
    base: str,
    out_dir: Path,
    preset: GeneratorPreset,
    seed: int = 13,
    title: str = "daraz-llama fine-tuned generator (Gemma 3 270M)",
    held_out: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """LoRA-train ``base`` on ``examples``; save the merged model, its tokenizer, a card and a loss PNG.
    With ``held_out`` examples, their answer loss before and after training goes into the card."""
    from datasets import Dataset
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainingArguments

    started = time.perf_counter()
    model, tokenizer, backend = _load_for_training(base, preset)
    rows = [row for row in (_tokenize(e, tokenizer, preset.max_length) for e in examples) if row is not None]
    if len(rows) < len(examples):
        logger.warning(
            "%d of %d SFT examples are longer than %d tokens: left out",
            len(examples) - len(rows),
            len(examples),
            preset.max_length,
        )
    held_rows = [row for row in (_tokenize(e, tokenizer, preset.max_length) for e in held_out) if row is not None]
    before = {"held_out_answer_loss": answer_loss(model, held_rows)} if held_rows else {}
    dataset = Dataset.from_list(rows)
    checkpoints = out_dir.parent / f".{out_dir.name}-checkpoints"
    device = torch_device()
    args = TrainingArguments(
        output_dir=str(checkpoints),
        max_steps=preset.max_steps,
        per_device_train_batch_size=preset.batch,
        gradient_accumulation_steps=preset.grad_accum,
        learning_rate=preset.lr,
        warmup_steps=max(1, preset.max_steps // 10),
        logging_steps=max(1, preset.max_steps // 20),
        save_strategy="no",
        report_to="none",
        seed=seed,
        use_cpu=device == "cpu",
        bf16=device == "cuda",
    )
    collator = DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100)
    trainer_class = _answer_only_trainer() if backend == "peft" else Trainer  # Unsloth fuses its own loss
    trainer = trainer_class(model=model, args=args, train_dataset=dataset, data_collator=collator)
    trainer.train()
    after = {"held_out_answer_loss": answer_loss(model, held_rows)} if held_rows else {}
    merged = model.merge_and_unload()
    out_dir.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(str(out_dir))
    tokenizer.save_pretrained(str(out_dir))
    _plot_loss(trainer.state.log_history, out_dir / "loss.png")
    data_hash = hashlib.sha256(json.dumps(examples, ensure_ascii=False).encode("utf-8")).hexdigest()[:16]
    card = {
        "base_model": base,
        "data_hash": data_hash,
        "backend": backend,
        "examples": len(rows),
        "examples_too_long": len(examples) - len(rows),
        "train_seconds": time.perf_counter() - started,
        "device": device,
        "settings": preset.__dict__,
        "held_out_examples": len(held_rows),
        "dev_before": before,
        "dev_after": after,
        "loss_log": [h for h in trainer.state.log_history if "loss" in h],
    }
    write_model_card(out_dir, title, card)
    return card
