"""A request store core on a database URL, for the request store's database tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from services.common.config import load_settings
from services.common.secrets import generate_key
from services.request_store.server import build_core
from services.request_store.service import RequestStoreCore

WORKER = "worker@DOMAIN.LOCAL"


def store_core(url: str, tmp: Path, **overrides: Any) -> RequestStoreCore:
    """A core over ``url`` (migrated), a fresh secrets key, :data:`WORKER` as its worker."""
    settings = load_settings(
        environ={},
        overrides={
            "SQLALCHEMY_DATABASE_URI": url,
            "IIB_SECRETS_KEY": generate_key(),
            "IIB_WORKER_USERNAMES": [WORKER],
            "IIB_REQUEST_RECURSIVE_RELATED_BUNDLES_DIR": str(tmp / "nested"),
            **overrides,
        },
    )
    return build_core(settings)
