"""Pure rules: vote tallies and labels, typed-text checks, URL masking, rater pseudonyms."""

from __future__ import annotations

import doctest
import stat
from pathlib import Path
from types import ModuleType

import pytest

import core.anonymize
import core.text
import core.urls
import core.votes
from core.anonymize import load_or_create_secret, rater_hash
from core.errors import EmptyMessage
from core.text import USAGE_HINT, CheckedText, check_text
from core.types import Vote
from core.urls import mask_url
from core.votes import label, tally


@pytest.mark.parametrize("module", [core.votes, core.text, core.urls, core.anonymize])
def test_docstring_examples_hold(module: ModuleType) -> None:
    result = doctest.testmod(module)
    assert (result.failed, result.attempted > 0) == (0, True)


# -- votes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], (0, 0)),
        ([0, 0], (0, 0)),
        ([1, -1, 1, 0], (2, 1)),
        ([Vote.DOWN, Vote.DOWN, Vote.RETRACTED], (0, 2)),
        ([Vote.UP], (1, 0)),
    ],
)
def test_tally_counts_up_and_down_and_ignores_retractions(
    values: list[int], expected: tuple[int, int]
) -> None:
    assert tally(values) == expected


def test_tally_reads_a_generator_once() -> None:
    assert tally(v for v in (1, 1, -1)) == (2, 1)


@pytest.mark.parametrize(
    ("up", "down", "expected"),
    [(2, 1, True), (1, 0, True), (0, 3, False), (1, 2, False), (1, 1, None), (0, 0, None)],
)
def test_label(up: int, down: int, expected: bool | None) -> None:
    assert label(up, down) is expected


# -- text ----------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", " ", "  \n\t  ", "\u3000"])
def test_empty_or_blank_text_is_refused_with_the_usage_hint(text: str) -> None:
    with pytest.raises(EmptyMessage) as raised:
        check_text(text, 100)
    assert str(raised.value) == USAGE_HINT
    assert "/help" in USAGE_HINT


def test_text_is_stripped_and_left_alone_under_the_limit() -> None:
    assert check_text("  hello bot \n", 100) == CheckedText("hello bot", None)


def test_text_of_exactly_the_limit_is_not_cut() -> None:
    assert check_text("  " + "x" * 16 + "  ", 16) == CheckedText("x" * 16, None)


def test_text_one_over_the_limit_is_cut_with_a_notice() -> None:
    assert check_text("y" * 17, 16) == CheckedText(
        "y" * 16, "Your message was 17 characters; only the first 16 were read."
    )


def test_notice_shows_both_numbers_with_thousands_separators() -> None:
    checked = check_text("z" * 4500, 4000)
    assert checked.text == "z" * 4000
    assert checked.notice == "Your message was 4,500 characters; only the first 4,000 were read."


# -- urls ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        (
            "postgresql+psycopg://bot:s3cret@db:5432/replyloop",
            "postgresql+psycopg://bot:***@db:5432/replyloop",
        ),
        ("redis://:hunter2@queue:6379/0", "redis://:***@queue:6379/0"),
        ("redis://u:p@ss@queue/1?ssl_cert_reqs=none", "redis://u:***@queue/1?ssl_cert_reqs=none"),
        ("postgresql://bot:pw@db/replyloop", "postgresql://bot:***@db/replyloop"),
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("postgresql://bot@db/replyloop", "postgresql://bot@db/replyloop"),
        ("sqlite:////var/lib/replyloop/db.sqlite3", "sqlite:////var/lib/replyloop/db.sqlite3"),
    ],
)
def test_mask_url_hides_only_the_password(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_mask_url_keeps_an_ipv6_host_a_valid_url() -> None:
    assert mask_url("postgresql://bot:pw@[::1]:5432/db") == "postgresql://bot:***@[::1]:5432/db"


# -- anonymize -----------------------------------------------------------------------------


def test_rater_hash_is_stable_and_pinned() -> None:
    # Pinned: a change here renames every rater in every past export.
    assert rater_hash(b"k", "slack", "U1") == rater_hash(b"k", "slack", "U1")
    assert rater_hash(b"k", "slack", "U1") == "26c3ccb714b0fb6e7caa216f"


def test_rater_hash_differs_per_secret_platform_and_rater() -> None:
    base = rater_hash(b"k", "slack", "U1")
    others = {
        rater_hash(b"k2", "slack", "U1"),
        rater_hash(b"k", "telegram", "U1"),
        rater_hash(b"k", "slack", "U2"),
    }
    assert len(others) == 3
    assert base not in others


def test_rater_hash_does_not_contain_the_rater() -> None:
    digest = rater_hash(b"k", "wecom", "zhangsan")
    assert len(digest) == 24
    assert set(digest) <= set("0123456789abcdef")
    assert "zhangsan" not in digest


def test_secret_is_created_once_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "rater_secret"
    first = load_or_create_secret(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes() == first
    assert len(first) == 64 and bytes.fromhex(first.decode())
    assert load_or_create_secret(path) == first
    assert load_or_create_secret(tmp_path / "other") != first


def test_existing_secret_is_read_without_its_newline(tmp_path: Path) -> None:
    path = tmp_path / "rater_secret"
    path.write_bytes(b"my-own-key\n")
    assert load_or_create_secret(path) == b"my-own-key"
    assert path.read_bytes() == b"my-own-key\n"
