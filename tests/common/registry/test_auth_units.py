"""Credentials, docker config lookup and WWW-Authenticate parsing (no server needed)."""

from __future__ import annotations

import base64
import json

import pytest

from services.common.errors import ConfigError, ValidationError
from services.common.registry.auth import (
    Challenge,
    Credentials,
    CredentialStore,
    Token,
    TokenCache,
    parse_www_authenticate,
)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _found(store: CredentialStore, registry: str, repository: str | None = None) -> Credentials:
    creds = store.lookup(registry, repository)
    assert creds is not None, f"no credentials for {registry}"
    return creds


def test_bearer_challenge_with_commas_inside_quotes_is_parsed():
    header = (
        'Bearer realm="https://auth.example/token",service="registry.example",'
        'scope="repository:ns/img:pull,push",error="insufficient_scope"'
    )
    [challenge] = parse_www_authenticate(header)
    assert challenge.scheme == "bearer"
    assert challenge.realm == "https://auth.example/token"
    assert challenge.service == "registry.example"
    assert challenge.params["scope"] == "repository:ns/img:pull,push"


def test_several_challenges_in_one_header_are_all_returned():
    challenges = parse_www_authenticate('Basic realm="r1", Bearer realm="https://t/x",service=s')
    assert [(c.scheme, c.realm) for c in challenges] == [("basic", "r1"), ("bearer", "https://t/x")]
    assert challenges[1].service == "s"


def test_credentials_never_show_the_password():
    creds = Credentials("user", "hunter2")
    assert "hunter2" not in repr(creds)
    assert "hunter2" not in str(creds)
    assert "hunter2" not in creds.fingerprint


def test_overwrite_token_is_split_at_the_first_colon():
    creds = Credentials.from_token("robot$ns+bot:pa:ss")
    assert (creds.username, creds.password) == ("robot$ns+bot", "pa:ss")


def test_overwrite_token_without_colon_is_refused_without_echoing_it():
    with pytest.raises(ValidationError) as info:
        Credentials.from_token("sekrit-token")
    assert "sekrit-token" not in str(info.value)


def test_docker_config_lookup_prefers_the_most_specific_key(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(
        json.dumps(
            {
                "auths": {
                    "quay.io": {"auth": _b64("general:pw1")},
                    "quay.io/team": {"auth": _b64("team:pw2")},
                    "https://index.docker.io/v1/": {"auth": _b64("hub:pw3")},
                    "reg.example:5000": {"username": "u", "password": "p"},
                    "helper-only.example": {},
                }
            }
        )
    )
    store = CredentialStore.load(path)
    assert _found(store, "quay.io", "other/img").username == "general"
    assert _found(store, "quay.io", "team/img").username == "team"
    assert _found(store, "docker.io", "library/busybox").username == "hub"
    assert _found(store, "reg.example:5000", "x").password == "p"
    assert store.lookup("helper-only.example", "x") is None
    assert "pw" not in repr(store)


def test_registry_auths_override_the_template_for_their_registry():
    template = CredentialStore.from_docker_config({"auths": {"quay.io": {"auth": _b64("tmpl:a")}}})
    request = CredentialStore.from_docker_config({"auths": {"quay.io": {"auth": _b64("req:b")}}})
    token = {"registry.example": Credentials.from_token("tok:c")}
    merged = template.with_overrides(request).with_overrides(token)
    assert _found(merged, "quay.io").username == "req"
    assert _found(merged, "registry.example").username == "tok"
    assert _found(template, "quay.io").username == "tmpl"


def test_malformed_auth_value_names_the_registry_not_the_value():
    with pytest.raises(ConfigError) as info:
        CredentialStore.from_docker_config({"auths": {"quay.io": {"auth": "not base64!!"}}})
    assert "quay.io" in str(info.value)
    assert "not base64!!" not in str(info.value)


def test_token_cache_keys_by_scope_and_credentials_and_expires():
    cache = TokenCache()
    challenge = Challenge("bearer", {"realm": "https://t/token", "service": "s"})
    pull = cache.key("reg", challenge, ["repository:a:pull"], None)
    push = cache.key("reg", challenge, ["repository:a:pull,push"], None)
    as_user = cache.key("reg", challenge, ["repository:a:pull"], Credentials("u", "p"))
    assert len({pull, push, as_user}) == 3
    cache.put(pull, Token.from_response({"token": "abc", "expires_in": 300}))
    assert cache.get(pull) is not None and cache.get(push) is None
    cache.put(push, Token("old", expires_at=0.0))
    assert cache.get(push) is None
    assert "abc" not in repr(cache.get(pull))
