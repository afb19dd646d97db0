"""Natural training queries (a shop's search log, or hand-written shopper queries): read, validated
and split by title group into train and a natural-dev split for model selection."""

from __future__ import annotations

import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Collection, Sequence

from daraz_llama.queries import QueryProblem, QueryRecord, load_queries

NATURAL_DEV_SHARE = 0.1


@dataclass
class NaturalQueries:
    train: list[QueryRecord]
    dev: list[QueryRecord]
    problems: list[QueryProblem]
    sources: list[str]


def read_query_files(
    paths: Sequence[str | Path], known_ids: Collection[str]
) -> tuple[list[QueryRecord], list[QueryProblem]]:
    """Every valid query of ``paths`` (qids made unique per file); bad lines reported with their number."""
    records: list[QueryRecord] = []
    problems: list[QueryProblem] = []
    for number, path in enumerate(paths):
        loaded = load_queries(path, known_ids)
        problems += loaded.problems
        prefix = f"f{number}:" if len(paths) > 1 else ""
        records += [QueryRecord(prefix + r.qid, r.query, r.relevant_ids, r.extra) for r in loaded.queries]
    return records, problems


def split_by_title(
    records: list[QueryRecord], title_of: dict[str, str], dev_share: float = NATURAL_DEV_SHARE, seed: int = 13
) -> tuple[list[QueryRecord], list[QueryRecord]]:
    """Train and dev queries such that no title (a product and its same-title duplicates) is in both."""

    def group(record: QueryRecord) -> str:
        return " ".join(title_of.get(record.relevant_ids[0], record.relevant_ids[0]).lower().split())

    groups = sorted({group(r) for r in records})
    random.Random(seed).shuffle(groups)
    target = round(dev_share * len(records))
    per_group: dict[str, int] = {}
    for record in records:
        per_group[group(record)] = per_group.get(group(record), 0) + 1
    dev_groups: set[str] = set()
    taken = 0
    for name in groups:
        if taken >= target:
            break
        dev_groups.add(name)
        taken += per_group[name]
    train = [r for r in records if group(r) not in dev_groups]
    dev = [r for r in records if group(r) in dev_groups]
    return train, dev


def load_natural(
    paths: Sequence[str | Path], title_of: dict[str, str], seed: int = 13, dev_share: float = NATURAL_DEV_SHARE
) -> NaturalQueries:
    """Read ``paths`` against the indexed products and split them; problems are printed and kept."""
    records, problems = read_query_files(paths, set(title_of))
    for problem in problems[:20]:
        print(f"  skipped: {problem}", file=sys.stderr)
    if not records:
        raise ValueError(f"no valid query in {', '.join(map(str, paths))}")
    train, dev = split_by_title(records, title_of, dev_share, seed)
    return NaturalQueries(train, dev, problems, [str(p) for p in paths])
