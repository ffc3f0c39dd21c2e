"""Refusals: what a rule says no to, with a stable code and a message for people.

Every refusal of the domain is a `Refusal`. Its `code` is stable (stored in logs,
answered by the API as `reason`, tested); its `message` is the French text, marked with
`N_` so that `python -m server.i18n` puts it in the catalogue, and translated only at the
edge (a page, the API, the command line) into the reader's language. The messages a class
can say are declared in its `MESSAGES`, by code, so a test can walk every code and check
it has a French and an English text.

    Refusal
    └── PhotoError          an upload that is not a usable picture (domain/photos.py)
"""

from __future__ import annotations

from typing import Any, ClassVar


def N_(message: str) -> str:  # noqa: N802 (gettext's name for a deferred message)
    """Mark `message` for the catalogue without translating it now."""
    return message


class Refusal(Exception):
    """A request a rule refuses: `code` for programs, `message` (French) for people."""

    #: code -> French message with %(name)s placeholders, for each code this class uses.
    MESSAGES: ClassVar[dict[str, str]] = {}

    def __init__(self, code: str, **params: Any) -> None:
        if code not in self.MESSAGES:
            raise KeyError(f"{type(self).__name__} has no message for code {code!r}")
        self.code = code
        self.params = params
        super().__init__(self.message % params if params else self.message)

    @property
    def message(self) -> str:
        """The untranslated (French) text, placeholders not yet filled."""
        return self.MESSAGES[self.code]


def every_refusal() -> list[type[Refusal]]:
    """Every Refusal class of the server, for the tests and the catalogue."""
    found: list[type[Refusal]] = []
    waiting: list[type[Refusal]] = [Refusal]
    while waiting:
        cls = waiting.pop()
        found.append(cls)
        waiting.extend(cls.__subclasses__())
    return found
