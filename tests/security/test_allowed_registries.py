"""Workers contact only the registries IIB_ALLOWED_REGISTRIES allows (the e2e system allows
its two registries): an image on any other host fails its request naming the host, and the
host is never contacted, not even through a redirect of an allowed registry.

On main the index builder contacted any host a user named (SSRF into the worker's network),
followed redirects anywhere and fetched any token realm."""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.common.processes import ManagedProcess
from tests.common.registry.hostile_registry import HostileRegistry
from tests.conftest import REPO
from tests.e2e.conftest import EndToEnd
from tests.security.conftest import submit

pytestmark = [pytest.mark.db, pytest.mark.slow]


class Listener:
    """A TCP port inside the workers' network that must never be reached."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.sock.getsockname()[1]}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def victim() -> Iterator[Listener]:
    listener = Listener()
    yield listener
    listener.close()


@pytest.mark.parametrize("field", ["bundles", "from_index"])
def test_an_image_on_a_host_not_allowed_fails_naming_it_and_is_never_contacted(
    stack: EndToEnd, binary: str, keda: str, victim: Listener, field: str
) -> None:
    hostile = f"{victim.host}/internal/service:v4.14"
    body = {"bundles": [keda], "binary_image": binary, "add_arches": ["amd64"]}
    body[field] = [hostile] if field == "bundles" else hostile
    build = submit(stack, "add", body)
    assert build["state"] == "failed"
    assert (
        f"The registry {victim.host} is not allowed (it matches no IIB_ALLOWED_REGISTRIES entry)"
        in build["state_reason"]
    )
    assert victim.connections == 0


@pytest.fixture
def redirecting(
    stack: EndToEnd, tmp_path: Path, victim: Listener
) -> Iterator[tuple[HostileRegistry, ManagedProcess]]:
    """An allowed registry that redirects every manifest to the victim, and an index builder
    that allows it."""
    registry = HostileRegistry()
    registry.route("GET", r"^/v2/$", lambda _: (200, {"Content-Length": "2"}, [b"{}"]))
    registry.route(
        "GET",
        r"/manifests/",
        lambda _: (302, {"Location": f"http://{victim.host}/v2/x", "Content-Length": "0"}, []),
    )
    assert stack.builder.env is not None
    allowed = f'["{stack.registry.registry}", "{stack.secure.registry}", "{registry.host}"]'
    builder = ManagedProcess(
        "index-builder-redirects",
        [sys.executable, "-m", "services.tooling.cli", "serve", "index-builder"],
        tmp_path / "builder.log",
        env={
            **stack.builder.env,
            "IIB_ALLOWED_REGISTRIES": allowed,
            "IIB_INSECURE_REGISTRIES": f'["{stack.registry.registry}", "{registry.host}"]',
        },
        cwd=REPO,
    )
    stack.builder.stop()
    try:
        builder.start(ready=lambda: "worker consuming" in builder.log_tail(40), timeout=60)
        yield registry, builder
    finally:
        builder.stop()
        stack.builder.start()
        registry.close()


def test_a_redirect_to_a_host_not_allowed_is_not_followed(
    stack: EndToEnd,
    binary: str,
    keda: str,
    victim: Listener,
    redirecting: tuple[HostileRegistry, ManagedProcess],
) -> None:
    registry, _ = redirecting
    build = submit(
        stack,
        "add",
        {
            "bundles": [keda],
            "from_index": f"{registry.host}/ns/index:v4.14",
            "binary_image": binary,
        },
    )
    assert build["state"] == "failed"
    assert f"redirected to {victim.host}, which is not allowed" in build["state_reason"]
    assert victim.connections == 0
    assert any("/manifests/" in seen.path for seen in registry.seen)
