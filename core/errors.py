"""Named domain errors; adapters map them to a reply or an HTTP status."""


class ReplyloopError(Exception):
    """Base of every error replyloop raises on purpose."""


class UnknownTurn(ReplyloopError):
    """A vote or retry names a reply the store does not hold (or no longer holds)."""

    def __init__(self, ref: object) -> None:
        super().__init__(f"no reply {ref!r} is known here; it may have been deleted")
        self.ref = ref


class EmptyMessage(ReplyloopError):
    """The message has no text worth a model call."""


class ServiceUnavailable(ReplyloopError):
    """A broker or database that the process needs cannot be reached at start-up."""
