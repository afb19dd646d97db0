"""The chat app's parts without a browser: settings, login, cards, errors and the shared catalog."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from daraz_llama.answers.context import ContextProduct
from daraz_llama.chat.auth import UsersError, check_password, load_users, login_enabled
from daraz_llama.chat.cards import card_props, cited, ranking_table
from daraz_llama.chat.catalog import Catalog, CatalogError, CatalogSource
from daraz_llama.chat.errors import explain_generator_error
from daraz_llama.chat.options import ChatOptions, OptionsError, options_from_settings
from daraz_llama.filters import ProductFilters
from tests.conftest import DEMO_CORPUS


def test_settings_become_options_and_zero_means_no_bound() -> None:
    options = options_from_settings({"mode": "bm25", "products": 3, "category": "smart watches", "brand": "xiaomi",
                                     "min_price": 0, "max_price": 2000, "min_rating": 0, "generator": "none"},
                                    known_brands={"xiaomi": "Xiaomi"})
    assert options == ChatOptions(mode="bm25", products=3, generator="none",
                                  filters=ProductFilters(category="smart watches", brand="Xiaomi", max_price=2000))
    assert options_from_settings({"category": "Any", "brand": ""}).filters == ProductFilters()


@pytest.mark.parametrize(("settings", "message"), [
    ({"min_price": 900, "max_price": 100}, "min price 900.0 is above max price 100.0"),
    ({"max_price": "lots"}, "max price: 'lots' is not a number"),
    ({"brand": "Nokla"}, "brand: no product of brand 'Nokla'"),
    ({"generator": "gpt"}, "generator: 'gpt' is not one of"),
])
def test_bad_settings_are_named(settings: dict, message: str) -> None:
    with pytest.raises(OptionsError, match=message):
        options_from_settings(settings, known_brands={"nokia": "Nokia"})


def test_login_users_from_file_and_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    users = tmp_path / "users.txt"
    users.write_text(f"# staff\nalice:wonder\nbob:sha256:{hashlib.sha256(b'builder').hexdigest()}\n")
    monkeypatch.setenv("DARAZ_LLAMA_USERS_FILE", str(users))
    monkeypatch.setenv("DARAZ_LLAMA_USERS", "carol:c4rol")
    monkeypatch.delenv("CHAINLIT_AUTH_SECRET", raising=False)
    assert not login_enabled()  # users alone do not turn login on: Chainlit needs its secret
    monkeypatch.setenv("CHAINLIT_AUTH_SECRET", "s" * 32)
    assert login_enabled()
    table = load_users()
    assert check_password(table, "alice", "wonder") and check_password(table, "bob", "builder")
    assert check_password(table, "carol", "c4rol")
    assert not check_password(table, "alice", "wrong") and not check_password(table, "mallory", "wonder")
    users.write_text("alice:wonder\nno-password-here\n")
    with pytest.raises(UsersError, match=r"users.txt:2: expected 'name:password'"):
        load_users()


def test_cards_follow_citation_order() -> None:
    products = [ContextProduct(number=1, product_id="p1", title="Jeans", price=399.0, original_price=550.0,
                               discount_pct=27, category="mens jeans", url="https://x/p1"),
                ContextProduct(number=2, product_id="p2", title="Watch", rating=4.5, rating_count=2, score=0.5)]
    assert [p.product_id for p in cited("Try [2], or [1] [2]. Not [7].", products)] == ["p2", "p1"]
    card = card_props(products[0])
    assert card["price"] == "৳ 399 (was ৳ 550, -27%)" and card["rating"] == "no ratings yet"
    assert card_props(products[1])["price"] == "price not listed"
    assert "| 2 | Watch | - | 4.5/5 (2 ratings) | 0.5000 | - | p2 |" in ranking_table(products)


def test_generator_errors_are_one_clear_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    class APIConnectionError(Exception):
        pass

    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    text = explain_generator_error(APIConnectionError("Connection error."), ChatOptions(generator="openai"))
    assert text.startswith("The OpenAI-compatible endpoint http://127.0.0.1:9/v1 is not answering")
    assert "RuntimeError: out of memory" in explain_generator_error(RuntimeError("out of memory\nmore"),
                                                                   ChatOptions(generator="local"))


def test_catalog_serves_facets_starters_and_shared_retrievers(demo_index_dir: Path) -> None:
    catalog = Catalog.load(CatalogSource(DEMO_CORPUS, demo_index_dir), show_progress=False)
    assert catalog.products == 60 and catalog.categories[0] == "mens jeans" and catalog.brands["fantech"] == "Fantech"
    assert catalog.starters()[0] == "black slim jeans under 500 taka"
    options = ChatOptions(mode="hybrid", filters=ProductFilters(category="smart watches"))
    assert catalog.retriever(options) is catalog.retriever(options)
    engine = catalog.engine(options)
    answer = "".join(engine.stream_chat("something for my kid").response_gen)
    assert "Kids Smart Watch" in answer and all(p.category == "smart watches" for p in engine.last_turn.products)
    no_corpus = Catalog.load(CatalogSource(None, demo_index_dir), show_progress=False)
    generic = no_corpus.starters()  # not the demo corpus file: questions built from well-rated products
    assert len(generic) == 4 and all(question.endswith("taka") for question in generic)


def test_catalog_without_index_or_corpus_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="daraz-llama index CORPUS --index-dir"):
        Catalog.load(CatalogSource(None, tmp_path / "nothing"))
    with pytest.raises(CatalogError, match="corpus file not found"):
        Catalog.load(CatalogSource(tmp_path / "missing.md", tmp_path / "index"))


def test_chat_command_names_a_missing_corpus(capsys: pytest.CaptureFixture[str]) -> None:
    from daraz_llama.cli import main

    assert main(["chat", "--corpus", "no-such-catalog.md"]) == 2
    assert "corpus file not found: no-such-catalog.md" in capsys.readouterr().err


def test_generators_that_are_not_configured_say_what_is_missing(demo_index_dir: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from daraz_llama.answers.generators import GeneratorError

    catalog = Catalog.load(CatalogSource(DEMO_CORPUS, demo_index_dir), show_progress=False)
    with pytest.raises(GeneratorError, match="no fine-tuned generator in models/generator-ft"):
        catalog.llm(ChatOptions(generator="local", local_model="fine-tuned"))  # none trained in this folder
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(GeneratorError, match="needs OPENAI_API_KEY"):
        catalog.llm(ChatOptions(generator="openai"))
