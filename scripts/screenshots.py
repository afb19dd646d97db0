"""Screenshots of the chat for docs/screenshots/: welcome, an answer with cards, a follow-up, the settings and
the technical view, on a desktop and a phone viewport, from a real Chainlit server in Chromium.

    python scripts/screenshots.py --index-dir INDEX [--out docs/screenshots] [--port 8123]

INDEX: an index folder (e.g. the real catalog's); models in ./models are used as the chat would use them.
Also prints the seconds from the server's "catalog ready" line to the first answer (cold start).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

from daraz_llama.chat.launch import chainlit_command, copy_app_root

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
QUESTION = "black slim fit jeans for men under 1000 taka"
FOLLOW_UP = "is there a cheaper one?"


def _wait(url: str, log: Path, seconds: float = 600) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if "catalog ready" in log.read_text(errors="replace"):
            urllib.request.urlopen(url, timeout=5)
            return
        time.sleep(0.5)
    raise SystemExit(f"the server was not ready within {seconds} s:\n{log.read_text()[-2000:]}")


def _ask(page, text: str, answers_before: int) -> None:
    page.click("#chat-input")
    page.keyboard.type(text)
    page.click("#chat-submit")
    page.locator("[data-step-type=assistant_message]").nth(answers_before).wait_for(timeout=120_000)
    page.wait_for_selector("#chat-submit", timeout=120_000)
    page.wait_for_timeout(800)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index-dir", required=True)
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    parser.add_argument("--port", type=int, default=8123)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = out.parent / "screenshots-server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DARAZ_LLAMA_")}
    root = copy_app_root(Path(tempfile.mkdtemp(prefix="daraz-llama-screens-")))
    env.update({"DARAZ_LLAMA_INDEX_DIR": str(Path(args.index_dir).resolve()), "CHAINLIT_APP_ROOT": str(root)})
    started = time.perf_counter()
    with log.open("w") as handle:
        server = subprocess.Popen(
            chainlit_command("127.0.0.1", args.port), cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{args.port}"
    try:
        _wait(url, log)
        print(f"server ready after {time.perf_counter() - started:.1f} s")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            for name, viewport in VIEWPORTS.items():
                page = browser.new_context(viewport=viewport, is_mobile=name == "phone").new_page()
                page.goto(url)
                page.wait_for_selector("#chat-settings-open-modal", timeout=120_000)
                page.wait_for_timeout(800)
                page.screenshot(path=str(out / f"{name}-welcome.png"))
                asked = time.perf_counter()
                _ask(page, QUESTION, 0)
                print(f"{name}: first answer {time.perf_counter() - asked:.2f} s after asking")
                page.screenshot(path=str(out / f"{name}-answer.png"), full_page=True)
                _ask(page, FOLLOW_UP, 1)
                page.screenshot(path=str(out / f"{name}-follow-up.png"), full_page=True)
                page.get_by_text("How these results were found").last.click()
                page.wait_for_timeout(500)
                page.screenshot(path=str(out / f"{name}-technical-view.png"), full_page=True)
                page.click("#chat-settings-open-modal")
                page.wait_for_timeout(800)
                page.screenshot(path=str(out / f"{name}-settings.png"))
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
