"""Generated artefacts are fresh and the Envoy configuration is valid."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from services.common.tls import make_self_signed
from services.gateway.envoy_config import EnvoyLayout, render_envoy_config
from services.gateway.server import envoy_binary

REPO = Path(__file__).resolve().parents[1]


def test_committed_protobuf_code_is_not_stale() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "gen_protos.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_rendered_envoy_config_validates(tmp_path: Path) -> None:
    make_self_signed(tmp_path / "c.crt", tmp_path / "c.key")
    for tls in (False, True):
        layout = EnvoyLayout(
            listen="127.0.0.1:8443",
            admin_port=9901,
            request_store="127.0.0.1:50051",
            auth_service="127.0.0.1:50052",
            tls_cert=tmp_path / "c.crt" if tls else None,
            tls_key=tmp_path / "c.key" if tls else None,
        )
        config = tmp_path / f"envoy-{tls}.yaml"
        config.write_text(render_envoy_config(layout))
        result = subprocess.run(
            [envoy_binary(), "--mode", "validate", "-c", str(config), "--disable-hot-restart"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
