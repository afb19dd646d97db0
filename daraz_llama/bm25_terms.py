"""The terms BM25 scores, one definition for both stores: bm25s' tokenizer (words of two or more letters or
digits, lowercased, English stop words dropped) and PyStemmer's English stemmer. The FAISS store's bm25s index
applies it itself; the Milvus store hands Milvus these terms joined by spaces, so Milvus' BM25 (Lucene's formula,
as bm25s') scores the same terms whether or not its analyzer applies stemming and stop words (Milvus Lite does not).
"""

from __future__ import annotations

from typing import Any

import bm25s
import Stemmer

BM25_LANGUAGE = "en"  # bm25s' stop-word list
STEMMER_LANGUAGE = "english"
BM25_TERMS = {"language": BM25_LANGUAGE, "stemmer": STEMMER_LANGUAGE}  # as an index's manifest records them


def bm25_stemmer() -> Stemmer.Stemmer:
    """A new stemmer (PyStemmer's are not shared between threads)."""
    return Stemmer.Stemmer(STEMMER_LANGUAGE)


def bm25_tokenize(texts: list[str], return_ids: bool = True) -> Any:
    """bm25s' tokenisation of ``texts`` into these terms: ids and vocabulary for a bm25s index, or with
    ``return_ids=False`` each text's list of terms."""
    return bm25s.tokenize(
        texts, stopwords=BM25_LANGUAGE, stemmer=bm25_stemmer(), return_ids=return_ids, show_progress=False
    )


def bm25_terms(texts: list[str]) -> list[str]:
    """Each text as the space-separated terms BM25 indexes and matches."""
    tokens = bm25_tokenize(texts, return_ids=False)
    assert isinstance(tokens, list)
    return [" ".join(terms) for terms in tokens]
