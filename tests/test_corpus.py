"""The corpus parser, the LlamaIndex reader and their handling of bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
from llama_index.core.schema import MetadataMode

from daraz_llama.corpus import CorpusError, parse_corpus, parse_corpus_text, parse_money, parse_sold
from daraz_llama.reader import DarazCorpusReader
from tests.conftest import DEMO_CORPUS, FIXTURES


def test_demo_corpus_parses_every_field(demo_corpus: Path) -> None:
    result = parse_corpus(demo_corpus)
    assert result.problems == []
    assert len(result.products) == result.start_markers == 60
    assert len({p.category for p in result.products}) == 6
    gamepad = next(p for p in result.products if p.title.startswith("Fantech WGP13"))
    assert gamepad.brand == "Fantech"
    assert gamepad.price == 1350.0 and gamepad.original_price == 1650.0 and gamepad.discount_pct == 18
    assert gamepad.rating == 4.5 and gamepad.rating_count == 210
    assert gamepad.sales == "2.3K sold" and gamepad.sold_count == 2300 and gamepad.seller_location is None
    assert gamepad.colors == ["Black"]
    assert gamepad.seller == "Fantech Store" and gamepad.seller_url.startswith("https://www.daraz.com.bd/shop/")
    assert gamepad.url.endswith(f"-i{gamepad.product_id}.html")
    assert gamepad.sku.startswith(gamepad.product_id)
    assert gamepad.returns_warranty and gamepad.delivery and gamepad.variants
    assert gamepad.images[0].endswith("720x720q80.jpg")
    assert gamepad.description.startswith("Wired USB gamepad") and "\n\n" in gamepad.description
    jeans = next(p for p in result.products if p.title.startswith("Slim Fit Stretch"))
    assert jeans.sizes == ["28", "30", "32", "34", "36"]


def test_oddities_of_the_real_format(demo_corpus: Path) -> None:
    products = {p.title: p for p in parse_corpus(demo_corpus).products}
    unrated = products["Men's Cargo Jogger Jeans with Side Pockets - Olive"]
    assert unrated.rating is None and unrated.rating_count == 0  # "0.0/5 (0 ratings)" is unknown, not zero
    assert unrated.seller_location == "Overseas" and unrated.sold_count is None  # Sales holds a location
    listing_only = products["Straight Fit Stone Wash Jeans Premium Quality"]
    assert listing_only.price == 550 and listing_only.brand is None and listing_only.description is None
    assert listing_only.url is None and listing_only.rating is None
    bangla = next(p for p in products.values() if p.brand == "Deshi Denim")
    assert "বাংলাদেশে তৈরি" in bangla.title and "আরামদায়ক" in bangla.description
    assert bangla.description.startswith("Made in Bangladesh")  # the left-to-right mark is gone
    fantech = products["Fantech EOS Pro WGP15 Wireless Gamepad 2.4GHz"]
    assert "Hall effect" in fantech.description  # zero-width space removed


def test_header_lines_quoting_the_markers_are_not_products(demo_corpus: Path) -> None:
    text = demo_corpus.read_text(encoding="utf-8")
    assert "`<!--DOC:START ...-->`" in text.splitlines()[2]
    assert parse_corpus(demo_corpus).start_markers == text.count("\n<!--DOC:START")


def test_values() -> None:
    assert parse_money("৳ 1,234,567") == 1234567.0
    assert parse_money("৳ 99.50") == 99.5
    assert parse_money("n/a") is None
    assert parse_sold("1.2K sold") == 1200 and parse_sold("33 sold") == 33 and parse_sold("Dhaka") is None


def test_malformed_blocks_are_reported_and_skipped() -> None:
    result = parse_corpus(FIXTURES / "malformed_corpus.md")
    assert [p.product_id for p in result.products] == ["900001", "900003", "900007"]
    assert result.products[0].title == "Good Jeans One"  # the duplicate did not replace the first
    messages = {(p.line, p.product_id): p.message for p in result.problems}
    assert "no DOC:END before the next DOC:START on line 27" in messages[(21, "900002")]
    assert messages[(37, None)] == "DOC:START marker has no id="
    assert "duplicate id (first defined on line 5)" in messages[(42, "900001")]
    assert messages[(49, "900005")] == "empty product block"
    assert "title" in messages[(52, "900006")]
    assert "DOC:END without a DOC:START" in messages[(67, None)]
    assert "end of the file" in messages[(69, "900008")]
    # Nothing is lost: every START marker is a product or a skipped block.
    assert len(result.products) + len(result.skipped) == result.start_markers == 9
    assert all(str(p).startswith(str(FIXTURES / "malformed_corpus.md")) for p in result.problems)


def test_non_utf8_lines_cost_only_their_block(tmp_path: Path, demo_corpus: Path) -> None:
    raw = demo_corpus.read_bytes()
    broken = raw.replace("Budget black jeans".encode(), b"Budget \xff\xfe black jeans", 1)
    path = tmp_path / "latin.md"
    path.write_bytes(broken)
    result = parse_corpus(path)
    assert len(result.products) == 59
    [problem] = result.problems
    assert "not valid UTF-8 on line" in problem.message and problem.product_id
    assert len(result.products) + len(result.skipped) == result.start_markers


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="corpus file not found"):
        parse_corpus(tmp_path / "nope.md")


def test_reader_documents(demo_corpus: Path) -> None:
    reader = DarazCorpusReader()
    documents = reader.load_data(demo_corpus)
    assert reader.problems == []
    doc = next(d for d in documents if d.metadata["title"].startswith("Fantech WGP13"))
    assert doc.doc_id == doc.metadata["product_id"]
    assert isinstance(doc.metadata["price"], float) and isinstance(doc.metadata["rating_count"], int)
    assert "lazcdn" not in doc.text and "Standard Delivery" not in doc.text  # no images or plumbing
    embed_text = doc.get_content(MetadataMode.EMBED)
    assert "category: gaming controllers" in embed_text and "brand: Fantech" in embed_text
    assert "sku" not in embed_text and "image_url" not in embed_text and "price:" not in embed_text
    llm_text = doc.get_content(MetadataMode.LLM)
    assert "price: 1350.0" in llm_text and "rating: 4.5" in llm_text and "url: https://" in llm_text
    assert "image_url" not in llm_text and "sku" not in llm_text
    unrated = next(d for d in documents if d.metadata["title"].startswith("Men's Cargo Jogger"))
    assert "rating" not in unrated.metadata and unrated.metadata["rating_count"] == 0


def test_whole_real_corpus_is_accounted_for(real_corpus: Path) -> None:
    result = parse_corpus(real_corpus)
    text = real_corpus.read_text(encoding="utf-8")
    markers = sum(1 for line in text.splitlines() if line.startswith("<!--DOC:START"))
    assert result.start_markers == markers == 8298
    assert len(result.products) + len(result.skipped) == markers
    assert len(result.products) == 8298
    assert sum(p.price is None for p in result.products) == 4
    assert len({p.category for p in result.products}) == 29


def _two_blocks(extra: str, start: str = "<!--DOC:START id=2 category=mens jeans-->") -> list[str]:
    block = (
        "<!--DOC:START id=1 category=mens jeans-->\n## Jeans One\n**DocID:** 1\n**Price:** ৳ 500\n<!--DOC:END-->\n"
        f"{start}\n## Jeans Two\n**DocID:** 2\n**Price:** ৳ 600\n{extra}\n<!--DOC:END-->\n"
    )
    return block.splitlines()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("**Rating:** 4.5.1/5 (3 ratings)", "not a rating"),
        ("**Rating:** 4.5/5 (, ratings)", "not a rating"),
        ("**Rating:** 7.5/5 (3 ratings)", "rating 7.5 is not between 0 and 5"),
        ("**Sales:** 1.2.3K sold", "not a sales count"),
        ("**Price:** ৳ " + "9" * 5000, "not a taka amount"),
        ("**Price:** ৳ -500", "not a taka amount"),
        ("**Price:** ৳ 1e309", "not a taka amount"),
        ("**Price:** ৳ 1.5.6", "not a taka amount"),
        ("**Price:** ৳ ,,,5", "not a taka amount"),
        ("**Original:** ৳ 1,000,000,000,000", "too large to be a price"),
        ("**Discount:** -18.5.1%", "not a discount"),
    ],
)
def test_a_bad_field_value_costs_only_that_field(extra: str, message: str) -> None:
    result = parse_corpus_text(_two_blocks(extra), "shop.md")
    assert [p.product_id for p in result.products] == ["1", "2"]  # the good product and the one with a bad field
    [problem] = result.problems
    assert str(problem).startswith("shop.md:10 (id=2): ") and message in problem.message and not problem.skipped


def test_bangla_digits_swapped_attributes_and_utf16_are_read_right(tmp_path: Path) -> None:
    bangla = parse_corpus_text(_two_blocks("**Original:** ৳ ১,২০০"), "shop.md")
    assert bangla.products[1].original_price == 1200 and not bangla.problems
    swapped = parse_corpus_text(_two_blocks("", start="<!--DOC:START category=mens jeans id=2 -->"), "shop.md")
    assert swapped.products[1].product_id == "2" and swapped.products[1].category == "mens jeans"
    path = tmp_path / "utf16.md"
    path.write_bytes("\n".join(_two_blocks("")).encode("utf-16"))
    assert [p.product_id for p in parse_corpus(path).products] == ["1", "2"]


def test_a_docid_that_differs_or_a_broken_start_marker_skips_the_block_with_its_line(tmp_path: Path) -> None:
    result = parse_corpus_text(_two_blocks("**DocID:** 999"), "shop.md")
    [problem] = result.problems
    assert problem.skipped and problem.line == 6 and "line 10: DocID '999' does not match" in problem.message
    path = tmp_path / "ff.md"
    path.write_bytes("\n".join(_two_blocks("")).encode().replace(b"id=2", b"id=2\xff"))
    broken = parse_corpus(path)
    assert [p.product_id for p in broken.products] == ["1"]
    assert "not valid UTF-8 on line 6" in broken.problems[0].message
    assert len(broken.products) + len(broken.skipped) == broken.start_markers


def test_reader_is_a_pydantic_reader_that_keeps_extra_info(demo_corpus: Path) -> None:
    reader = DarazCorpusReader()
    documents = reader.load_data(demo_corpus, extra_info={"shop": "demo"})
    assert all(d.metadata["shop"] == "demo" for d in documents) and reader.problems == []
    assert reader.to_dict()["class_name"] == "DarazCorpusReader"


def test_the_streamed_corpus_gives_what_the_parser_gives(tmp_path: Path) -> None:
    from daraz_llama.corpus import CorpusStream

    for corpus in (DEMO_CORPUS, FIXTURES / "malformed_corpus.md"):
        stream = CorpusStream(corpus)
        parsed = parse_corpus(corpus)
        assert list(stream) == parsed.products
        assert stream.problems == parsed.problems and stream.start_markers == parsed.start_markers
