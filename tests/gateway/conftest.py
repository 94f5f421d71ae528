"""The REST API under test: request store + auth service in-process, the real Envoy in front.

``api`` is a stack with IIB's upstream test configuration (trusted-header identity,
``worker@DOMAIN.LOCAL`` as the only worker, logs and related-bundles directories set).
``stack_factory(**overrides)`` builds stacks with other settings (cached per module).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from services.common.config import Settings, load_settings
from services.common.processes import free_port
from services.common.secrets import generate_key
from services.common.tls import make_self_signed
from services.gateway.server import Gateway
from services.request_store.server import build_core, build_server
from services.request_store.service import RequestStoreCore
from tests.pki import tls_env

SUBMITTER = "tbrady@DOMAIN.LOCAL"
WORKER = "worker@DOMAIN.LOCAL"
NON_WORKER = "vkohli@DOMAIN.LOCAL"
USER_HEADER = "X-Remote-User"


class Stack:
    """A running REST API and a session to call it."""

    def __init__(self, settings: Settings, run_dir: Path) -> None:
        self.settings = settings
        self.core: RequestStoreCore = build_core(settings)
        self.store_server = build_server(self.core)
        self.store_server.start()
        self.gateway = Gateway(settings, run_dir, concurrency=1)
        try:
            self.gateway.start()
        except Exception:
            self.store_server.stop(0)
            raise
        scheme = "https" if settings.gateway_tls_cert else "http"
        self.base_url = f"{scheme}://{settings.gateway_listen}"
        self.session = requests.Session()
        self.session.trust_env = False  # the sandbox sets REQUESTS_CA_BUNDLE
        if settings.gateway_tls_cert:
            self.session.verify = str(settings.gateway_tls_cert)

    def close(self) -> None:
        self.session.close()
        self.gateway.stop()
        self.store_server.stop(0)
        self.core.store.engine.dispose()

    def request(
        self,
        method: str,
        path: str,
        *,
        user: str | None = None,
        json: Any = None,
        data: bytes | str | None = None,
        headers: dict[str, str] | None = None,
        params: Any = None,
    ) -> requests.Response:
        hdrs = dict(headers or {})
        if user is not None:
            hdrs[USER_HEADER] = user
        return self.session.request(
            method,
            self.base_url + path,
            json=json,
            data=data,
            headers=hdrs,
            params=params,
            timeout=30,
        )

    def post(
        self, endpoint: str, body: Any, user: str | None = SUBMITTER, **kw: Any
    ) -> requests.Response:
        """POST ``body`` as JSON (``None`` is sent as the JSON literal ``null``)."""
        headers = {"Content-Type": "application/json", **kw.pop("headers", {})}
        return self.request(
            "POST",
            f"/api/v1/builds/{endpoint}",
            user=user,
            data=json.dumps(body).encode(),
            headers=headers,
            **kw,
        )

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.request("GET", path, **kw)

    def patch(
        self, request_id: int, body: Any, user: str | None = WORKER, **kw: Any
    ) -> requests.Response:
        headers = {"Content-Type": "application/json", **kw.pop("headers", {})}
        return self.request(
            "PATCH",
            f"/api/v1/builds/{request_id}",
            user=user,
            data=json.dumps(body).encode(),
            headers=headers,
            **kw,
        )


def stack_settings(tmp: Path, database_url: str, overrides: dict[str, Any]) -> Settings:
    base: dict[str, Any] = {
        "SQLALCHEMY_DATABASE_URI": database_url,
        "IIB_SECRETS_KEY": generate_key(),
        "IIB_REQUEST_LOGS_DIR": str(tmp / "logs"),
        "IIB_REQUEST_RELATED_BUNDLES_DIR": str(tmp / "related"),
        "IIB_REQUEST_RECURSIVE_RELATED_BUNDLES_DIR": str(tmp / "nested"),
        "IIB_AUTH_TRUSTED_HEADER": USER_HEADER,
        "IIB_WORKER_USERNAMES": [WORKER],
        "IIB_GATEWAY_LISTEN": f"127.0.0.1:{free_port()}",
        "IIB_GATEWAY_ADMIN_PORT": free_port(),
        "IIB_AUTH_SERVICE_LISTEN": f"127.0.0.1:{free_port()}",
        "IIB_GRPC_WORKERS": 8,
        # the request store and the gateway run in this process with the gateway's identity
        **tls_env("gateway"),
    }
    store = f"127.0.0.1:{free_port()}"
    base["IIB_REQUEST_STORE_LISTEN"] = store
    base["IIB_REQUEST_STORE_ADDRESS"] = store
    if overrides.pop("tls", False):
        make_self_signed(tmp / "tls.crt", tmp / "tls.key")
        base["IIB_GATEWAY_TLS_CERT"] = str(tmp / "tls.crt")
        base["IIB_GATEWAY_TLS_KEY"] = str(tmp / "tls.key")
    base.update(overrides)
    return load_settings(environ={}, overrides={k: v for k, v in base.items() if v is not None})


StackFactory = Callable[..., Stack]


@pytest.fixture(scope="module")
def stack_factory(
    tmp_path_factory: pytest.TempPathFactory, new_database_url: Callable[[], str]
) -> Iterator[StackFactory]:
    stacks: dict[str, Stack] = {}

    def make(**overrides: Any) -> Stack:
        key = repr(sorted(overrides.items()))
        if key not in stacks:
            tmp = tmp_path_factory.mktemp("stack")
            stacks[key] = Stack(stack_settings(tmp, new_database_url(), dict(overrides)), tmp)
        return stacks[key]

    yield make
    for stack in stacks.values():
        stack.close()


@pytest.fixture(scope="module")
def api(stack_factory: StackFactory) -> Stack:
    return stack_factory()
