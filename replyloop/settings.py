"""Every setting a replyloop process can be told: core's and each platform's, in one class.

Each entry point builds one `AllSettings` (replyloop.cli) and hands it to its process
(replyloop.bootstrap): it is a `core.settings.Settings` to core, wire and the workers, and
a `SlackSettings`, `TelegramSettings` or `WeComSettings` to that platform's adapter and
its io tasks (`wire.process.Process.settings_as`). Every variable is validated at start,
whichever command runs, and `replyloop config` prints them all.
"""

from __future__ import annotations

from bots.slack.settings import SlackSettings
from bots.telegram.settings import TelegramSettings
from bots.wecom.settings import WeComSettings


# The bases in reverse: pydantic lists fields from the last base to the first, so core's
# come first, then Slack's, Telegram's and WeCom's (the order `replyloop config` prints).
class AllSettings(WeComSettings, TelegramSettings, SlackSettings):
    """Core's settings and every platform's: what each replyloop process is started with."""
