"""The chat app's parts without a browser: settings, login, cards, errors and the shared catalog."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from daraz_llama.answers.context import ContextProduct
from daraz_llama.chat.auth import LoginGuard, UsersError, hash_password, load_users, login_users
from daraz_llama.chat.cards import card_props, cited, ranking_list
from daraz_llama.chat.catalog import Catalog, CatalogError, CatalogSource, generator_note
from daraz_llama.chat.errors import explain_generator_error
from daraz_llama.chat.options import ChatOptions, OptionsError, options_from_settings
from daraz_llama.filters import ProductFilters
from tests.conftest import DEMO_CORPUS


def test_settings_become_options_and_zero_means_no_bound() -> None:
    options = options_from_settings(
        {
            "mode": "bm25",
            "products": 3,
            "category": "smart watches",
            "brand": "xiaomi",
            "min_price": 0,
            "max_price": 2000,
            "min_rating": 0,
            "generator": "none",
            "local_runtime": "transformers",
        },
        known_brands={"xiaomi": "Xiaomi"},
    )
    assert options == ChatOptions(
        mode="bm25",
        products=3,
        generator="none",
        local_runtime="transformers",
        filters=ProductFilters(category="smart watches", brand="Xiaomi", max_price=2000),
    )
    assert options_from_settings({"category": "Any", "brand": ""}).filters == ProductFilters()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"min_price": 900, "max_price": 100}, "min price 900.0 is above max price 100.0"),
        ({"max_price": "lots"}, "max price: 'lots' is not a number"),
        ({"brand": "Nokla"}, "brand: no product of brand 'Nokla'"),
        ({"generator": "gpt"}, "generator: 'gpt' is not one of"),
        ({"local_runtime": "vllm"}, "local runtime: 'vllm' is not one of"),
    ],
)
def test_bad_settings_are_named(settings: dict, message: str) -> None:
    with pytest.raises(OptionsError, match=message):
        options_from_settings(settings, known_brands={"nokia": "Nokia"})


def test_login_users_from_file_and_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    users = tmp_path / "users.txt"
    users.write_text(f"# staff\nalice:{hash_password('wonder')}\nbob:{hash_password('builder')}\n")
    monkeypatch.setenv("DARAZ_LLAMA_USERS_FILE", str(users))
    monkeypatch.setenv("DARAZ_LLAMA_USERS", f"carol:{hash_password('c4rol')}")
    monkeypatch.setenv("CHAINLIT_AUTH_SECRET", "s" * 32)
    guard = LoginGuard(login_users())
    assert guard.check("alice", "wonder") and guard.check("bob", "builder") and guard.check("carol", "c4rol")
    assert not guard.check("alice", "wrong") and not guard.check("mallory", "wonder")
    assert hash_password("wonder") != hash_password("wonder")  # salted
    users.write_text("alice:wonder\n")
    with pytest.raises(UsersError, match=r"users.txt:1: expected 'name:scrypt:<salt>:<hash>'.*hash-password"):
        load_users()
    users.write_text(f"alice:sha256:{hashlib.sha256(b'wonder').hexdigest()}\n")
    with pytest.raises(UsersError, match="plain and unsalted passwords are not accepted"):
        load_users()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CHAINLIT_AUTH_SECRET": "s" * 32}, "no users are"),
        ({"CHAINLIT_AUTH_SECRET": "s" * 32, "DARAZ_LLAMA_USER": "alice:x"}, "unknown variable DARAZ_LLAMA_USER"),
        ({"DARAZ_LLAMA_USERS": f"alice:{hash_password('wonder')}"}, "CHAINLIT_AUTH_SECRET is not"),
        ({"CHAINLIT_AUTH_SECRET": "s" * 32, "DARAZ_LLAMA_USERS_FILE": "/nonexistent/users.txt"}, "No such file"),
    ],
)
def test_a_half_made_login_configuration_is_refused(monkeypatch: pytest.MonkeyPatch, env: dict, message: str) -> None:
    for name in ("CHAINLIT_AUTH_SECRET", "DARAZ_LLAMA_USERS", "DARAZ_LLAMA_USERS_FILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(UsersError, match=message):
        login_users()


def test_no_login_configuration_means_an_open_chat(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CHAINLIT_AUTH_SECRET", "DARAZ_LLAMA_USERS", "DARAZ_LLAMA_USERS_FILE"):
        monkeypatch.delenv(name, raising=False)
    assert login_users() == {}


def test_wrong_passwords_lock_the_name_out_for_a_growing_time() -> None:
    now = [0.0]
    guard = LoginGuard({"alice": hash_password("wonder")}, clock=lambda: now[0])
    for _ in range(3):
        assert not guard.check("alice", "guess")
    assert not guard.check("alice", "wonder")  # locked for 2 s after the third failure, even with the password
    now[0] = 2.5
    assert guard.check("alice", "wonder")  # the lock has run out, and success clears the count
    assert not guard.check("alice", "x") and guard.check("alice", "wonder")


def test_hash_password_command(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import io

    from daraz_llama.cli import main

    monkeypatch.setattr("sys.stdin", io.StringIO("wonder\n"))
    assert main(["hash-password"]) == 0
    stored = capsys.readouterr().out.strip()
    assert stored.startswith("scrypt:") and LoginGuard({"a": stored}).check("a", "wonder")


def test_cards_follow_citation_order() -> None:
    products = [
        ContextProduct(
            number=1,
            product_id="p1",
            title="Jeans",
            price=399.0,
            original_price=550.0,
            discount_pct=27,
            category="mens jeans",
            url="https://x/p1",
        ),
        ContextProduct(number=2, product_id="p2", title="Watch", rating=4.5, rating_count=2, score=0.5),
    ]
    assert [p.product_id for p in cited("Try [2], or [1] [2]. Not [7].", products)] == ["p2", "p1"]
    card = card_props(products[0])
    assert card["price"] == "৳ 399 (was ৳ 550, -27%)" and card["rating"] == "no ratings yet"
    assert card_props(products[1])["price"] == "price not listed"
    assert "2. Watch — price not listed · 4.5/5 (2 ratings) · score 0.5000 · id p2" in ranking_list(products)


def test_generator_errors_are_one_clear_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    import httpx
    import openai

    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    request = httpx.Request("POST", "http://127.0.0.1:9/v1/chat/completions")
    for err in (openai.APIConnectionError(request=request), openai.APITimeoutError(request=request)):
        text = explain_generator_error(err, ChatOptions(generator="openai"))
        assert text.startswith("The OpenAI-compatible endpoint http://127.0.0.1:9/v1 is not answering")
    refused = openai.AuthenticationError("bad key", response=httpx.Response(401, request=request), body=None)
    assert "refused the API key" in explain_generator_error(refused, ChatOptions(generator="openai"))
    assert "RuntimeError: out of memory" in explain_generator_error(
        RuntimeError("out of memory\nmore"), ChatOptions(generator="local")
    )


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


def test_generators_that_are_not_configured_say_what_is_missing(
    demo_index_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from daraz_llama.answers.generators import GeneratorError

    catalog = Catalog.load(CatalogSource(DEMO_CORPUS, demo_index_dir), show_progress=False)
    note = generator_note(ChatOptions(generator="local", local_model="fine-tuned"))  # none trained in this folder
    assert note is not None and "base Gemma 3 270M" in note
    assert generator_note(ChatOptions(generator="local", local_model="base")) is None
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(GeneratorError, match="needs OPENAI_API_KEY"):
        catalog.llm(ChatOptions(generator="openai"))
