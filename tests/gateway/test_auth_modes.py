"""IIB_AUTH_MODES: derived from the older settings when unset, each mode needs its setting."""

from __future__ import annotations

from typing import Any

import pytest

from services.common.config import load_settings
from services.common.errors import ConfigError
from services.gateway.auth import TrustedHeaderProvider, auth_modes, providers_from_settings


def _settings(**values: Any) -> Any:
    required = {"IIB_REQUEST_RECURSIVE_RELATED_BUNDLES_DIR": "/tmp/nested"}
    return load_settings(environ={}, overrides={**required, **values})


def test_without_the_setting_the_modes_follow_the_older_settings() -> None:
    assert auth_modes(_settings()) == ()
    # a configuration from before IIB_AUTH_MODES keeps its front proxy
    old = _settings(IIB_AUTH_TRUSTED_HEADER="X-Remote-User")
    assert auth_modes(old) == ("trusted_header",)
    [provider] = providers_from_settings(old)
    assert isinstance(provider, TrustedHeaderProvider) and provider.header == "x-remote-user"
    both = _settings(
        IIB_AUTH_TRUSTED_HEADER="X-Remote-User",
        IIB_AUTH_KERBEROS_PRINCIPAL="HTTP/iib.example.com@EXAMPLE.COM",
        IIB_AUTH_CLIENT_CA="/etc/iib/clients.pem",
    )
    assert auth_modes(both) == ("kerberos", "client_certificate", "trusted_header")
    listed = _settings(IIB_AUTH_MODES='["trusted_header"]', IIB_AUTH_TRUSTED_HEADER="X-User")
    assert auth_modes(listed) == ("trusted_header",)


def test_a_mode_without_its_setting_is_refused_at_start() -> None:
    with pytest.raises(ConfigError, match="IIB_AUTH_KERBEROS_PRINCIPAL"):
        providers_from_settings(_settings(IIB_AUTH_MODES=["kerberos"]))
    with pytest.raises(ConfigError, match="IIB_AUTH_CLIENT_CA"):
        providers_from_settings(_settings(IIB_AUTH_MODES=["client_certificate"]))
    with pytest.raises(ConfigError, match="IIB_AUTH_TRUSTED_HEADER"):
        providers_from_settings(_settings(IIB_AUTH_MODES=["trusted_header"]))
    with pytest.raises(ConfigError, match="IIB_AUTH_MODES.*'negotiate'"):
        _settings(IIB_AUTH_MODES=["negotiate"])
    with pytest.raises(ConfigError, match="IIB_AUTH_MODES.*twice"):
        _settings(IIB_AUTH_MODES=["trusted_header", "trusted_header"])
