"""Chunking products into title-carrying nodes."""

from __future__ import annotations

from pathlib import Path

import pytest
from llama_index.core.schema import Document, NodeRelationship

from daraz_llama.node_parser import ProductNodeParser, pack_paragraphs
from daraz_llama.reader import DarazCorpusReader


def _words(n: int, word: str = "w") -> str:
    return " ".join(f"{word}{i}" for i in range(n))


def test_packing_respects_the_word_bounds() -> None:
    text = "\n\n".join([_words(30, "a"), _words(50, "b"), _words(100, "c"), _words(10, "d")])
    chunks = pack_paragraphs(text, 40, 160)
    assert [len(c.split()) for c in chunks] == [80, 110]  # 30+50 | 100 + trailing 10 merged
    long = pack_paragraphs(_words(400) + ".", 40, 160)
    assert all(len(c.split()) <= 160 for c in long) and sum(len(c.split()) for c in long) == 400


def test_long_paragraph_is_cut_at_sentence_ends() -> None:
    sentences = " ".join(f"{_words(30, f's{i}_')}." for i in range(8))
    chunks = pack_paragraphs(sentences, 40, 160)
    assert all(chunk.endswith(".") for chunk in chunks)
    assert all(40 <= len(c.split()) <= 160 for c in chunks)


def test_nodes_carry_title_and_point_to_their_product() -> None:
    doc = Document(
        id_="42",
        text="Red Shoe\n\n" + _words(150, "x") + "\n\n" + _words(150, "y"),
        metadata={"product_id": "42", "title": "Red Shoe", "category": "shoes"},
        excluded_embed_metadata_keys=["product_id", "title"],
    )
    nodes = ProductNodeParser().get_nodes_from_documents([doc])
    assert [n.node_id for n in nodes] == ["42-0", "42-1"]
    for node in nodes:
        assert node.text.startswith("Red Shoe\n")
        assert node.ref_doc_id == "42"
        assert node.relationships[NodeRelationship.SOURCE].node_id == "42"
        assert node.metadata["category"] == "shoes" and node.metadata["chunk"] in (0, 1)
        assert "chunk" in node.excluded_embed_metadata_keys and "title" in node.excluded_embed_metadata_keys
    assert nodes[0].relationships[NodeRelationship.NEXT].node_id == "42-1"


def test_real_products_chunk_within_bounds(real_sample: Path) -> None:
    documents = DarazCorpusReader().load_data(real_sample)
    nodes = ProductNodeParser().get_nodes_from_documents(documents)
    assert {n.ref_doc_id for n in nodes} == {d.doc_id for d in documents}
    for node in nodes:
        title = node.metadata["title"]
        body = node.text[len(title) :]
        assert node.text.startswith(title)
        assert len(body.split()) <= 160
    assert len(nodes) > len(documents)  # long descriptions give several chunks


def test_after_another_parser_node_ids_stay_unique(demo_corpus) -> None:
    from llama_index.core.node_parser import SentenceSplitter

    documents = DarazCorpusReader().load_data(demo_corpus)
    split = SentenceSplitter(chunk_size=200, chunk_overlap=0).get_nodes_from_documents(documents)
    assert len(split) > len(documents)  # several nodes of one product
    chunks = ProductNodeParser()(split)
    assert len({chunk.node_id for chunk in chunks}) == len(chunks)
    assert {chunk.ref_doc_id for chunk in chunks} == {d.doc_id for d in documents}


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"min_words": 200, "max_words": 100}, "must not exceed max_words"),
        ({"chunk_size": 512}, "chunk_size"),
        ({"max_words": 0}, "greater than 0"),
    ],
)
def test_bad_parser_arguments_are_rejected(arguments: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ProductNodeParser(**arguments)
