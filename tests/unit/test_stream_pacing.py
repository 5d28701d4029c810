"""bots.streaming.pacing: what a streamed reply shows, and when it may change."""

from __future__ import annotations

from bots.streaming.pacing import MARK, Pace, due, held_off, preview, shown
from bots.telegram.split import TEXT_LIMIT, split_reply, units


def replay(writes: list[tuple[float, str]], every_s: float, tick_s: float = 0.25) -> list[float]:
    """When the streamer's ticks would post or edit, for text written at those times."""
    pace, text, changed = Pace(), "", []
    for step in range(int(10 / tick_s)):
        now = step * tick_s
        text = next((t for at, t in reversed(writes) if at <= now), "")
        shows = preview(text, 100)
        if due(pace, shows, now):
            pace = shown(shows, now, every_s)
            changed.append(now)
    return changed


def test_a_growing_reply_changes_no_more_often_than_its_interval() -> None:
    writes = [(0.3 * n, "word " * n) for n in range(1, 20)]  # the gpu worker, every 0.3 s
    changed = replay(writes, every_s=1.0)
    assert changed[0] == 0.5  # the first text is posted at the first tick that sees it
    assert all(b - a >= 1.0 for a, b in zip(changed, changed[1:], strict=False))
    assert len(changed) >= 5


def test_a_group_paced_reply_changes_every_three_seconds() -> None:
    writes = [(0.3 * n, "word " * n) for n in range(1, 30)]
    assert replay(writes, every_s=3.0) == [0.5, 3.5, 6.5]


def test_nothing_is_edited_while_the_text_stands_still() -> None:
    assert replay([(0.0, "done here")], every_s=1.0) == [0.0]


def test_a_rate_limit_delays_the_next_change_past_retry_after() -> None:
    pace = shown("a" + MARK, 10.0, 1.0)
    pace = held_off(pace, 11.0, 5.0)  # the edit at 11.0 was refused: retry after 5 s
    assert not due(pace, "ab" + MARK, 15.75)
    assert due(pace, "ab" + MARK, 16.0)
    assert held_off(pace, 11.0, 0.5).next_at == 16.0  # a shorter wait never shortens one


def test_the_preview_is_the_text_so_far_with_the_mark() -> None:
    assert preview("  The answer is", 4000) == "The answer is" + MARK
    assert preview("The answer is 4" + chr(0) + "2", 4000) == "The answer is 42" + MARK


def test_a_long_preview_is_cut_to_one_message_where_its_first_part_ends() -> None:
    text = ("A sentence that goes on. " * 400).strip()  # about 10,000 characters
    shows = preview(text, TEXT_LIMIT, units)
    assert units(shows) <= TEXT_LIMIT
    assert shows.endswith(MARK)
    assert shows == split_reply(text, TEXT_LIMIT - units(MARK))[0] + MARK


def test_a_preview_counts_as_telegram_counts() -> None:
    text = "👍" * 3000  # 6,000 UTF-16 units
    shows = preview(text, TEXT_LIMIT, units)
    assert units(shows) <= TEXT_LIMIT
    assert shows.removesuffix(MARK) == "👍" * ((TEXT_LIMIT - units(MARK)) // 2)


def test_a_preview_is_always_a_prefix_of_the_reply_it_grows_into() -> None:
    reply = "First paragraph.\n\nSecond one, longer, with more words in it."
    for end in range(1, len(reply) + 1):
        shows = preview(reply[:end], 4000)
        if shows:
            assert reply.startswith(shows.removesuffix(MARK))
