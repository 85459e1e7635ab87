"""The page at ``/`` in a real headless Chromium (Debian's ``chromium`` package, driven by
Playwright): type text, press Speak, and the audio arrives and plays through Web Audio.
Skipped where Chromium or Playwright is missing; nothing is downloaded."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
sync_api = pytest.importorskip("playwright.sync_api")

from autovoice.server import ServerSettings, serving  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="needs Chromium (apt-get install chromium)"
)

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]


@pytest.fixture(scope="module")
def browser_page() -> Iterator[Any]:
    with tempfile.TemporaryDirectory() as profile, sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=FLAGS
        )
        try:
            yield context.new_page()
        finally:
            context.close()


def served(page: Any, base: str) -> None:
    page.goto(f"{base}/")
    page.wait_for_function("document.getElementById('status').dataset.state === 'ready'")


def test_type_press_speak_and_hear_it(browser_page):
    page = browser_page
    with serving(ServerSettings(port=0, threads=1)) as base:
        served(page, base)
        assert page.locator("#voice").input_value() == "default"
        assert page.locator("#speaker option").all_inner_texts() == ["hibari"]
        page.fill("#text", "Good morning. The page speaks as the audio arrives.")
        page.locator("#speed").fill("1.5")
        page.locator("#pitch").fill("2")
        assert page.evaluate("JSON.stringify(request(voices[0]))") == (
            '{"model":"default","voice":"hibari","input":"Good morning. The page speaks as the '
            'audio arrives.","response_format":"pcm","speed":1.5,"pitch_shift":2}'
        )
        page.click("#speak")
        page.wait_for_function(
            "document.getElementById('status').dataset.state === 'played'", timeout=60_000
        )
        status = page.locator("#status")
        samples = int(status.get_attribute("data-samples"))
        assert samples > 22050  # over a second of speech arrived
        assert int(status.get_attribute("data-first-audio-ms")) >= 0
        assert "s of speech played" in status.inner_text()
        # the replay element holds what arrived: a WAV of that many samples
        duration = page.evaluate(
            "() => new Promise((done) => { const a = document.getElementById('audio');"
            " if (a.readyState >= 1) done(a.duration);"
            " else a.onloadedmetadata = () => done(a.duration); })"
        )
        assert duration == pytest.approx(samples / 22050, abs=0.01)


def test_the_page_shows_the_servers_error(browser_page):
    page = browser_page
    with serving(ServerSettings(port=0, threads=1, max_chars=20)) as base:
        served(page, base)
        page.evaluate("document.getElementById('text').removeAttribute('maxlength')")
        page.fill("#text", "This text is longer than twenty characters.")
        page.click("#speak")
        page.wait_for_function("document.getElementById('status').dataset.state === 'error'")
        assert "input: 43 characters" in page.locator("#status").inner_text()


def test_the_page_takes_an_api_key(browser_page):
    page = browser_page
    with serving(ServerSettings(port=0, threads=1, api_key="k3y")) as base:
        page.goto(f"{base}/")
        page.wait_for_function("document.getElementById('status').dataset.state === 'error'")
        assert "no API key" in page.locator("#status").inner_text()
        page.click("summary")
        page.fill("#key", "k3y")
        page.dispatch_event("#key", "change")
        page.wait_for_function("document.getElementById('status').dataset.state === 'ready'")
        page.click("#speak")
        page.wait_for_function(
            "document.getElementById('status').dataset.state === 'played'", timeout=60_000
        )
