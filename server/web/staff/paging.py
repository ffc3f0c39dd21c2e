"""Pages of a long list: which rows a `?page=` shows, and the links to the others.

A page past the last shows the last one (a search narrowed while on page 7 still
answers, with what there is); a page that is not a number shows the first."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import request, url_for


@dataclass(frozen=True)
class Paging:
    number: int
    size: int
    total: int
    has_next: bool

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    def url(self, number: int) -> str:
        """This list's address (its filters kept) at page `number`."""
        # `part` asks for a fragment of the page (the search as one types): not a link's.
        args: dict[str, Any] = {k: v for k, v in request.args.items() if k not in ("page", "part")}
        if number > 1:
            args["page"] = number
        return url_for(str(request.endpoint), **(request.view_args or {}), **args)


def asked_page() -> int:
    text = request.args.get("page", "")
    return max(1, int(text)) if text.isdigit() and len(text) < 7 else 1


def counted(total: int, size: int) -> Paging:
    """The page asked for, among `total` rows."""
    last = max(1, -(-total // size))
    number = min(asked_page(), last)
    return Paging(number, size, total, number < last)
