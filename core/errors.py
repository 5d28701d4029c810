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


class RegistryError(ReplyloopError):
    """The model registry refuses a request (`replyloop model ...` says it in one line)."""


class UnknownModel(RegistryError):
    """No model of this version is registered."""

    def __init__(self, version: str) -> None:
        super().__init__(
            f"no model {version!r} is registered (`replyloop model list` shows the versions)"
        )
        self.version = version


class InvalidModel(RegistryError, ValueError):
    """A registration with an unknown kind, or a version no Turn could record."""


class ModelConflict(RegistryError):
    """A version is registered again with another folder, or promoted though it cannot
    answer a chat."""


class NothingToRollBack(RegistryError):
    """No promotion stands that a rollback could undo."""


class CanaryError(RegistryError):
    """A canary cannot be started or stopped as asked (one runs already, none runs, or the
    model cannot chat)."""


class ReplyRefused(ReplyloopError):
    """A reply the worker will not make (it cannot fit in the model's memory, or waited past
    its deadline); the message says why, in words the chat is told."""


class UnknownPerson(ReplyloopError):
    """`replyloop forget` names someone the store holds nothing of."""


class UserError(ReplyloopError):
    """A console user that cannot be made or found (said in one line)."""
