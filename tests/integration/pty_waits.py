"""Waiting on a program in a pseudo-terminal (pexpect) for as long as it works.

A fixed limit on a wait fails a slow machine, not a broken program: a 1,500-token reply
took over 60 s once beside other work. These waits fail only when the program has been
idle for `quiet_s`: no new output and (almost) no CPU time used. A reply that is made but
not printed until it is done shows as CPU time; a chat that waits for a reply that never
comes polls a few times a second, about 1 % of a core here, far below WORKING_SHARE.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pexpect

QUIET_S = 60.0  # idle this long: the program is stuck
SLICE_S = 2.0  # how often progress is looked at
WORKING_SHARE = 0.1  # of one core over a slice: the program was working


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of process `pid`, all its threads (Linux's /proc)."""
    # Fields after the command name (which may hold spaces), from field 3: utime is 14.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


Pattern = str | re.Pattern[str] | type[pexpect.EOF]


def expect_working(
    child: pexpect.spawn, pattern: Pattern | list[Pattern], quiet_s: float = QUIET_S
) -> int:
    """`child.expect` of `pattern` (text as it is, a regular expression, or pexpect.EOF; or
    a list of them: the index of the one seen) that waits while `child` prints or
    computes; AssertionError once it was idle for `quiet_s`. `child.before` and
    `child.match` are pexpect's."""
    patterns = pattern if isinstance(pattern, list) else [pattern]
    wanted = [re.compile(re.escape(p)) if isinstance(p, str) else p for p in patterns]
    idle_since = time.monotonic()
    seen, cpu = len(child.buffer), cpu_seconds(child.pid)
    while (index := child.expect([*wanted, pexpect.TIMEOUT], timeout=SLICE_S)) == len(wanted):
        now_seen = len(child.buffer)
        try:
            now_cpu = cpu_seconds(child.pid)
        except FileNotFoundError:  # it has exited: EOF shows at the next read
            now_cpu = cpu
        if now_seen > seen or now_cpu - cpu >= WORKING_SHARE * SLICE_S:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since > quiet_s:
            raise AssertionError(
                f"waited for {pattern!r}: no output and no work for {quiet_s:.0f} s; "
                f"the last output was {child.buffer[-300:]!r}"
            )
        seen, cpu = now_seen, now_cpu
    return index


LOST_S = 10.0  # no sign at all of a Ctrl-C for this long: it came before readline waited
PRESSES = 6  # a lost Ctrl-C is rare: this many in a row is a program that never takes one


def interrupt_at_prompt(child: pexpect.spawn) -> None:
    """Ctrl-C to a program sitting at a readline prompt, pressed again if it was lost.

    CPython's readline checks for signals only when its select() on the terminal is
    interrupted: a SIGINT that lands after the prompt is written but before select() is
    entered is noted and never acted on until the next key (a window of microseconds, which
    a loaded machine widens to seconds: three tests hung here beside stress-ng). A person
    presses again; so does this, but only while the program showed nothing at all, so a
    second press never lands inside a first one being handled.
    """
    for _ in range(PRESSES):
        child.sendintr()
        if child.expect([pexpect.EOF, pexpect.TIMEOUT], timeout=LOST_S) == 0:
            return
        shown = (child.before or "").replace("^C", "").strip("\x07")  # an echo, a bell
        if shown:
            return  # it began to leave (a new line first): the caller waits for the rest
    raise AssertionError(
        f"{PRESSES} Ctrl-C presses, {LOST_S:.0f} s apart, and no sign of one: is SIGINT "
        "ignored in the program (started from a shell that ignores it)?"
    )
