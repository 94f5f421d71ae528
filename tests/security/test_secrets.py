"""Secrets never appear in plain text: not in logs or request log files (tracebacks included),
not in stored fingerprints, not in the errors clients see.

On main log redaction missed ``{'auth': ...}`` (a dict's repr) and ``https://user:pass@host``,
request log files carried unredacted tracebacks, batch idempotency stored a plain SHA-256 of the
submission with its tokens, and ``The database is unavailable: <driver text>`` reached clients."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from services.common.config import load_settings
from services.common.errors import ExternalServiceError
from services.common.logs import redact
from services.common.processes import free_port
from services.common.requestlog import request_log
from services.common.secrets import SecretBox, generate_key
from services.request_store import models as m
from services.request_store.store import Store, make_engine
from tests.gateway.conftest import Stack, stack_settings

TOKEN = "TOPSECRET-t0ken"


@pytest.mark.parametrize(
    "text",
    [
        f"{{'auth': '{TOKEN}'}}",
        f'{{"auths": {{"quay.io": {{"auth": "{TOKEN}"}}}}}}',
        f"pulling https://robot:{TOKEN}@quay.io/v2/ns/image/manifests/1",
        f"{{'overwrite_from_index_token': 'user:{TOKEN}'}}",
        f"Authorization: Negotiate {TOKEN}",
    ],
)
def test_credentials_in_log_text_are_masked(text: str) -> None:
    assert TOKEN not in redact(text)


def test_a_traceback_in_a_request_log_file_is_redacted(tmp_path: Path) -> None:
    settings = load_settings(
        environ={
            "IIB_REQUEST_RECURSIVE_RELATED_BUNDLES_DIR": str(tmp_path / "nested"),
            "IIB_REQUEST_LOGS_DIR": str(tmp_path / "logs"),
        }
    )
    logging.getLogger().setLevel(logging.DEBUG)
    with request_log(settings, 41) as path:
        try:
            raise RuntimeError(
                f"registry said no to https://robot:{TOKEN}@quay.io ({{'auth': '{TOKEN}'}})"
            )
        except RuntimeError:
            logging.getLogger("services.index_builder").exception("the build failed")
    assert path is not None
    text = path.read_text()
    assert "the build failed" in text and "RuntimeError" in text
    assert TOKEN not in text


@pytest.mark.db
def test_batch_idempotency_stores_a_keyed_fingerprint_without_the_tokens(
    tmp_path: Path, new_database_url: Any
) -> None:
    stack = Stack(stack_settings(tmp_path, new_database_url(), {}), tmp_path)
    try:
        body = {
            "build_requests": [
                {
                    "from_index": "q.io/i:1",
                    "bundles": ["q.io/b:1"],
                    "binary_image": "q.io/bin:1",
                    "overwrite_from_index": True,
                    "overwrite_from_index_token": f"user:{TOKEN}",
                }
            ]
        }
        first = stack.post("add-rm-batch", body, headers={"Idempotency-Key": "k-1"})
        assert first.status_code == 201, first.text
        again = stack.post("add-rm-batch", body, headers={"Idempotency-Key": "k-1"})
        assert again.json() == first.json()  # the retry is recognised
        with stack.core.store.engine.connect() as conn:
            stored = conn.execute(select(m.IDEMPOTENCY_KEY.c.fingerprint)).scalar_one()
        canonical = json.dumps(["add-rm-batch", body], sort_keys=True, separators=(",", ":"))
        assert stored != hashlib.sha256(canonical.encode()).hexdigest()
        assert TOKEN not in stored
    finally:
        stack.close()


def test_database_errors_reach_clients_without_the_drivers_text() -> None:
    port = free_port()  # nothing listens there
    engine = make_engine(
        f"postgresql+psycopg2://iib:pw@127.0.0.1:{port}/iib", pool_size=1, statement_timeout=2
    )
    store = Store(engine, SecretBox([generate_key()]))
    with pytest.raises(ExternalServiceError) as exc:
        store.view(1)
    assert str(exc.value) == "The database is unavailable; try again later"
    assert "127.0.0.1" not in str(exc.value) and "iib" not in str(exc.value).lower().replace(
        "unavailable", ""
    )


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    yield
    logging.getLogger().setLevel(logging.WARNING)
