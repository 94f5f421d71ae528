"""An MIT Kerberos KDC (Debian ``krb5-kdc``) on loopback, for the tests and ``iib dev``.

``start_kdc(base, realms=("IIB.TEST",))`` writes ``kdc.conf`` (the realms' databases, stash files
and log under ``base``) and ``krb5.conf`` (the realms' KDC on ``127.0.0.1:<port>``, TCP only; no
DNS lookups or hostname canonicalisation, so ``HTTP@localhost`` is ``HTTP/localhost@<realm>``),
creates each realm's database with ``kdb5_util`` and starts ``krb5kdc -n`` as a
``ManagedProcess`` serving every realm. Nothing outside ``base`` is read or written: every
command runs with ``KRB5_CONFIG`` and ``KRB5_KDC_PROFILE`` pointing there.

Principals are created with random keys (``kadmin.local``) and exported to keytab files, the
way an operator hands a keytab to a service (``HTTP/<host>``) or to a client (``kinit -k -t``).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from services.common.errors import ExternalServiceError
from services.common.processes import ManagedProcess, free_port, tcp_open

__all__ = ["KdcServer", "start_kdc"]

#: kadmin.local lines that are not errors (it exits 0 whatever happened).
_BENIGN = ("Authenticating as principal", "No policy specified for")


def _binary(name: str, package: str) -> str:
    found = shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.access(p, os.X_OK)), None
    )
    if found is None:
        raise ExternalServiceError(
            f"{name} is not installed (Debian package {package}; `make bootstrap` installs it)"
        )
    return found


@dataclass
class KdcServer:
    """A running KDC for ``realms`` (the first is the default realm of ``krb5_conf``)."""

    realms: tuple[str, ...]
    port: int
    base: Path
    krb5_conf: Path
    kdc_conf: Path
    process: ManagedProcess

    @property
    def realm(self) -> str:
        """The default realm."""
        return self.realms[0]

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """``KRB5_CONFIG`` of a client or service of these realms."""
        return {"KRB5_CONFIG": str(self.krb5_conf)}

    def _admin_env(self) -> dict[str, str]:
        return {
            **os.environ,
            "KRB5_CONFIG": str(self.krb5_conf),
            "KRB5_KDC_PROFILE": str(self.kdc_conf),
        }

    def _kadmin(self, realm: str, queries: Iterable[str]) -> None:
        binary = _binary("kadmin.local", "krb5-admin-server")
        for query in queries:
            done = subprocess.run(
                [binary, "-r", realm, "-q", query],
                capture_output=True,
                text=True,
                env=self._admin_env(),
                timeout=30,
                check=False,
            )
            errors = [
                line
                for line in done.stderr.splitlines()
                if line.strip() and not line.startswith(_BENIGN)
            ]
            if done.returncode != 0 or errors:
                raise ExternalServiceError(
                    f"kadmin.local {query.split()[0]} failed in {realm}: {'; '.join(errors)}"
                )

    def add_principals(self, names: Sequence[str], realm: str | None = None) -> list[str]:
        """Create ``names`` (``alice``, ``HTTP/localhost``) with random keys; returns the full
        principal names (``alice@IIB.TEST``)."""
        realm = realm or self.realm
        self._kadmin(realm, [f"addprinc -randkey {name}" for name in names])
        return [f"{name}@{realm}" for name in names]

    def keytab(self, path: Path, names: Sequence[str], realm: str | None = None) -> Path:
        """Export the current keys of principals ``names`` of ``realm`` into keytab ``path``
        (appended; the keys are not changed, so several keytabs may hold one principal)."""
        realm = realm or self.realm
        path.parent.mkdir(parents=True, exist_ok=True)
        self._kadmin(realm, [f"ktadd -k {path} -norandkey {name}" for name in names])
        path.chmod(0o600)
        return path

    def kinit(
        self, principal: str, keytab: Path, ccache: Path, lifetime: str | None = None
    ) -> Path:
        """Get a ticket-granting ticket for ``principal`` from ``keytab`` into ``ccache``."""
        argv = [_binary("kinit", "krb5-user"), "-k", "-t", str(keytab), "-c", f"FILE:{ccache}"]
        if lifetime:
            argv += ["-l", lifetime]
        done = subprocess.run(
            [*argv, principal],
            capture_output=True,
            text=True,
            env={**os.environ, **self.env()},
            timeout=30,
            check=False,
        )
        if done.returncode != 0:
            raise ExternalServiceError(f"kinit {principal} failed: {done.stderr.strip()}")
        return ccache

    def stop(self) -> None:
        self.process.stop()


def _krb5_conf(
    realms: Sequence[str],
    port: int,
    domain_realms: Mapping[str, str],
    clockskew: int,
    ticket_lifetime: str,
) -> str:
    lines = [
        "[libdefaults]",
        f"  default_realm = {realms[0]}",
        "  dns_lookup_kdc = false",
        "  dns_lookup_realm = false",
        "  dns_canonicalize_hostname = false",
        "  rdns = false",
        "  udp_preference_limit = 1",
        f"  clockskew = {clockskew}",
        f"  ticket_lifetime = {ticket_lifetime}",
        "[realms]",
    ]
    for realm in realms:
        lines += [f"  {realm} = {{", f"    kdc = 127.0.0.1:{port}", "  }"]
    lines.append("[domain_realm]")
    lines += [f"  {host} = {realm}" for host, realm in domain_realms.items()]
    return "\n".join(lines) + "\n"


def _kdc_conf(base: Path, realms: Sequence[str], port: int, max_life: str) -> str:
    lines = [
        "[kdcdefaults]",
        '  kdc_listen = ""',
        f"  kdc_tcp_listen = 127.0.0.1:{port}",
        "[realms]",
    ]
    for realm in realms:
        lines += [
            f"  {realm} = {{",
            f"    database_name = {base / 'db' / realm / 'principal'}",
            f"    key_stash_file = {base / 'db' / realm / 'stash'}",
            f"    acl_file = {base / 'kadm5.acl'}",
            f"    max_life = {max_life}",
            "    max_renewable_life = 0",
            "  }",
        ]
    lines += ["[logging]", f"  kdc = FILE:{base / 'kdc.log'}"]
    return "\n".join(lines) + "\n"


def start_kdc(
    base: Path,
    realms: Sequence[str] = ("IIB.TEST",),
    *,
    port: int | None = None,
    domain_realms: Mapping[str, str] | None = None,
    clockskew: int = 300,
    ticket_lifetime: str = "10h",
    timeout: float = 30.0,
) -> KdcServer:
    """Create the realms' databases under ``base`` and start one ``krb5kdc`` serving them.

    ``domain_realms`` maps host names to realms in ``krb5.conf`` (default: ``localhost`` to the
    first realm); ``clockskew`` (seconds) is the libraries' allowed clock skew, which is also how
    old an authenticator may be before an acceptor refuses it."""
    if not realms:
        raise ValueError("start_kdc needs at least one realm")
    kdb5_util = _binary("kdb5_util", "krb5-admin-server")
    krb5kdc = _binary("krb5kdc", "krb5-kdc")
    port = port or free_port()
    base.mkdir(parents=True, exist_ok=True)
    krb5_conf = base / "krb5.conf"
    kdc_conf = base / "kdc.conf"
    krb5_conf.write_text(
        _krb5_conf(
            realms,
            port,
            domain_realms if domain_realms is not None else {"localhost": realms[0]},
            clockskew,
            ticket_lifetime,
        )
    )
    kdc_conf.write_text(_kdc_conf(base, realms, port, ticket_lifetime))
    (base / "kadm5.acl").touch()
    env = {**os.environ, "KRB5_CONFIG": str(krb5_conf), "KRB5_KDC_PROFILE": str(kdc_conf)}
    for realm in realms:
        if (base / "db" / realm / "principal").exists():
            continue
        (base / "db" / realm).mkdir(parents=True, exist_ok=True)
        # -W: no strong random seed needed for a throw-away realm (starts in milliseconds).
        done = subprocess.run(
            [kdb5_util, "-r", realm, "create", "-s", "-W", "-P", secrets.token_urlsafe(24)],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        if done.returncode != 0:
            raise ExternalServiceError(
                f"kdb5_util create {realm} failed: {done.stderr.strip() or done.stdout.strip()}"
            )
    argv = [krb5kdc, "-n", *(arg for realm in realms for arg in ("-r", realm))]
    process = ManagedProcess("krb5kdc", argv, base / "krb5kdc.out", env=env)
    process.start(ready=lambda: tcp_open("127.0.0.1", port), timeout=timeout)
    return KdcServer(tuple(realms), port, base, krb5_conf, kdc_conf, process)
