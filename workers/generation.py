"""`Generation`: what a request for a reply gets back (its text, token counts and timings,
and why its decoding stopped), and the reasons a reply stops.

Its own module because both sides need it: workers.decoder makes one when a row is done,
workers.engine and workers.scheduler hand it to their callers.
"""

from __future__ import annotations

from dataclasses import dataclass

# Why a row stopped.
EOS, LENGTH, STOP_TEXT, DEADLINE, CANCELLED = "eos", "length", "stop", "deadline", "cancelled"


@dataclass(frozen=True)
class Generation:
    text: str
    prompt_tokens: int
    new_tokens: int
    seconds: float
    prompt_cut: bool  # the prompt alone exceeded the budget and lost its oldest tokens
    batch: int = 1  # the most replies it was generated together with
    token_ids: tuple[int, ...] = ()  # the reply's tokens, stop token excluded
    first_token_s: float = 0.0  # from the request to its first token
    queued_s: float = 0.0  # from the request to joining the batch
    stopped: str = ""  # why it ended: EOS, LENGTH, STOP_TEXT, DEADLINE or CANCELLED
    version: str = ""  # the model that made it
