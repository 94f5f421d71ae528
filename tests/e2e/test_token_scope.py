"""overwrite_from_index_token through the whole system when from_index lives on the same registry
host as ``iib_registry``, the production set-up of IIB (quay.io for both).

IIB 9.5.3 writes the token under the docker config key ``registry/namespace/repo`` of from_index
(``set_registry_token``/``_docker_auth_key_for_image``), so only from_index's repository is read
and overwritten with it; the bundles, the binary image and the push to ``iib_registry`` keep the
service's credentials (``iib_docker_config_template``). The one registry here has a token server
that grants the index owner's robot only ``product/index`` and the service only the bundle, binary
and output repositories, as Quay does for robot accounts: a request that used the token anywhere
else, or the service's credentials on from_index, would be refused.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.common.registry.auth import Credentials
from services.common.registry.client import RegistryClient, RegistrySettings
from services.common.registry.images import ImageService
from services.tooling.demo import images as fixture_images
from services.tooling.servers.registry import (
    RegistryServer,
    make_self_signed_certificate,
    start_registry,
)
from tests.common.registry.scoped_tokens import Policy, ScopedTokenServer
from tests.e2e.conftest import EndToEnd

pytestmark = [pytest.mark.slow]

SERVICE, SERVICE_PASSWORD = "iib-service", "service-pass"
OWNER, OWNER_PASSWORD = "index-owner", "owner-pass"
ADMIN, ADMIN_PASSWORD = "admin", "admin-pass"
POLICY: Policy = {
    ADMIN: [("*", ("pull", "push"))],
    SERVICE: [("community/*", ("pull",)), ("opm", ("pull",)), ("iib-build", ("pull", "push"))],
    OWNER: [("product/index", ("pull", "push"))],
}


class ScopedSystem:
    def __init__(self, base: Path, database_url: str) -> None:
        tls = make_self_signed_certificate(base / "tls")
        self.tokens = ScopedTokenServer(
            base / "token",
            {SERVICE: SERVICE_PASSWORD, OWNER: OWNER_PASSWORD, ADMIN: ADMIN_PASSWORD},
            tls=tls,
            policy=POLICY,
        )
        self.tokens.start()
        self.registry: RegistryServer = start_registry(
            base / "registry", tls=tls, token_auth=self.tokens.auth_config()
        )
        host = self.registry.registry
        auth = base64.b64encode(f"{SERVICE}:{SERVICE_PASSWORD}".encode()).decode()
        template = base / "service-docker-config.json"
        template.write_text(json.dumps({"auths": {host: {"auth": auth}}}))
        self.e2e = EndToEnd(
            base / "system",
            database_url,
            {
                "IIB_REGISTRY": host,
                "IIB_DOCKER_CONFIG_TEMPLATE": str(template),
                "IIB_REGISTRY_CA_BUNDLE": str(tls.cert),
                "IIB_ALLOWED_REGISTRIES": json.dumps([host, f"127.0.0.1:{self.tokens.port}"]),
            },
        )
        self.admin = ImageService(
            RegistryClient(
                RegistrySettings(ca_bundles={host: tls.cert}),
                credentials={host: Credentials(ADMIN, ADMIN_PASSWORD)},
            )
        )

    def close(self) -> None:
        self.e2e.close()
        self.registry.stop()
        self.tokens.stop()


@pytest.fixture(scope="module")
def system(
    tmp_path_factory: pytest.TempPathFactory, new_database_url: Any
) -> Iterator[ScopedSystem]:
    system = ScopedSystem(tmp_path_factory.mktemp("scoped"), new_database_url())
    try:
        yield system
    finally:
        system.close()


def test_the_overwrite_token_is_used_for_from_index_only(system: ScopedSystem) -> None:
    host = system.registry.registry
    keda = fixture_images.push_fixture_bundles(system.admin, host, packages=["keda"])["keda"]
    binary = fixture_images.push_fake_binary_image(system.admin, f"{host}/opm:v4.14", ["amd64"])
    first = system.e2e.build(
        "add", {"bundles": [keda[0]], "binary_image": binary, "add_arches": ["amd64"]}
    )
    assert first["state"] == "complete", first["state_reason"]
    from_index = f"{host}/product/index:v4.14"
    system.admin.copy(first["index_image"], [from_index])

    build = system.e2e.build(
        "add",
        {
            "bundles": [keda[1]],
            "binary_image": binary,
            "from_index": from_index,
            "overwrite_from_index": True,
            "overwrite_from_index_token": f"{OWNER}:{OWNER_PASSWORD}",
        },
    )
    assert build["state"] == "complete", build["state_reason"]
    assert build["index_image"] == from_index
    output = build["internal_index_image_copy"]
    assert output.startswith(f"{host}/iib-build:")
    assert system.admin.get_image_digest(from_index) == system.admin.get_image_digest(output)

    # the token only for from_index: read, then overwritten
    assert system.tokens.repositories_of(OWNER) == {"product/index"}
    assert system.tokens.pushes_of(OWNER) == {"product/index"}
    # the service's own credentials for everything else, on the same host (its tokens of the
    # first build are still cached, so both builds count)
    assert "product/index" not in system.tokens.repositories_of(SERVICE)
    assert system.tokens.pushes_of(SERVICE) == {"iib-build"}
    assert {"community/keda-bundle", "opm"} <= system.tokens.repositories_of(SERVICE)
    assert all(r.status == 200 for r in system.tokens.requests)
