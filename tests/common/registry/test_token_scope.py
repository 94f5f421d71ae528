"""The overwrite token is scoped to the from_index repository, as IIB 9.5.3 scopes it.

IIB 9.5.3's ``set_registry_token`` writes the token under the docker config key
``registry/namespace/repo`` of from_index (``_docker_auth_key_for_image``), and container tools
use the most specific matching key: every other repository of the same host keeps the service's
credentials. One registry host here, whose token server grants the index owner's robot only
``product/index`` and the service only its own repositories: each side must ask for tokens with
its own credentials, and the overwrite copy (the service's output to from_index) must work."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from services.common.errors import RegistryError
from services.common.registry.auth import Credentials
from services.common.registry.client import RegistryClient
from services.common.registry.layers import LayerFile, build_layer
from services.common.registry_access import request_images
from services.tooling.servers.registry import (
    RegistryServer,
    make_self_signed_certificate,
    start_registry,
)
from tests.common.registry.helpers import fast_settings, push_base_image
from tests.common.registry.scoped_tokens import Policy, ScopedTokenServer

SERVICE, SERVICE_PASSWORD = "iib-service", "service-pass"
OWNER, OWNER_PASSWORD = "index-owner", "owner:pass"
ADMIN, ADMIN_PASSWORD = "admin", "admin-pass"
# an index owner whose robot may also read the service's output repository
READER, READER_PASSWORD = "mirror-owner", "mirror-pass"
POLICY: Policy = {
    ADMIN: [("*", ("pull", "push"))],
    SERVICE: [("bundles/*", ("pull",)), ("iib-build", ("pull", "push"))],
    OWNER: [("product/index", ("pull", "push"))],
    READER: [("product/mirror", ("pull", "push")), ("iib-build", ("pull",))],
}


@dataclass
class Setup:
    registry: RegistryServer
    tokens: ScopedTokenServer
    base: Path

    def client(self, user: str, password: str) -> RegistryClient:
        settings = fast_settings(ca_bundles={self.registry.registry: self.registry.ca_path})
        return RegistryClient(
            settings, credentials={self.registry.registry: Credentials(user, password)}
        )


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    base = tmp_path_factory.mktemp("scoped-registry")
    tls = make_self_signed_certificate(base / "tls")
    tokens = ScopedTokenServer(
        base / "token",
        {
            SERVICE: SERVICE_PASSWORD,
            OWNER: OWNER_PASSWORD,
            ADMIN: ADMIN_PASSWORD,
            READER: READER_PASSWORD,
        },
        tls=tls,
        policy=POLICY,
    )
    tokens.start()
    try:
        registry = start_registry(base / "registry", tls=tls, token_auth=tokens.auth_config())
    except Exception:
        tokens.stop()
        raise
    yield Setup(registry, tokens, base)
    registry.stop()
    tokens.stop()


def test_the_token_reads_and_overwrites_from_index_only(setup: Setup, tmp_path: Path) -> None:
    host = setup.registry.registry
    from_index = f"{host}/product/index:v4.14"
    with setup.client(ADMIN, ADMIN_PASSWORD) as admin:
        bundle = push_base_image(admin, f"{host}/bundles/b:1", tmp_path, arches=("amd64",))
        push_base_image(admin, from_index, tmp_path / "index", arches=("amd64",))
        output = push_base_image(
            admin,
            f"{host}/iib-build:1",
            tmp_path / "out",
            arches=("amd64",),
            extra_files={"configs/new.json": b"{}"},
        )
    setup.tokens.clear()
    with setup.client(SERVICE, SERVICE_PASSWORD) as service:
        images = request_images(service, token_for=from_index, token=f"{OWNER}:{OWNER_PASSWORD}")
        # with the service's credentials, on the same host as from_index
        assert images.resolve(bundle.spec).endswith(bundle.digest)
        assert images.resolve(output.spec).endswith(output.digest)
        # with the token
        images.resolve(from_index)
        # the overwrite: the service's output (read as the service) to from_index (the token)
        assert images.copy(output.spec, [from_index]) == output.digest
        assert images.resolve(from_index).endswith(output.digest)
    assert setup.tokens.repositories_of(OWNER) == {"product/index"}
    assert setup.tokens.pushes_of(OWNER) == {"product/index"}
    assert setup.tokens.repositories_of(SERVICE) == {"bundles/b", "iib-build"}
    assert all(r.status == 200 for r in setup.tokens.requests)


def test_a_group_memory_is_not_shared_across_credentials(setup: Setup, tmp_path: Path) -> None:
    """A coalesced group's requests share what they read by digest only with requests that
    read with the same credentials: a request without the from_index token is not handed the
    from_index manifest another request read with it (the registry refuses it that read)."""
    host = setup.registry.registry
    from_index = f"{host}/product/index:v4.15"
    with setup.client(ADMIN, ADMIN_PASSWORD) as admin:
        index = push_base_image(admin, from_index, tmp_path, arches=("amd64",))
    pinned = f"{host}/product/index@{index.digest}"
    memos: dict = {}
    token = f"{OWNER}:{OWNER_PASSWORD}"
    with setup.client(SERVICE, SERVICE_PASSWORD) as service:
        with_token = request_images(service, token_for=from_index, token=token, memos=memos)
        assert with_token.get_image_arches(pinned) == {"amd64"}
        setup.tokens.clear()
        # the service's own credentials: read from the registry, which refuses it
        without = request_images(service, token_for=from_index, memos=memos)
        with pytest.raises(RegistryError):
            without.get_image_arches(pinned)
        assert setup.tokens.repositories_of(SERVICE) == {"product/index"}


@pytest.mark.parametrize("reads_output", [False, True], ids=["refused", "mounted"])
def test_layers_ahead_of_the_overwrite_are_mounted_where_the_token_may_read_them(
    setup: Setup, tmp_path: Path, reads_output: bool
) -> None:
    """Ahead of an overwrite, the new layers of the service's output are made present in
    from_index's repository with the token. The cross-repository mount is tried with the
    token, as skopeo (IIB's overwrite) tries it: the registry mounts them when its token
    server grants the token pull on the output's repository (``mirror-owner``), else refuses
    and they are uploaded (``index-owner``); the copy to from_index works either way."""
    host = setup.registry.registry
    user, password, repo = (
        (READER, READER_PASSWORD, "product/mirror")
        if reads_output
        else (OWNER, OWNER_PASSWORD, "product/index")
    )
    from_index = f"{host}/{repo}:v4.16"
    with setup.client(ADMIN, ADMIN_PASSWORD) as admin:
        base = push_base_image(admin, f"{host}/bundles/base:1", tmp_path, arches=("amd64",))
        push_base_image(admin, from_index, tmp_path / "index", arches=("amd64",))
    layer = build_layer(
        [LayerFile("configs/new.json", data=repr(reads_output).encode())], tmp_path / "l.tgz"
    )
    with setup.client(SERVICE, SERVICE_PASSWORD) as service:
        images = request_images(service, token_for=from_index, token=f"{user}:{password}")
        built = images.build(base.spec, [f"{host}/iib-build:{repo.replace('/', '-')}"], [layer])
        before = service.stats.snapshot()
        images.upload_layers(from_index, [layer], mount_from=built.resolved)
        after = service.stats.snapshot()
        assert images.copy(built.resolved, [from_index]) == built.digest
    moved = (
        after["blobs_mounted"] - before["blobs_mounted"],
        after["blobs_uploaded"] - before["blobs_uploaded"],
    )
    assert moved == ((1, 0) if reads_output else (0, 1))
    # the token asked for the output's repository too (the mount); the grant decided
    assert setup.tokens.repositories_of(user) == {repo, "iib-build"}
    assert setup.tokens.granted_of(user) == ({repo, "iib-build"} if reads_output else {repo})
