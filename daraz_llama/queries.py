"""Query sets: JSON Lines of ``{"qid", "query", "relevant_ids", ...extra}``, validated line by line."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Collection, Iterable


@dataclass
class QueryRecord:
    """One query and the products that answer it; extra fields (e.g. ``style``) are kept."""

    qid: str
    query: str
    relevant_ids: list[str]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def style(self) -> str | None:
        value = self.extra.get("style")
        return str(value) if value is not None else None

    def to_json(self) -> str:
        return json.dumps(
            {"qid": self.qid, "query": self.query, "relevant_ids": self.relevant_ids, **self.extra}, ensure_ascii=False
        )


@dataclass
class QueryProblem:
    source: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.message}"


@dataclass
class QuerySet:
    source: str
    queries: list[QueryRecord]
    problems: list[QueryProblem]


def _validate(raw: Any, known_ids: Collection[str] | None, seen: set[str]) -> QueryRecord:
    if not isinstance(raw, dict):
        raise ValueError("not a JSON object")
    qid = raw.get("qid")
    if qid is None or not str(qid).strip():
        raise ValueError("missing qid")
    qid = str(qid)
    if qid in seen:
        raise ValueError(f"duplicate qid {qid!r}")
    query = raw.get("query")
    if not isinstance(query, str) or not query.strip():
        raise ValueError(f"qid {qid}: empty query")
    relevant = raw.get("relevant_ids")
    if not isinstance(relevant, list) or not relevant or not all(isinstance(r, (str, int)) for r in relevant):
        raise ValueError(f"qid {qid}: relevant_ids must be a non-empty list of product ids")
    relevant = [str(r) for r in relevant]
    if known_ids is not None:
        missing = [r for r in relevant if r not in known_ids]
        if missing:
            raise ValueError(f"qid {qid}: relevant id(s) not in the corpus: {', '.join(missing)}")
    extra = {k: v for k, v in raw.items() if k not in {"qid", "query", "relevant_ids"}}
    return QueryRecord(qid=qid, query=query.strip(), relevant_ids=relevant, extra=extra)


def load_queries(path: str | Path, known_ids: Collection[str] | None = None) -> QuerySet:
    """Read and validate a query file; bad lines are reported with their number and skipped."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"query file not found: {path}")
    queries: list[QueryRecord] = []
    problems: list[QueryProblem] = []
    seen: set[str] = set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = _validate(json.loads(line), known_ids, seen)
        except json.JSONDecodeError as err:
            problems.append(QueryProblem(str(path), number, f"not JSON ({err.msg})"))
        except ValueError as err:
            problems.append(QueryProblem(str(path), number, str(err)))
        else:
            seen.add(record.qid)
            queries.append(record)
    return QuerySet(source=str(path), queries=queries, problems=problems)


def write_queries(path: str | Path, queries: Iterable[QueryRecord]) -> int:
    """Write ``queries`` as JSON Lines; return how many."""
    lines = [q.to_json() for q in queries]
    Path(path).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return len(lines)
