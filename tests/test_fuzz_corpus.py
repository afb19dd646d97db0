"""A quick seeded run of the corpus fuzzer (the long run: `python benchmarks/fuzz_corpus.py`)."""

from __future__ import annotations

import random
from pathlib import Path

from daraz_llama.corpus import CorpusError
from daraz_llama.index import build_index, load_index
from tests.corpus_fuzzer import MUTATIONS, SECONDS_PER_MB, encode, fuzz


def test_mutants_of_the_demo_corpus_lose_nothing_silently(demo_corpus: Path) -> None:
    report = fuzz(demo_corpus.read_text(encoding="utf-8"), mutants=300, seed=13)
    assert report.mutants == 300 and set(report.by_mutation) == set(MUTATIONS)
    assert report.tracebacks == []
    assert report.silent_losses == []
    assert report.worst_seconds_per_mb < SECONDS_PER_MB


def test_mutants_index_and_load(tmp_path: Path, demo_corpus: Path) -> None:
    rng = random.Random(5)
    text = demo_corpus.read_text(encoding="utf-8")
    for number in range(4):
        mutant = text
        for name in rng.sample(sorted(MUTATIONS), 3):
            mutant = MUTATIONS[name](rng, mutant)
        path = tmp_path / f"mutant-{number}.md"
        path.write_bytes(encode(rng, mutant))
        try:
            built = build_index(path, tmp_path / f"idx-{number}", embedder=None, show_progress=False)
        except CorpusError as err:
            assert "no product could be parsed" in str(err)
            continue
        assert len(load_index(tmp_path / f"idx-{number}").chunks) == len(built.chunks) > 0
