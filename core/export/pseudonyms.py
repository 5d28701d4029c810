"""People's names and ids in exported text, replaced by pseudonyms.

The model reads names (a Slack channel message is stored as "Kai: lunch at noon?", a
mention as "@Kai"); an export carries pseudonyms in their place, the same for a person in
every row and every export (an HMAC of who they are under the raters' key), so a
conversation stays coherent. A name is replaced only in the forms adapters write it in:
"Name: " opening a message, and "@Name" not followed by a letter or digit. A person's
platform id stands in for their name where the platform would not say it (Slack's
"U07ABC: hi", WeCom's "zhangsan: hi", Telegram's "42: hi"), so it is replaced in the same
forms; Slack's own mention markup (`<@U07ABC>`, in text stored before names were read or
written by a model that saw it) is replaced whoever it names. Longer names are tried
first ("@Ben Ode" before "@Ben"). A name that is also an ordinary word is left alone
elsewhere: "Will: see you" becomes "person-…: see you", "I will" stays.

What this cannot see: a name written as a plain word ("ask Kai"), and an @mention of
someone no adapter ever named (a Telegram "@handle" of a person who never spoke where the
bot reads). Those stay as written.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import replace

from core.anonymize import person_pseudonym
from core.export.rows import RatedTurn
from core.types import ChatMessage

# Slack's mention markup: <@U123> or <@U123|label>; the label is a name too, dropped.
_RAW_MENTION = r"<@(?P<raw>[A-Z0-9]+)(?:\|[^>]*)?>"


class Renamer:
    """Replaces each name of `pseudonyms` (name -> pseudonym) in the stored forms, and
    every Slack mention markup with `by_id` of the id it holds (left as it is without one).

    >>> rename = Renamer({"Kai": "person-1", "Ben": "person-2", "Ben Ode": "person-3"})
    >>> rename("Ben Ode: @Kai noon works, says Kai (not @Kaia), ask @Ben.")
    'person-3: @person-1 noon works, says Kai (not @Kaia), ask @person-2.'
    >>> rename("I told Kai: yes")  # "Kai: " only counts where the message opens
    'I told Kai: yes'
    >>> Renamer({})("Kai: hi")
    'Kai: hi'
    >>> by_id = {"U7": "person-1", "U9": "person-9"}.__getitem__
    >>> Renamer({"U7": "person-1"}, by_id)("<@U7>: ask <@U9|zoe> or @U7")
    '@person-1: ask @person-9 or @person-1'
    """

    def __init__(
        self, pseudonyms: Mapping[str, str], by_id: Callable[[str], str] | None = None
    ) -> None:
        self.pseudonyms = dict(pseudonyms)
        self.by_id = by_id
        # Longest first: regex alternation takes the first branch that matches.
        names = "|".join(re.escape(n) for n in sorted(self.pseudonyms, key=len, reverse=True))
        forms = [_RAW_MENTION] if by_id is not None else []
        if names:
            forms += [rf"\A(?P<said>{names})(?=: )", rf"@(?P<mention>{names})(?!\w)"]
        self.pattern = re.compile("|".join(forms)) if forms else None

    def __call__(self, text: str) -> str:
        if self.pattern is None:
            return text
        return self.pattern.sub(self._pseudonym, text)

    def _pseudonym(self, found: re.Match[str]) -> str:
        groups = found.groupdict()
        if groups.get("said") is not None:
            return self.pseudonyms[groups["said"]]
        if groups.get("mention") is not None:
            return "@" + self.pseudonyms[groups["mention"]]
        assert self.by_id is not None  # the raw form is only looked for with one
        return "@" + self.by_id(groups["raw"])


class Pseudonyms:
    """Every platform's Renamer, from the store's names (core.store.people.known_names:
    platform -> name -> person) and the raters' HMAC key. Each known person's id is
    replaced like a name, by the same pseudonym."""

    def __init__(self, known: Mapping[str, Mapping[str, str]], secret: bytes) -> None:
        self.secret = secret
        self.renamers: dict[str, Renamer] = {}
        for platform, names in known.items():
            of = self._by_id(platform)
            ids = {person: of(person) for person in names.values()}
            # A name that is also someone's id names the person who is shown by it.
            named = {name: of(person) for name, person in names.items()}
            self.renamers[platform] = Renamer({**ids, **named}, of)

    def _by_id(self, platform: str) -> Callable[[str], str]:
        return lambda person: person_pseudonym(self.secret, platform, person)

    def turn(self, turn: RatedTurn) -> RatedTurn:
        """`turn` with names replaced wherever its text is: every prompt message and the
        reply (which the model may have written a name into)."""
        rename = self.renamers.get(turn.platform)
        if rename is None:
            rename = self.renamers[turn.platform] = Renamer({}, self._by_id(turn.platform))
        prompt: list[ChatMessage] = [{**m, "content": rename(m["content"])} for m in turn.prompt]
        return replace(turn, prompt=prompt, completion=rename(turn.completion))
