"""Parsing of GET /builds query parameters (contract §4). No I/O.

The image filters need the database; :func:`parse_list_query` returns them as strings and the
service checks them in IIB's order after the pure ones. Pagination errors come last (IIB's
paginate step) and are always 404.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from services.common.errors import NotFoundError, ValidationError
from services.request_store.domain import RequestState, RequestType
from services.request_store.limits import MAX_DB_INTEGER

__all__ = ["ListQuery", "parse_list_query", "parse_pagination"]

_VALID_STATES = ", ".join(sorted(s.api_name for s in RequestState))
_VALID_TYPES = ", ".join(t.api_name for t in RequestType)


@dataclass
class ListQuery:
    """The validated, non-database part of a list query."""

    verbose: bool = False
    state: RequestState | None = None
    batch: int | None = None
    request_type: RequestType | None = None
    user: str | None = None
    from_index: str | None = None
    from_index_startswith: str | None = None
    index_image: str | None = None
    # Filters as supplied, for the pagination links (IIB's fixed order is applied there).
    link_filters: dict[str, str] = field(default_factory=dict)


def _first(params: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = params.get(name)
    return values[0] if values else None


def parse_list_query(params: Mapping[str, Sequence[str]]) -> ListQuery:
    """Validate state, batch and request_type (in that order) and collect the other filters."""
    q = ListQuery()
    verbose = _first(params, "verbose")
    q.verbose = verbose is not None and verbose.lower() in ("true", "1")
    state = _first(params, "state")
    if state:
        q.link_filters["state"] = state
        names = {s.api_name: s for s in RequestState}
        if state not in names:
            raise ValidationError(
                f"{state} is not a valid build request state. Valid states are: {_VALID_STATES}"
            )
        q.state = names[state]
    batch = _first(params, "batch")
    if batch is not None:
        q.link_filters["batch"] = batch
        try:
            q.batch = int(batch)
        except ValueError:
            raise ValidationError("The batch must be a positive integer") from None
        if q.batch < 1 or q.batch > MAX_DB_INTEGER:
            raise ValidationError("The batch must be a positive integer")
    request_type = _first(params, "request_type")
    if request_type:
        q.link_filters["request_type"] = request_type
        names_t = {t.api_name: t for t in RequestType}
        if request_type not in names_t:
            raise ValidationError(
                f"{request_type} is not a valid build request type. Valid request_types are: "
                f"{_VALID_TYPES}"
            )
        q.request_type = names_t[request_type]
    for name in ("user", "from_index", "from_index_startswith", "index_image"):
        value = _first(params, name)
        if value:
            q.link_filters[name] = value
            setattr(q, name, value)
    return q


def _int_param(params: Mapping[str, Sequence[str]], name: str, default: int) -> int:
    raw = _first(params, name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise NotFoundError() from None


def parse_pagination(params: Mapping[str, Sequence[str]], max_per_page: int) -> tuple[int, int]:
    """(page, per_page) as Flask-SQLAlchemy's paginate reads them; bad values are 404."""
    page = _int_param(params, "page", 1)
    per_page = min(_int_param(params, "per_page", 20), max_per_page)
    if page < 1 or per_page < 1:
        raise NotFoundError()
    # the page's offset must fit the database's integers
    if (page - 1) * per_page > MAX_DB_INTEGER:
        raise ValidationError(f"The page must be at most {MAX_DB_INTEGER // per_page}")
    return page, per_page
