"""GitLab push through the whole system: an overwrite_from_index add on an index of
IIB_INDEX_TO_GITLAB_PUSH_MAP pushes the built /configs to the mapped Git repository (a real
git http-backend behind basic auth) with IIB's commit message, and when from_index cannot be
overwritten (its registry answers 500 to the tag's manifest PUT, through a fault proxy) the
commit is reverted and the request fails (IIB's ``_overwrite_from_index``)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.common.registry.client import RegistryClient, RegistrySettings
from services.common.registry.images import ImageService
from services.tooling.servers.git_http import GitHttpServer, start_git_http
from tests.common.registry.faultproxy import FaultProxy
from tests.e2e.conftest import EndToEnd

pytestmark = [pytest.mark.db, pytest.mark.slow]

TOKEN_NAME, TOKEN = "iib-bot", "glpat-e2e-s3cret"
BRANCH = "v4.14"


@pytest.fixture(scope="module")
def git_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitHttpServer]:
    server = start_git_http(tmp_path_factory.mktemp("git"), TOKEN_NAME, TOKEN)
    server.create_repository(
        "index-configs",
        BRANCH,
        {"configs/retired-op/catalog.json": "{}", "README.md": "catalog of product/index\n"},
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def proxy() -> Iterator[FaultProxy]:
    """The registry of from_index: a fault proxy (its upstream set once the system is up)."""
    proxy = FaultProxy("127.0.0.1:1").start()
    yield proxy
    proxy.stop()


@pytest.fixture(scope="module")
def e2e(
    tmp_path_factory: pytest.TempPathFactory,
    new_database_url: Any,
    git_server: GitHttpServer,
    proxy: FaultProxy,
) -> Iterator[EndToEnd]:
    """The module's system, with from_index's repository mapped to the Git repository."""
    repository = git_server.url("index-configs")
    system = EndToEnd(
        tmp_path_factory.mktemp("e2e"),
        new_database_url(),
        {
            "IIB_INDEX_TO_GITLAB_PUSH_MAP": json.dumps(
                {f"{proxy.registry}/product/index": repository}
            ),
            "IIB_INDEX_CONFIGS_GITLAB_TOKENS_MAP": json.dumps(
                {repository: f"{TOKEN_NAME}:{TOKEN}"}
            ),
            # every loopback registry (the fault proxy's port is one more)
            "IIB_INSECURE_REGISTRIES": json.dumps(["127.0.0.1"]),
            "IIB_ALLOWED_REGISTRIES": json.dumps(["127.0.0.1:*"]),
        },
    )
    proxy.upstream = system.registry.registry
    try:
        yield system
    finally:
        system.close()


def _git(server: GitHttpServer, *args: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(server.bare("index-configs")), *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def test_overwrite_pushes_the_configs_and_a_failed_overwrite_reverts_them(
    e2e: EndToEnd,
    bundles: dict[str, list[str]],
    binary: str,
    git_server: GitHttpServer,
    proxy: FaultProxy,
    tmp_path: Path,
) -> None:
    keda = bundles["keda"]
    first = e2e.build(
        "add", {"bundles": [keda[0]], "binary_image": binary, "add_arches": ["amd64"]}
    )
    assert first["state"] == "complete", first["state_reason"]
    from_index = f"{proxy.registry}/product/index:{BRANCH}"
    images = ImageService(
        RegistryClient(RegistrySettings(insecure_registries=frozenset({"127.0.0.1"})))
    )
    images.copy(first["index_image"], [from_index])
    initial = _git(git_server, "rev-parse", BRANCH)

    body = {
        "bundles": [keda[1]],
        "binary_image": binary,
        "from_index": from_index,
        "overwrite_from_index": True,
        "overwrite_from_index_token": "iib:unused",
        "add_arches": ["amd64"],
    }
    done = e2e.build("add", body)
    assert done["state"] == "complete", done["state_reason"]
    assert done["index_image"] == from_index
    pushed = _git(git_server, "rev-parse", BRANCH)
    assert _git(git_server, "log", "-1", "--format=%P|%s|%an", BRANCH) == (
        f"{initial}|IIB: Update for request id {done['id']} (overwrite_from_index)|IIB Worker"
    )
    files = _git(git_server, "ls-tree", "-r", "--name-only", BRANCH).split()
    assert any(f.startswith("configs/keda/") for f in files)
    assert "configs/retired-op/catalog.json" in files  # not removed by an add: IIB leaves it
    catalog = "\n".join(
        _git(git_server, "show", f"{BRANCH}:{f}") for f in files if f.startswith("configs/keda/")
    )
    assert "keda.v1.5.0" in catalog

    # from_index's registry refuses the overwrite: the request fails, the commit is reverted
    proxy.add("PUT", rf"/v2/product/index/manifests/{BRANCH}$", status=500, times=1000)
    failed = e2e.build("add", {**body, "bundles": [keda[2]]})
    assert failed["state"] == "failed"
    assert failed["state_reason"].startswith(
        f"Failed to overwrite the input from_index container image of {from_index}"
    )
    assert _git(git_server, "rev-parse", BRANCH) == pushed
    log = (git_server.process.log_path).read_text()
    # the failed request pushed its commit, then moved the branch back
    assert log.count("POST /index-configs.git/git-receive-pack") == 3
