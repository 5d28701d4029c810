"""People's names in exported text, replaced by pseudonyms.

The model reads names (a Slack channel message is stored as "Kai: lunch at noon?", a
mention as "@Kai"); an export carries pseudonyms in their place, the same for a person in
every row, so a conversation stays coherent. A name is replaced only in the forms adapters
write it in: "Name: " opening a message, and "@Name" not followed by a letter or digit.
Longer names are tried first ("@Ben Ode" before "@Ben"). A name that is also an ordinary
word is left alone elsewhere: "Will: see you" becomes "person-…: see you", "I will" stays.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace

from core.anonymize import person_pseudonym
from core.export.rows import RatedTurn
from core.types import ChatMessage


class Renamer:
    """Replaces each name of `pseudonyms` (name -> pseudonym) in the stored forms.

    >>> rename = Renamer({"Kai": "person-1", "Ben": "person-2", "Ben Ode": "person-3"})
    >>> rename("Ben Ode: @Kai noon works, says Kai (not @Kaia), ask @Ben.")
    'person-3: @person-1 noon works, says Kai (not @Kaia), ask @person-2.'
    >>> rename("I told Kai: yes")  # "Kai: " only counts where the message opens
    'I told Kai: yes'
    >>> Renamer({})("Kai: hi")
    'Kai: hi'
    """

    def __init__(self, pseudonyms: Mapping[str, str]) -> None:
        self.pseudonyms = dict(pseudonyms)
        # Longest first: regex alternation takes the first branch that matches.
        names = "|".join(re.escape(n) for n in sorted(self.pseudonyms, key=len, reverse=True))
        self.pattern = (
            re.compile(rf"\A(?P<said>{names})(?=: )|@(?P<mention>{names})(?!\w)") if names else None
        )

    def __call__(self, text: str) -> str:
        if self.pattern is None:
            return text
        return self.pattern.sub(self._pseudonym, text)

    def _pseudonym(self, found: re.Match[str]) -> str:
        said = found.group("said")
        if said is not None:
            return self.pseudonyms[said]
        return "@" + self.pseudonyms[found.group("mention")]


class Pseudonyms:
    """Every platform's Renamer, from the store's names (core.store.people.known_names:
    platform -> name -> person) and the raters' HMAC key."""

    def __init__(self, known: Mapping[str, Mapping[str, str]], secret: bytes) -> None:
        self.renamers = {
            platform: Renamer(
                {name: person_pseudonym(secret, platform, p) for name, p in names.items()}
            )
            for platform, names in known.items()
        }

    def turn(self, turn: RatedTurn) -> RatedTurn:
        """`turn` with names replaced wherever its text is: every prompt message and the
        reply (which the model may have written a name into)."""
        rename = self.renamers.get(turn.platform)
        if rename is None:
            return turn
        prompt: list[ChatMessage] = [{**m, "content": rename(m["content"])} for m in turn.prompt]
        return replace(turn, prompt=prompt, completion=rename(turn.completion))
