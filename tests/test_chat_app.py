"""The Chainlit app in a real browser: a real server on a free port, Debian's Chromium driven by Playwright."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

from daraz_llama.chat.auth import hash_password
from daraz_llama.chat.launch import chainlit_command, copy_app_root
from tests.conftest import CHROMIUM, DEMO_CORPUS, ROOT, free_port

SCREENSHOTS = ROOT / "test-output"
ANSWER_TIMEOUT_MS = 90_000

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian chromium is not installed (bash scripts/setup-browser.sh)"
)


def _wait_for_http(url: str, server: subprocess.Popen, log: Path, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the chat server exited ({server.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"the chat server did not answer within {seconds} s:\n{log.read_text()[-3000:]}")


def _stop(server: subprocess.Popen) -> None:
    """SIGTERM to the server's process group, SIGKILL if it lingers; then nothing of the group may be left."""
    group = os.getpgid(server.pid)
    os.killpg(group, signal.SIGTERM)
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(group, signal.SIGKILL)
        server.wait(timeout=10)
    for _ in range(20):
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return
        time.sleep(0.25)
    raise AssertionError(f"processes of the chat server's group {group} are still running")


@contextlib.contextmanager
def running(command: list[str], port: int, cwd: Path, env: dict[str, str], log: Path) -> Iterator[str]:
    """A chat server started with ``command`` (its own process group), its URL once it answers; stopped after,
    with nothing of it left running and no traceback in its ``log``."""
    with log.open("w") as out:
        server = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait_for_http(f"http://127.0.0.1:{port}/", server, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(server)
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]


@contextlib.contextmanager
def _serve(app_root: Path, index_dir: Path, **env_extra: str) -> Iterator[str]:
    """The real app (the package's Chainlit app and its app root files) on the demo corpus."""
    copy_app_root(app_root)
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("CHAINLIT_", "DARAZ_LLAMA_"))}
    env.update(
        {
            "CHAINLIT_APP_ROOT": str(app_root),
            "DARAZ_LLAMA_CORPUS": str(DEMO_CORPUS),
            "DARAZ_LLAMA_INDEX_DIR": str(index_dir),
            "PYTHONPATH": str(ROOT),
            **env_extra,
        }
    )
    with running(chainlit_command("127.0.0.1", port), port, app_root, env, app_root / "server.log") as url:
        yield url


@pytest.fixture(scope="module")
def chat_server(tmp_path_factory: pytest.TempPathFactory, demo_index_dir: Path) -> Iterator[str]:
    # an OpenAI-compatible endpoint that is down: the error test points the generator at it
    with _serve(
        tmp_path_factory.mktemp("chat-app"),
        demo_index_dir,
        OPENAI_BASE_URL=f"http://127.0.0.1:{free_port()}/v1",
        OPENAI_API_KEY="test-key",
    ) as url:
        yield url


def _open_chat(browser, url: str):
    page = browser.new_context(viewport={"width": 1280, "height": 1100}).new_page()
    page.goto(url)
    page.wait_for_selector("#chat-settings-open-modal", timeout=ANSWER_TIMEOUT_MS)  # session started, settings sent
    return page


def _send(page, text: str) -> int:
    """Send ``text``; returns how many assistant answers there were before it."""
    before = page.locator("[data-step-type=assistant_message]").count()
    page.click("#chat-input")
    page.keyboard.type(text)
    page.click("#chat-submit")
    return before


def _answer(page, before: int) -> str:
    """The text of the answer after ``before`` earlier ones, once it has finished streaming."""
    answers = page.locator("[data-step-type=assistant_message]")
    answers.nth(before).wait_for(timeout=ANSWER_TIMEOUT_MS)
    page.wait_for_selector("#chat-submit", timeout=ANSWER_TIMEOUT_MS)  # the stop button is gone: the run ended
    return answers.nth(before).inner_text()


def _ask(page, text: str) -> tuple[str, int]:
    """The answer to ``text`` and its position among the assistant's messages."""
    index = _send(page, text)
    return _answer(page, index), index


def _cards(page, answer_index: int) -> list[dict[str, str]]:
    answer = page.locator("[data-step-type=assistant_message]").nth(answer_index)
    answer.locator("[data-testid=product-card]").first.wait_for(timeout=ANSWER_TIMEOUT_MS)
    return [
        {"text": card.inner_text(), "price": card.locator("[data-testid=product-price]").inner_text()}
        for card in answer.locator("[data-testid=product-card]").all()
    ]


def _taka(text: str) -> float:
    return float(re.search(r"৳\s*([\d,]+)", text).group(1).replace(",", ""))


def _change_settings(page, selections: dict[str, str]) -> str:
    page.click("#chat-settings-open-modal")
    for widget, value in selections.items():
        page.click(f"#{widget}")
        page.get_by_role("option", name=value, exact=True).click()
    page.click("#confirm")
    note = page.locator("text=From your next message").last
    note.wait_for(timeout=ANSWER_TIMEOUT_MS)
    return note.inner_text()


def test_answer_cards_settings_and_follow_up(browser, chat_server: str) -> None:
    page = _open_chat(browser, chat_server)
    stream_events: list[str] = []
    page.on(
        "websocket",
        lambda ws: ws.on(
            "framereceived", lambda frame: stream_events.append(str(frame)) if "stream_token" in str(frame) else None
        ),
    )
    page.reload()
    page.wait_for_selector("#chat-settings-open-modal", timeout=ANSWER_TIMEOUT_MS)
    assert page.locator("#starters button").count() >= 3  # real example questions for the demo catalog
    assert "in your own words" in page.locator("#shop-welcome").inner_text()  # the shop's welcome line

    answer, index = _ask(page, "fantech wired gamepad for pc")
    assert "[1]" in answer and "Fantech WGP13" in answer
    assert "check the listing before you buy" in page.inner_text("body")  # the footer tells the truth
    assert len(stream_events) > 5, "the answer was not streamed token by token"
    cards = _cards(page, index)
    assert cards[0]["text"].startswith("[1]") and "Fantech WGP13" in cards[0]["text"]  # citation order
    assert _taka(cards[0]["price"]) == 1350
    page.get_by_text("How these results were found").first.click()  # collapsed until asked for
    page.get_by_text("Searched for").first.wait_for()  # the search, mode, filters, time and the ranking
    assert page.locator("ol li").first.inner_text().startswith("Fantech WGP13")  # the ranking, best first

    answer, index = _ask(page, "slim fit jeans for men")
    assert "Slim Fit Stretch Denim Jeans" in answer
    best_price = _taka(_cards(page, index)[0]["price"])
    follow_up, index = _ask(page, "is there a cheaper one?")  # condensed with the last turn: same search, cheaper
    assert "[1]" in follow_up and "jeans" in follow_up.lower()
    cheaper = _cards(page, index)
    assert all(_taka(card["price"]) < best_price for card in cheaper), (best_price, cheaper)

    note = _change_settings(page, {"category": "Smart Watches (10)"})
    assert "From your next message: Smart Watches · answers: catalog facts" in note
    watched, index = _ask(page, "something for my kid")
    assert "[1]" in watched and watched.startswith("Showing: Smart Watches")  # the active filter, above the answer
    assert all("Smart Watches" in card["text"] for card in _cards(page, index))
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "chat_app.png"), full_page=True)


def test_generator_errors_reach_the_user_and_the_session_keeps_working(browser, chat_server: str) -> None:
    page = _open_chat(browser, chat_server)
    _change_settings(page, {"generator": "Online AI service"})
    _send(page, "fantech wired gamepad for pc")
    page.get_by_text("is not answering").wait_for(timeout=ANSWER_TIMEOUT_MS)
    page.wait_for_selector("#chat-submit", timeout=ANSWER_TIMEOUT_MS)
    assert "Traceback" not in page.inner_text("body")
    _change_settings(page, {"generator": "Catalog facts (instant, offline)"})
    assert "Fantech WGP13" in _ask(page, "fantech wired gamepad for pc")[0]


def test_five_sessions_at_once_get_their_own_answers(browser, chat_server: str) -> None:
    questions = {
        "fantech wired gamepad for pc": "Fantech WGP13",
        "kids smart watch with sim card": "Kids Smart Watch with SIM Card",
        "black slim jeans under 500 taka": "Black Slim Jeans Budget Edition",
        "red jamdani saree for a wedding": "Jamdani Saree Handloom Cotton Red and Gold",
        "noise cancelling headphones": "Sony WH-1000XM5",
    }
    pages = {question: _open_chat(browser, chat_server) for question in questions}
    for question, page in pages.items():  # all five in flight together
        _send(page, question)
    for question, page in pages.items():
        answer = _answer(page, 0)
        assert questions[question] in answer, (question, answer)
        others = [title for q, title in questions.items() if q != question]
        assert not any(title in answer for title in others), (question, answer)
        assert page.locator("[data-step-type=user_message]").all_inner_texts() == [question]


def test_password_login_when_configured(
    browser, tmp_path_factory: pytest.TempPathFactory, demo_index_dir: Path
) -> None:
    with _serve(
        tmp_path_factory.mktemp("chat-login"),
        demo_index_dir,
        CHAINLIT_AUTH_SECRET="s" * 40,
        DARAZ_LLAMA_USERS=f"alice:{hash_password('wonder')}",
    ) as url:
        page = browser.new_context().new_page()
        page.goto(url)
        page.wait_for_selector("#password", timeout=ANSWER_TIMEOUT_MS)  # no chat before signing in
        page.fill("#email", "alice")
        page.fill("#password", "wrong")
        page.click("button[type=submit]")
        page.get_by_text("Unable to sign in").wait_for(timeout=ANSWER_TIMEOUT_MS)
        page.fill("#password", "wonder")
        page.click("button[type=submit]")
        page.wait_for_selector("#chat-settings-open-modal", timeout=ANSWER_TIMEOUT_MS)
        assert "Fantech WGP13" in _ask(page, "fantech wired gamepad for pc")[0]


def test_a_huge_message_does_not_delay_another_shopper(browser, chat_server: str) -> None:
    calm, noisy = _open_chat(browser, chat_server), _open_chat(browser, chat_server)
    started = time.perf_counter()
    assert "Fantech WGP13" in _ask(calm, "fantech wired gamepad for pc")[0]
    normal = time.perf_counter() - started
    noisy.locator("#chat-input").fill("jeans under" + " " * 40_000 + "x")
    noisy.click("#chat-submit")
    started = time.perf_counter()
    answer, _ = _ask(calm, "kids smart watch with sim card")
    assert "Kids Smart Watch with SIM Card" in answer
    assert time.perf_counter() - started < normal + 2.0
    assert _answer(noisy, 0)  # the huge message is answered too (cut to 1,000 characters)
    assert urllib.request.urlopen(f"{chat_server}/health", timeout=2).status == 200


def test_other_origins_get_no_cors_access(chat_server: str) -> None:
    request = urllib.request.Request(f"{chat_server}/user", headers={"Origin": "http://127.0.0.1:9"})
    try:
        headers = urllib.request.urlopen(request, timeout=10).headers
    except urllib.error.HTTPError as err:  # 401 without a session: the headers still tell
        headers = err.headers
    assert headers.get("access-control-allow-origin") is None


def test_first_question_is_fast_once_the_server_is_ready(
    browser, tmp_path_factory: pytest.TempPathFactory, demo_index_dir: Path
) -> None:
    app_root = tmp_path_factory.mktemp("chat-cold")
    with _serve(app_root, demo_index_dir) as url:
        log = app_root / "server.log"
        deadline = time.monotonic() + 120
        while "catalog ready" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "catalog ready" in log.read_text()  # models are loaded at start-up, not on the first message
        page = _open_chat(browser, url)
        started = time.perf_counter()
        assert "Fantech WGP13" in _ask(page, "fantech wired gamepad for pc")[0]
        assert time.perf_counter() - started < 3.0


def test_on_a_phone_the_starters_fit_and_nothing_scrolls_sideways(browser, chat_server: str) -> None:
    page = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True).new_page()
    page.goto(chat_server)
    page.wait_for_selector("#starters button", timeout=ANSWER_TIMEOUT_MS)
    for box in (button.bounding_box() for button in page.locator("#starters button").all()):
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, box  # no starter clipped at either edge
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.wait_for_selector("#chat-settings-open-modal", timeout=ANSWER_TIMEOUT_MS)
    assert "Fantech WGP13" in _ask(page, "fantech wired gamepad for pc")[0]
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_a_message_typed_as_the_page_opens_is_not_lost(browser, chat_server: str) -> None:
    page = browser.new_context().new_page()
    page.goto(chat_server)
    page.wait_for_selector("#chat-input", timeout=ANSWER_TIMEOUT_MS)  # as soon as the box is there
    page.locator("#chat-input").fill("fantech wired gamepad for pc")
    page.keyboard.press("Enter")
    assert "Fantech WGP13" in _answer(page, 0)
