"""Moved to :mod:`services.common.registry_access` (shared with the bundle regenerator); this
name is kept so existing imports keep working."""

from services.common.registry_access import base_client, registry_settings, request_images

__all__ = ["base_client", "registry_settings", "request_images"]
