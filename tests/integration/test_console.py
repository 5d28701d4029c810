"""The web console in a real browser: `replyloop serve web` (embedded: it makes the web
chat's replies itself, on a tiny model) on a PostgreSQL store seeded with known votes,
driven by Debian's Chromium through Playwright.

A person signs in, reads the overview's charts (drawn, with the seeded figures), the worst
replies and one reply whole, chats and watches the reply grow, votes, promotes and rolls
back, exports; a viewer is refused what only admins may do, and nobody gets in without
signing in.
"""

from __future__ import annotations

import json
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from sqlalchemy import Engine, select

from core.store import Store, canaries, open_store, registry
from core.store.schema import votes
from core.types import Vote
from tests import services
from tests.integration.console_harness import (
    CHROMIUM_ARGS,
    Console,
    chromium_path,
    console_server,
)
from tests.integration.workers import clean_env, replyloop
from training.report import comparison_plot

ADMIN, VIEWER = ("ann", "admin-pass-1"), ("vic", "viewer-pass-1")
SEEDED = {  # version -> platform -> votes on its replies (+1 👍, -1 👎), one reply each
    "sft-good": {"slack": [1, 1, 1], "telegram": [-1]},
    "sft-bad": {"slack": [-1, -1], "telegram": [-1, 1]},
}


def seed(store: Store) -> None:
    """Each version's replies in chats of their own, each reply voted by one rater."""
    for version, by_platform in SEEDED.items():
        for platform, cast in by_platform.items():
            for i, value in enumerate(cast):
                chat = f"{version}-{platform}-{i}"
                conversation, message = store.add_chat_message(
                    platform, chat, "someone", f"question {chat}", None, True
                )
                turn = store.add_turn(
                    conversation,
                    message,
                    f"seed:{chat}",
                    [{"role": "user", "content": f"question {chat}"}],
                    f"answer of {version} #{i}",
                    version,
                    {},
                    {},
                )
                store.vote(turn.id, f"rater-{chat}", Vote(value), platform)


@pytest.fixture(scope="module")
def site(
    pg_admin: Engine, endless_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Console, Store]]:
    home = tmp_path_factory.mktemp("console")
    url = services.create_database(pg_admin)
    store = open_store(url)
    seed(store)
    env = clean_env(
        database_url=url,
        model=str(endless_model),
        data_dir=str(home / "data"),
        cache_dir=str(home / "cache"),
        # Greedy and long: the reply grows for a few seconds, as a real model's does.
        temperature="0",
        max_new_tokens="1200",
    )
    with console_server(env, home) as console:
        console.user(ADMIN[0], "admin", ADMIN[1])
        console.user(VIEWER[0], "viewer", VIEWER[1])
        yield console, store
    store.engine.dispose()
    services.drop_database(pg_admin, url)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        launched.close()


def signed_in(browser: Browser, console: Console, who: tuple[str, str]) -> Page:
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.goto(console.url + "/")
    assert page.url.endswith("/login")
    page.fill("input[name=name]", who[0])
    page.fill("input[name=password]", who[1])
    page.click("button[type=submit]")
    page.wait_for_url(console.url + "/")
    return page


def models_page(site: tuple[Console, Store], browser: Browser, model: Path) -> Page:
    """The models page, signed in as the admin, with a model of its own registered."""
    console, store = site
    registry.ensure(store, version="sft-console", kind="sft", path=model)
    page = signed_in(browser, console, ADMIN)
    page.click("text=Models")
    return page


def test_nothing_but_healthz_without_signing_in(site: tuple[Console, Store]) -> None:
    console, _ = site
    with urllib.request.urlopen(console.url + "/healthz") as answer:
        assert json.load(answer) == {"status": "ok"}
    for path in ("/", "/replies", "/replies/1", "/models", "/export", "/chat"):
        request = urllib.request.Request(console.url + path, headers={"Accept": "text/html"})
        with urllib.request.urlopen(request) as answer:  # follows the redirect
            assert answer.url == console.url + "/login", path
    for path, body in (("/chat/messages", {"text": "hi"}), ("/models/rollback", {})):
        request = urllib.request.Request(
            console.url + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request)
        assert refused.value.code == 401, path
    for path in ("/export/download?fmt=raw", "/chat/stream/1"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(console.url + path)
        assert refused.value.code == 401, path


def test_the_overview_draws_the_seeded_figures(
    site: tuple[Console, Store], browser: Browser
) -> None:
    console, _ = site
    page = signed_in(browser, console, ADMIN)
    page.wait_for_selector("#approval-chart .scatterlayer .trace")
    drawn = page.evaluate(
        "Object.fromEntries(document.getElementById('approval-chart').data.map(t => [t.name, t.y]))"
    )
    assert drawn == {"sft-bad": [0.25], "sft-good": [0.75]}
    assert page.locator("#approval-chart .scatterlayer .trace").count() == 2
    platforms = page.evaluate(
        "(() => { const d = document.getElementById('platform-chart').data[0];"
        " return Object.fromEntries(d.x.map((x, i) => [x, [d.y[i], d.customdata[i]]])); })()"
    )
    assert platforms == {"slack": [0.6, 5], "telegram": [pytest.approx(1 / 3, abs=1e-4), 3]}
    assert page.locator("#platform-chart .barlayer .point path").count() == 2
    assert page.locator("#activity-chart .barlayer .point path").count() >= 2
    assert page.inner_text("#votes-total") == "8"
    assert page.inner_text("#approval-total") == "50.0 %"


def test_the_worst_replies_come_first_and_open_whole(
    site: tuple[Console, Store], browser: Browser
) -> None:
    console, _ = site
    page = signed_in(browser, console, ADMIN)
    page.click("text=Replies")
    rows = page.locator("#replies tbody tr")
    assert rows.count() == 4  # the 4 replies with a 👎
    assert "sft-" in rows.first.inner_text()
    page.goto(console.url + "/replies?order=worst&platform=telegram&vote=down")
    assert page.locator("#replies tbody tr").count() == 2
    page.locator("#replies tbody tr a").first.click()
    assert "question" in page.inner_text("#context")
    assert page.inner_text("#completion").startswith("answer of")
    assert "👎" in page.inner_text("#votes")


def test_chat_streams_the_reply_and_takes_the_vote(
    site: tuple[Console, Store], browser: Browser
) -> None:
    console, store = site
    page = signed_in(browser, console, ADMIN)
    page.click("text=Chat")
    page.fill("#text", "Tell me a long story, please.")
    page.keyboard.press("Enter")
    growing = page.locator("#lines li.bot.streaming .text")
    seen: list[str] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if page.locator("#lines li.bot[data-turn] .votes").count():
            break
        if growing.count():
            text = growing.inner_text()
            if text and text != "…" and (not seen or text != seen[-1]):
                seen.append(text)
        page.wait_for_timeout(100)
    reply = page.locator("#lines li.bot[data-turn]")
    assert reply.count() == 1, (page.inner_html("#lines"), console.logs()[-3000:])
    final = reply.locator(".text").inner_text()
    assert len(seen) >= 2, f"the reply did not grow on the page: {seen}"
    assert all(final.startswith(part) for part in seen[-1:])
    assert all(len(a) < len(b) for a, b in zip(seen, seen[1:], strict=False))
    turn_id = int(reply.get_attribute("data-turn") or 0)
    assert store.turn(turn_id).completion == final
    reply.locator("button[title='good reply']").click()
    page.wait_for_selector("#status:has-text('👍 recorded')")
    with store.engine.connect() as conn:
        standing = conn.execute(
            select(votes.c.rater, votes.c.value).where(votes.c.turn_id == turn_id)
        ).all()
    assert standing == [("ann", 1)]
    # 🔄 asks again: a second reply to the same message, streamed the same way
    reply.locator("button[title='ask again']").click()
    # (polled from here: the page's Content-Security-Policy refuses evaluated strings)
    expect(page.locator("#lines li.bot[data-turn] .votes")).to_have_count(2, timeout=120_000)
    sibling = int(page.locator("#lines li.bot[data-turn]").nth(1).get_attribute("data-turn") or 0)
    assert sibling != turn_id
    assert store.turn(sibling).message_id == store.turn(turn_id).message_id
    # the page, loaded again, shows the conversation (the newest sibling) and its votes
    page.reload()
    assert page.locator("#lines li.bot[data-turn]").get_attribute("data-turn") == str(sibling)
    with store.engine.connect() as conn:
        standing = conn.execute(
            select(votes.c.rater, votes.c.value).where(votes.c.turn_id == turn_id)
        ).all()
    assert standing == [("ann", 1)]


def test_promote_and_roll_back_from_the_page(
    site: tuple[Console, Store], browser: Browser, endless_model: Path
) -> None:
    console, store = site
    page = models_page(site, browser, endless_model)
    page.select_option("#promote-form select", "sft-console")
    page.click("#promote-form button")
    assert page.inner_text("#said") == "promoted sft-console"
    assert page.inner_text("#promoted") == "sft-console"
    promoted = registry.promoted(store)
    assert promoted is not None and promoted.version == "sft-console"
    page.click("#rollback-form button")
    assert page.inner_text("#said") == "rolled back: now serving REPLYLOOP_MODEL"
    assert registry.promoted(store) is None
    page.click("#rollback-form button")  # nothing left: the refusal is said on the page
    assert "nothing is promoted" in page.inner_text("#error")


def test_a_models_eval_report_is_shown_with_its_plots(
    site: tuple[Console, Store], browser: Browser, endless_model: Path, tmp_path: Path
) -> None:
    """A model trained into a run folder shows `replyloop eval`'s report and its plots."""
    console, store = site
    run = tmp_path / "run"
    shutil.copytree(endless_model, run / "model")
    (run / "eval").mkdir()
    report = {"judge": "judge-rm", "prompts": 64, "win_rate": [0.61, 0.52, 0.7]}
    (run / "eval" / "report.json").write_text(json.dumps(report))
    comparison_plot([0.1, 0.5, 0.9], [0.0, 0.2, 0.4], [1.0, 2.0, 3.0], run / "eval")
    registry.register(store, version="ppo-with-eval", kind="ppo", path=run / "model")
    page = signed_in(browser, console, ADMIN)
    page.click("text=Models")
    page.click("#model-ppo-with-eval summary")
    shown = page.locator("#model-ppo-with-eval")
    assert "judge-rm; 64 held-out prompts" in shown.inner_text()
    plot = shown.locator("img.plot").first
    plot.wait_for()
    assert plot.evaluate("img => img.complete && img.naturalWidth > 0")
    outside = page.request.get(console.url + "/models/ppo-with-eval/eval/..%2Freport.json")
    assert outside.status == 404


def test_export_downloads_what_the_cli_writes(
    site: tuple[Console, Store], browser: Browser, tmp_path: Path
) -> None:
    console, _ = site
    page = signed_in(browser, console, ADMIN)
    page.click("text=Export")
    page.select_option("#fmt", "kto")
    with page.expect_download() as caught:
        page.click("#export-form button")
    downloaded = Path(caught.value.path()).read_text().splitlines()
    cli = tmp_path / "cli.kto.jsonl"
    done = replyloop(
        "feedback",
        "export",
        "--format",
        "kto",
        "--out",
        str(cli),
        env=console.env,
        cwd=console.home,
    )
    assert done.returncode == 0, done.stderr
    assert downloaded == cli.read_text().splitlines()
    assert len(downloaded) >= 9  # the seeded replies, each with one vote standing


def test_a_viewer_reads_but_is_refused_admin_actions(
    site: tuple[Console, Store], browser: Browser, endless_model: Path
) -> None:
    console, store = site
    registry.ensure(store, version="sft-console", kind="sft", path=endless_model)
    page = signed_in(browser, console, VIEWER)
    page.click("text=Models")
    assert page.locator("#promote-form").count() == 0
    assert page.locator("text=Export").count() == 0
    csrf = page.get_attribute("meta[name=csrf]", "content")
    refused = page.request.post(
        console.url + "/models/promote", form={"csrf": csrf or "", "version": "sft-console"}
    )
    assert refused.status == 403
    assert registry.promoted(store) is None
    assert page.request.get(console.url + "/export/download?fmt=raw").status == 403
    assert page.goto(console.url + "/export").status == 403  # type: ignore[union-attr]


def test_forms_need_their_csrf_token(site: tuple[Console, Store], browser: Browser) -> None:
    console, store = site
    page = signed_in(browser, console, ADMIN)
    answer = page.request.post(console.url + "/models/rollback", form={"csrf": "forged"})
    assert answer.status == 403
    answer = page.request.post(console.url + "/chat/messages", data={"text": "hi"})
    assert answer.status == 403


def test_start_and_stop_a_canary_from_the_page(
    site: tuple[Console, Store], browser: Browser, endless_model: Path
) -> None:
    console, store = site
    page = models_page(site, browser, endless_model)
    page.select_option("#canary select[name=version]", "sft-console")
    page.fill("#canary input[name=share]", "30")
    page.click("#canary button:has-text('Start a canary')")
    assert page.inner_text("#said") == "canary sft-console on 30 % of new conversations"
    running = canaries.running(store)
    assert running is not None and (running.version, running.share) == ("sft-console", 30)
    assert "collecting" in page.inner_text("#decision")
    assert page.locator("#arms tbody tr").count() == 2
    page.click("#canary button:has-text('Stop the canary')")
    assert page.inner_text("#said") == "stopped the canary of sft-console"
    assert canaries.running(store) is None
    assert "ended stopped" in page.inner_text("#canary")


def test_sign_ins_are_rate_limited(site: tuple[Console, Store]) -> None:
    console, _ = site
    console.user("ron", "viewer", "right-pass-1")

    def sign_in(password: str) -> int:
        request = urllib.request.Request(
            console.url + "/login",
            data=f"name=ron&password={password}".encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        try:
            with urllib.request.urlopen(request) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as refused:
            return refused.code

    assert [sign_in("wrong-pass") for _ in range(5)] == [401] * 5
    assert sign_in("right-pass-1") == 429  # refused without a look at the password
    console.user("rita", "viewer", "rita-pass-1")  # others from the same address still can
    signed = httpx.post(console.url + "/login", data={"name": "rita", "password": "rita-pass-1"})
    assert (signed.status_code, signed.headers["location"]) == (303, "/")
