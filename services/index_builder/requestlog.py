"""Moved to :mod:`services.common.requestlog` (shared with the bundle regenerator); this name
is kept so existing imports keep working."""

from services.common.requestlog import current_request, request_log

__all__ = ["current_request", "request_log"]
