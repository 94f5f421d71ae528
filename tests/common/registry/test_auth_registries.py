"""Authentication against real registries: TLS + htpasswd (Basic) and TLS + Bearer tokens."""

from __future__ import annotations

import base64
import json
import logging

import pytest

from services.common.errors import RegistryError
from services.common.registry.auth import Credentials, CredentialStore
from services.common.registry.client import RegistryClient
from services.common.registry.errors import RegistryAuthError
from services.common.registry.images import ImageService
from services.common.registry.layers import LayerFile, build_layer
from tests.common.registry.conftest import PASSWORD, READER, READER_PASSWORD, USER
from tests.common.registry.helpers import fast_settings, push_base_image, skopeo_inspect


def _docker_config(tmp_path, registry: str, user: str, password: str):
    path = tmp_path / "config.json"
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    path.write_text(json.dumps({"auths": {registry: {"auth": auth}}}))
    return path


def _assert_no_secret(text: str) -> None:
    encoded = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert PASSWORD not in text
    assert encoded not in text


# ---------------------------------------------------------------- TLS + htpasswd (Basic)


def test_basic_auth_from_docker_config_pushes_and_skopeo_reads_it(
    tls_registry, repo, tmp_path, caplog
):
    caplog.set_level(logging.DEBUG)
    settings = fast_settings(
        docker_config_path=_docker_config(tmp_path, tls_registry.registry, USER, PASSWORD),
        ca_bundles={tls_registry.registry: tls_registry.ca_path},
    )
    with RegistryClient(settings) as client:
        images = ImageService(client)
        base = push_base_image(
            client, f"{tls_registry.registry}/{repo}-bin:v1", tmp_path, arches=("amd64", "arm64")
        )
        layer = build_layer([LayerFile("configs/a.json", data=b"{}")], tmp_path / "l.tgz")
        result = images.build(base.spec, [f"{tls_registry.registry}/{repo}:1"], [layer])
        assert images.resolve(f"{tls_registry.registry}/{repo}:1").endswith(result.digest)
        _assert_no_secret(repr(client))
    inspected = skopeo_inspect(
        f"{tls_registry.registry}/{repo}:1", tls_registry, creds=f"{USER}:{PASSWORD}"
    )
    assert inspected["Digest"] == result.digest
    _assert_no_secret(caplog.text)


def test_wrong_password_is_an_auth_error_naming_the_image_without_the_secret(
    tls_registry, repo, caplog
):
    caplog.set_level(logging.DEBUG)
    settings = fast_settings(ca_bundles={tls_registry.registry: tls_registry.ca_path})
    wrong = Credentials(USER, "not-" + PASSWORD)
    with RegistryClient(settings, credentials={tls_registry.registry: wrong}) as client:
        with pytest.raises(RegistryAuthError) as info:
            client.get_manifest(f"{tls_registry.registry}/{repo}:v1")
    assert f"{tls_registry.registry}/{repo}:v1" in str(info.value)
    assert "HTTP 401" in str(info.value)
    assert wrong.password not in str(info.value) and wrong.password not in caplog.text


def test_anonymous_client_is_refused_by_the_htpasswd_registry(tls_registry, repo):
    settings = fast_settings(ca_bundles={tls_registry.registry: tls_registry.ca_path})
    with (
        RegistryClient(settings) as client,
        pytest.raises(RegistryAuthError, match="authentication failed"),
    ):
        client.upload_blob(f"{tls_registry.registry}/{repo}", b"x")


def test_without_the_ca_bundle_tls_verification_fails_clearly(tls_registry, repo):
    with RegistryClient(fast_settings()) as client:
        with pytest.raises(RegistryError, match=f"{tls_registry.registry}.*TLS"):
            client.get_manifest(f"{tls_registry.registry}/{repo}:v1")


def test_global_ca_bundle_is_used_for_every_registry(tls_registry, repo):
    settings = fast_settings(ca_bundle=tls_registry.ca_path)
    creds = {tls_registry.registry: Credentials(USER, PASSWORD)}
    with RegistryClient(settings, credentials=creds) as client:
        digest = client.upload_blob(f"{tls_registry.registry}/{repo}", b"global ca")
        assert client.blob_exists(f"{tls_registry.registry}/{repo}", digest) == 9


# ---------------------------------------------------------------- TLS + Bearer tokens


def _token_client(token_setup, **credentials: Credentials) -> RegistryClient:
    registry = token_setup.registry
    return RegistryClient(
        fast_settings(ca_bundles={registry.registry: registry.ca_path}),
        credentials={registry.registry: next(iter(credentials.values()))} if credentials else None,
    )


def test_bearer_tokens_are_cached_per_scope(token_setup, repo, tmp_path):
    registry = token_setup.registry.registry
    tokens = token_setup.tokens
    with _token_client(token_setup, worker=Credentials(USER, PASSWORD)) as client:
        spec = f"{registry}/{repo}"
        digest = client.upload_blob(spec, b"blob one")  # HEAD (pull) then POST/PUT (push)
        client.upload_blob(spec, b"blob two")
        client.read_blob(spec, digest)
        client.read_blob(spec, digest)
        pull = [
            r
            for r in tokens.requests_for(f"repository:{repo}:pull")
            if r.scopes == (f"repository:{repo}:pull",)
        ]
        push = tokens.requests_for(f"repository:{repo}:pull,push")
        assert len(pull) == 1, tokens.requests
        assert len(push) == 1, tokens.requests
        assert push[0].user == USER and push[0].granted == (f"repository:{repo}:pull,push",)


def test_mount_asks_one_token_for_both_repositories(token_setup, repo):
    registry = token_setup.registry.registry
    with _token_client(token_setup, worker=Credentials(USER, PASSWORD)) as client:
        digest = client.upload_blob(f"{registry}/{repo}-a", b"mount me")
        assert client.mount_blob(f"{registry}/{repo}-b", digest, f"{repo}-a") is True
    [request] = token_setup.tokens.requests_for(f"repository:{repo}-b:pull,push")
    assert set(request.scopes) == {f"repository:{repo}-b:pull,push", f"repository:{repo}-a:pull"}


def test_anonymous_pull_works_and_anonymous_push_is_denied_by_name(token_setup, repo, tmp_path):
    registry = token_setup.registry.registry
    with _token_client(token_setup, worker=Credentials(USER, PASSWORD)) as writer:
        base = push_base_image(writer, f"{registry}/{repo}:v1", tmp_path, arches=("amd64",))
    with _token_client(token_setup) as anonymous:
        assert ImageService(anonymous).resolve(f"{registry}/{repo}:v1").endswith(base.digest)
        with pytest.raises(RegistryAuthError, match=f"{registry}/{repo}"):
            anonymous.upload_blob(f"{registry}/{repo}", b"nope")


def test_read_only_user_cannot_push(token_setup, repo):
    registry = token_setup.registry.registry
    with _token_client(token_setup, reader=Credentials(READER, READER_PASSWORD)) as client:
        with pytest.raises(RegistryAuthError):
            client.upload_blob(f"{registry}/{repo}", b"nope")


def test_wrong_password_is_refused_by_the_token_service(token_setup, repo):
    registry = token_setup.registry.registry
    with _token_client(token_setup, worker=Credentials(USER, "bad")) as client:
        with pytest.raises(
            RegistryAuthError, match="token service .* refused the credentials"
        ) as info:
            client.get_manifest(f"{registry}/{repo}:v1")
    assert "bad" not in str(info.value).replace(registry, "")


def test_overwrite_token_for_the_from_index_registry_only_lives_in_the_derived_client(
    token_setup, repo, tmp_path
):
    registry = token_setup.registry.registry
    base_client = _token_client(token_setup)  # the worker's template has no credentials here
    with base_client:
        token_client = base_client.with_credentials(
            {registry: Credentials.from_token(f"{USER}:{PASSWORD}")}
        )
        push_base_image(token_client, f"{registry}/{repo}:v4.15", tmp_path, arches=("amd64",))
        images = ImageService(token_client)
        images.copy(f"{registry}/{repo}:v4.15", [f"{registry}/{repo}:overwritten"])
        with pytest.raises(RegistryAuthError):
            ImageService(base_client).copy(f"{registry}/{repo}:v4.15", [f"{registry}/{repo}:again"])
        _assert_no_secret(repr(token_client))
    got = skopeo_inspect(
        f"{registry}/{repo}:overwritten", token_setup.registry, creds=f"{USER}:{PASSWORD}"
    )
    assert got["Architecture"] == "amd64"


def test_registry_auths_of_a_request_are_used_without_touching_disk(token_setup, repo, tmp_path):
    registry = token_setup.registry.registry
    auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    registry_auths = {"auths": {registry: {"auth": auth}}}
    with _token_client(token_setup) as template:
        client = template.with_credentials(
            CredentialStore.from_docker_config(registry_auths, "registry_auths")
        )
        assert client.upload_blob(f"{registry}/{repo}", b"with request auths").startswith("sha256:")
