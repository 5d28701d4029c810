"""The README's screenshots of the console: a PostgreSQL store seeded as bench/console
seeds it (smaller), the console embedded on the default model, Debian's Chromium.

Run: .venv/bin/python -m scripts.console_screenshots [--out docs/console]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from bench.console import seed
from core.store import open_store, registry
from tests import services
from tests.integration.console_harness import CHROMIUM, CHROMIUM_ARGS, console_server
from tests.integration.workers import clean_env


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/console"))
    args = parser.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    admin = services.connect_pg_admin()
    url = services.create_database(admin)
    home = Path(tempfile.mkdtemp(prefix="replyloop-screens-"))
    try:
        seed(url, turns=30_000)
        store = open_store(url)
        for version in ("bench-v1", "bench-v2", "bench-v3"):
            registry.register(store, version=version, kind="sft", path=home / version)
        registry.promote(store, "bench-v2")
        store.engine.dispose()
        env = clean_env(database_url=url, data_dir=str(home / "data"))
        with console_server(env, home) as console:
            console.user("ann", "admin", "screens-pass-1")
            shoot(console.url, out)
    finally:
        services.drop_database(admin, url)


def shoot(url: str, out: Path) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.goto(url + "/login")
        page.screenshot(path=str(out / "login.png"))
        page.fill("input[name=name]", "ann")
        page.fill("input[name=password]", "screens-pass-1")
        page.click("button[type=submit]")
        page.wait_for_selector("#approval-chart .scatterlayer .trace")
        page.screenshot(path=str(out / "overview.png"), full_page=True)
        page.goto(url + "/replies?order=worst&platform=slack")
        page.screenshot(path=str(out / "replies.png"))
        page.locator("#replies tbody tr a").first.click()
        page.screenshot(path=str(out / "reply.png"))
        page.goto(url + "/models")
        page.screenshot(path=str(out / "models.png"))
        page.goto(url + "/chat")
        page.fill("#text", "What is a good name for a team chat bot?")
        page.keyboard.press("Enter")
        page.wait_for_selector("#lines li.bot[data-turn] .votes", timeout=300_000)
        page.locator("#lines li.bot[data-turn] button[title='good reply']").click()
        page.wait_for_selector("#status:has-text('recorded')")
        page.screenshot(path=str(out / "chat.png"))
        browser.close()


if __name__ == "__main__":
    main()
