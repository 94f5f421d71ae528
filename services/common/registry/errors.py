"""Registry-specific refinements of the project's error hierarchy (``services.common.errors``).

Everything here is a subclass of an existing class, so callers that catch ``RegistryError`` (or
``IIBError``) keep working. Messages name the image and what failed, and never contain a secret.
"""

from __future__ import annotations

from services.common.errors import ExternalServiceError, RegistryError

__all__ = [
    "DigestMismatchError",
    "ImageNotFoundError",
    "RegistryAuthError",
    "RegistryUnavailableError",
    "UnsafeLayerError",
    "UnsupportedManifestError",
]


class ImageNotFoundError(RegistryError):
    """The registry answered 404 for a manifest, a blob or a repository."""


class RegistryAuthError(RegistryError):
    """The registry refused the credentials (401) or the access (403)."""


class DigestMismatchError(RegistryError):
    """Content received from the registry does not match the digest it was asked for."""


class UnsupportedManifestError(RegistryError):
    """A manifest of a media type or schema the operation cannot handle."""


class UnsafeLayerError(RegistryError):
    """A layer that breaks the unpacking rules (path traversal, escaping link, size limit)."""


class RegistryUnavailableError(ExternalServiceError):
    """The registry could not be reached (connection refused, reset, timed out) after retries."""
