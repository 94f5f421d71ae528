"""Start the real docker-registry (distribution 2.8, Debian package) on loopback.

``start_registry(base_dir)`` writes ``config.yml`` under ``base_dir`` (never the packaged
``/etc/docker/registry/config.yml``, which listens on all interfaces), starts
``docker-registry serve`` as a ``ManagedProcess`` on ``127.0.0.1:<port>`` and waits for ``/v2/``.
Optional: TLS (a self-signed certificate is generated when none is given), htpasswd users
(bcrypt, written with ``htpasswd -B``) or Bearer-token auth (``TokenAuthConfig``).
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from services.common.errors import ConfigError
from services.common.processes import ManagedProcess, free_port, http_ok
from services.common.tls import make_self_signed

__all__ = [
    "REGISTRY_BINARY",
    "RegistryServer",
    "TLSFiles",
    "TokenAuthConfig",
    "make_self_signed_certificate",
    "start_registry",
    "write_htpasswd",
]

REGISTRY_BINARY = "/usr/bin/docker-registry"


@dataclass(frozen=True)
class TLSFiles:
    """A PEM certificate and its key; ``cert`` doubles as the CA clients must trust."""

    cert: Path
    key: Path


@dataclass(frozen=True)
class TokenAuthConfig:
    """distribution's ``auth.token`` section: where tokens come from and how they are checked."""

    realm: str
    service: str
    issuer: str
    root_cert_bundle: Path


@dataclass
class RegistryServer:
    """A running registry: where it listens, how to trust it, and ``stop()``."""

    process: ManagedProcess
    host: str
    port: int
    scheme: str
    base_dir: Path
    config_path: Path
    data_dir: Path
    tls: TLSFiles | None = None

    @property
    def registry(self) -> str:
        """``host:port``, the registry part of pull specs."""
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """``http(s)://host:port``."""
        return f"{self.scheme}://{self.registry}"

    @property
    def ca_path(self) -> Path | None:
        """The CA certificate clients must trust (None for plain HTTP)."""
        return self.tls.cert if self.tls else None

    @property
    def cert_dir(self) -> Path | None:
        """A directory holding the CA as ``ca.crt`` (what ``skopeo --cert-dir`` reads)."""
        if self.tls is None:
            return None
        directory = self.base_dir / "certs.d"
        directory.mkdir(exist_ok=True)
        target = directory / "ca.crt"
        if not target.exists():
            shutil.copyfile(self.tls.cert, target)
        return directory

    @property
    def pid(self) -> int | None:
        """PID of the registry process."""
        return self.process.pid

    def stop(self) -> None:
        """Stop the registry (SIGTERM, then SIGKILL)."""
        self.process.stop(grace=5)


def make_self_signed_certificate(
    directory: Path,
    hosts: Sequence[str] = ("127.0.0.1", "localhost"),
    name: str = "registry",
    days: int = 30,
) -> TLSFiles:
    """Write ``<name>.crt``/``<name>.key``: a self-signed RSA certificate valid for ``hosts``."""
    files = TLSFiles(directory / f"{name}.crt", directory / f"{name}.key")
    make_self_signed(files.cert, files.key, tuple(hosts), days)
    return files


def write_htpasswd(path: Path, users: Mapping[str, str]) -> Path:
    """Write an htpasswd file with bcrypt entries (distribution accepts nothing else).

    Uses ``htpasswd -iBn`` (apache2-utils) with the password on stdin, never on the command line.
    """
    binary = shutil.which("htpasswd")
    if binary is None:
        raise ConfigError("htpasswd (apache2-utils) is needed to write registry users")
    lines = []
    for user, password in users.items():
        result = subprocess.run(
            [binary, "-iBn", "-C", "5", user],
            input=password.encode(),
            capture_output=True,
            check=False,
        )
        if result.returncode != 0:
            raise ConfigError(f"htpasswd failed for user {user}: {result.stderr.decode().strip()}")
        lines.append(result.stdout.decode().strip())
    path.write_text("\n".join(lines) + "\n")
    return path


def start_registry(
    base_dir: Path,
    *,
    port: int | None = None,
    tls: TLSFiles | bool = False,
    htpasswd_users: Mapping[str, str] | None = None,
    token_auth: TokenAuthConfig | None = None,
    log_level: str = "warn",
    binary: str = REGISTRY_BINARY,
    ready_timeout: float = 30.0,
) -> RegistryServer:
    """Write a config under ``base_dir`` and start docker-registry on ``127.0.0.1:<port>``.

    ``tls=True`` generates a self-signed certificate for 127.0.0.1/localhost; pass ``TLSFiles``
    to use existing ones. ``htpasswd_users`` and ``token_auth`` are mutually exclusive.
    """
    if htpasswd_users and token_auth:
        raise ConfigError("A registry uses either htpasswd users or token auth, not both")
    base_dir = Path(base_dir)
    base_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    data_dir = base_dir / "data"
    data_dir.mkdir(exist_ok=True)
    tls_files = make_self_signed_certificate(base_dir / "tls") if tls is True else (tls or None)

    http: dict[str, object] = {"addr": f"127.0.0.1:{port}", "secret": secrets.token_hex(16)}
    if tls_files is not None:
        http["tls"] = {"certificate": str(tls_files.cert), "key": str(tls_files.key)}
    config: dict[str, object] = {
        "version": 0.1,
        "log": {"level": log_level, "accesslog": {"disabled": True}},
        "storage": {
            "filesystem": {"rootdirectory": str(data_dir)},
            "delete": {"enabled": True},
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": http,
    }
    if htpasswd_users:
        htpasswd = write_htpasswd(base_dir / "htpasswd", htpasswd_users)
        config["auth"] = {"htpasswd": {"realm": "iib-registry", "path": str(htpasswd)}}
    elif token_auth is not None:
        config["auth"] = {
            "token": {
                "realm": token_auth.realm,
                "service": token_auth.service,
                "issuer": token_auth.issuer,
                "rootcertbundle": str(token_auth.root_cert_bundle),
            }
        }
    config_path = base_dir / "config.yml"
    # JSON is valid YAML; no YAML library needed.
    config_path.write_text(json.dumps(config, indent=2) + "\n")

    scheme = "https" if tls_files else "http"
    process = ManagedProcess(
        f"docker-registry on 127.0.0.1:{port}",
        [binary, "serve", str(config_path)],
        base_dir / "registry.log",
        env={"PATH": "/usr/bin:/bin", "HOME": str(base_dir)},
    )
    expect = (401,) if (htpasswd_users or token_auth) else (200,)
    process.start(
        ready=lambda: http_ok(f"{scheme}://127.0.0.1:{port}/v2/", expect), timeout=ready_timeout
    )
    return RegistryServer(
        process=process,
        host="127.0.0.1",
        port=port,
        scheme=scheme,
        base_dir=base_dir,
        config_path=config_path,
        data_dir=data_dir,
        tls=tls_files,
    )
