"""The workers' registry access (index builder, bundle regenerator), configured from settings
(IIB's worker settings)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from services.common.config import Settings
from services.common.reference import name_without_tag_or_digest, parse_reference
from services.common.registry.auth import Credentials, CredentialStore
from services.common.registry.client import RegistryClient, RegistrySettings
from services.common.registry.images import ImageMemo, ImageService
from services.common.registry.unpack import UnpackBudget

__all__ = ["base_client", "registry_settings", "request_images"]


def registry_settings(settings: Settings) -> RegistrySettings:
    """IIB's worker settings mapped onto the registry client's settings (docs/registry.md)."""
    template = settings.docker_config_template
    if template is None:
        default = Path(os.path.expanduser("~/.docker/config.json.template"))
        template = str(default) if default.is_file() else None
    return RegistrySettings(
        total_attempts=settings.total_attempts,
        retry_delay=settings.retry_delay,
        retry_jitter=settings.retry_jitter,
        retry_multiplier=settings.retry_multiplier,
        timeout=settings.registry_timeout,
        transfer_deadline=settings.registry_transfer_deadline,
        docker_config_path=Path(template) if template else None,
        ca_bundle=Path(settings.registry_ca_bundle) if settings.registry_ca_bundle else None,
        insecure_registries=frozenset(settings.insecure_registries),
        temp_dir=settings.work_dir,
        request_unpack_limit=settings.request_disk_limit,
        allowed_registries=_allowed(settings),
    )


def _allowed(settings: Settings) -> tuple[str, ...] | None:
    """IIB_ALLOWED_REGISTRIES plus the registry the workers push to (None: any host)."""
    if settings.allowed_registries is None:
        return None
    own = [settings.registry] if settings.registry else []
    return tuple(dict.fromkeys([*settings.allowed_registries, *own]))


def base_client(settings: Settings) -> RegistryClient:
    """The shared client (sessions and token cache) with the docker config credentials."""
    return RegistryClient(registry_settings(settings))


def request_images(
    client: RegistryClient,
    *,
    token_for: str | None = None,
    token: str | None = None,
    registry_auths_json: str | None = None,
    memos: dict[str, ImageMemo] | None = None,
) -> ImageService:
    """An ImageService with a request's own credentials, kept in memory only, whose unpacks
    share the request's disk budget (``RegistrySettings.request_unpack_limit``).

    ``token`` (IIB's ``overwrite_from_index_token``, ``user:password``) applies to the repository
    of ``token_for`` only (``registry/namespace/repo``, the docker config key IIB 9.5.3's
    ``set_registry_token`` writes): reading from_index and the overwrite push use it; bundles,
    the binary image and the push to ``iib_registry`` keep the service's credentials, even on
    the same host. ``registry_auths_json`` is regenerate-bundle's ``{"auths": {...}}``.

    ``memos`` (a coalesced group's): services made with the same credentials (the same token
    for the same repository, the same auths) share one memory of the manifests and configs
    they read by digest, so the group's requests read its from_index and binary image once.
    It is keyed by a hash of those credentials, never by the credentials themselves.
    """
    store = (
        CredentialStore.from_docker_config(json.loads(registry_auths_json), "registry_auths")
        if registry_auths_json
        else CredentialStore()
    )
    if token and token_for:
        ref = parse_reference(token_for)
        store = store.with_overrides(
            {f"{ref.registry}/{ref.repository}": Credentials.from_token(token)}
        )
    limit = client.settings.request_unpack_limit
    memo = None
    if memos is not None:
        scope = json.dumps(
            [token_for and name_without_tag_or_digest(token_for), token, registry_auths_json]
        )
        memo = memos.setdefault(hashlib.sha256(scope.encode()).hexdigest(), {})
    return ImageService(
        client.with_credentials(store) if store.registries else client,
        unpack_budget=UnpackBudget(limit, "IIB_REQUEST_DISK_LIMIT") if limit else None,
        memo=memo,
    )
