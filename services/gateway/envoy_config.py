"""Renders ``deploy/envoy/envoy.yaml.tmpl`` into the Envoy bootstrap for the chosen ports and TLS."""

from __future__ import annotations

import ipaddress
import string
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from services.common.errors import ConfigError

__all__ = ["EnvoyLayout", "render_envoy_config"]

DEPLOY_DIR = Path(__file__).resolve().parents[2] / "deploy" / "envoy"


@dataclass(frozen=True)
class EnvoyLayout:
    """Where Envoy listens and what it talks to."""

    listen: str
    admin_port: int
    request_store: str
    auth_service: str
    tls_cert: Path | None = None
    tls_key: Path | None = None
    #: Internal mutual TLS towards the request store and the auth service (CA, cert, key).
    internal_tls: tuple[Path, Path, Path] | None = None
    #: CA bundle client certificates are verified against (client_certificate mode): Envoy
    #: asks HTTPS clients for a certificate and passes the verified one to the auth service.
    client_ca: Path | None = None
    #: OTLP/HTTP traces endpoint (``http://collector:4318/v1/traces``): Envoy then starts a span
    #: per request and passes the W3C context on to the auth service and the request store.
    otlp_traces_endpoint: str | None = None
    #: The ``service.name`` of Envoy's spans.
    trace_service_name: str = "iib-gateway"


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _resolve_names(config: dict[str, Any]) -> None:
    """A cluster whose address is a host name (a Kubernetes Service, a compose service) is
    resolved by DNS, every address of the name being an endpoint (STRICT_DNS: a headless
    Service spreads the calls over its pods); an IP address stays STATIC."""
    for cluster in config["static_resources"]["clusters"]:
        for endpoints in cluster["load_assignment"]["endpoints"]:
            for endpoint in endpoints["lb_endpoints"]:
                host = endpoint["endpoint"]["address"]["socket_address"]["address"]
                if not _is_ip(host):
                    cluster["type"] = "STRICT_DNS"
                    cluster["dns_lookup_family"] = "V4_PREFERRED"


def _add_tracing(config: dict[str, Any], endpoint: str, service_name: str) -> None:
    """Envoy's OpenTelemetry tracer exporting over OTLP/HTTP to ``endpoint``."""
    url = urllib.parse.urlsplit(endpoint)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ConfigError(
            f"Invalid setting OTEL_EXPORTER_OTLP_ENDPOINT: {endpoint!r} is not an http(s) URL"
        )
    port = url.port or (443 if url.scheme == "https" else 80)
    cluster: dict[str, Any] = {
        "name": "otlp_collector",
        "type": "STATIC" if _is_ip(url.hostname) else "STRICT_DNS",
        "connect_timeout": "2s",
        "load_assignment": {
            "cluster_name": "otlp_collector",
            "endpoints": [
                {
                    "lb_endpoints": [
                        {
                            "endpoint": {
                                "address": {
                                    "socket_address": {"address": url.hostname, "port_value": port}
                                }
                            }
                        }
                    ]
                }
            ],
        },
    }
    if url.scheme == "https":
        cluster["transport_socket"] = {
            "name": "envoy.transport_sockets.tls",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3."
                "UpstreamTlsContext",
                "sni": url.hostname,
                "common_tls_context": {
                    "validation_context": {"trusted_ca": {"filename": _SYSTEM_CA}}
                },
            },
        }
    config["static_resources"]["clusters"].append(cluster)
    manager = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
    manager["typed_config"]["tracing"] = {
        "provider": {
            "name": "envoy.tracers.opentelemetry",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig",
                "http_service": {
                    "http_uri": {
                        "uri": endpoint,
                        "cluster": "otlp_collector",
                        "timeout": "2s",
                    }
                },
                "service_name": service_name,
            },
        },
    }


#: Debian's CA bundle: the OTLP collector's certificate is checked against it.
_SYSTEM_CA = "/etc/ssl/certs/ca-certificates.crt"


def _verify_clients(config: dict[str, Any], tls_context: dict[str, Any], ca: Path) -> None:
    """Ask every client for a certificate, verify one that is sent against ``ca`` (a bad one
    fails the handshake; none leaves the client anonymous), and hand the verified certificate
    to the auth service. Envoy replaces any client-sent ``x-forwarded-client-cert``."""
    if not ca.is_file():
        raise ConfigError(f"Invalid setting IIB_AUTH_CLIENT_CA: {ca} does not exist")
    typed = tls_context["typed_config"]
    typed["require_client_certificate"] = False
    typed["common_tls_context"]["validation_context"] = {
        "trusted_ca": {"filename": str(ca.resolve())}
    }
    chain = config["static_resources"]["listeners"][0]["filter_chains"][0]
    for network_filter in chain["filters"]:
        manager = network_filter["typed_config"]
        manager["forward_client_cert_details"] = "SANITIZE"
        for http_filter in manager["http_filters"]:
            if http_filter["name"] == "envoy.filters.http.ext_authz":
                http_filter["typed_config"]["include_peer_certificate"] = True


def render_envoy_config(layout: EnvoyLayout, deploy_dir: Path = DEPLOY_DIR) -> str:
    """The bootstrap YAML text for ``layout``."""
    listen_host, listen_port = _split(layout.listen)
    store_host, store_port = _split(layout.request_store)
    auth_host, auth_port = _split(layout.auth_service)
    template = string.Template((deploy_dir / "envoy.yaml.tmpl").read_text())
    text = template.substitute(
        admin_port=layout.admin_port,
        listen_host=listen_host,
        listen_port=listen_port,
        store_host=store_host,
        store_port=store_port,
        auth_host=auth_host,
        auth_port=auth_port,
        lua_path=str(deploy_dir / "rest_face.lua"),
        descriptor_path=str(deploy_dir / "iib.pb"),
    )
    config = yaml.safe_load(text)
    if layout.tls_cert or layout.tls_key:
        if not (layout.tls_cert and layout.tls_key):
            raise ConfigError("IIB_GATEWAY_TLS_CERT and IIB_GATEWAY_TLS_KEY must be set together")
        for path, name in (
            (layout.tls_cert, "IIB_GATEWAY_TLS_CERT"),
            (layout.tls_key, "IIB_GATEWAY_TLS_KEY"),
        ):
            if not path.is_file():
                raise ConfigError(f"Invalid setting {name}: {path} does not exist")
        chain = config["static_resources"]["listeners"][0]["filter_chains"][0]
        tls_context: dict[str, Any] = {
            "name": "envoy.transport_sockets.tls",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3."
                "DownstreamTlsContext",
                "common_tls_context": {
                    "alpn_protocols": ["h2", "http/1.1"],
                    "tls_certificates": [
                        {
                            "certificate_chain": {"filename": str(layout.tls_cert.resolve())},
                            "private_key": {"filename": str(layout.tls_key.resolve())},
                        }
                    ],
                },
            },
        }
        chain["transport_socket"] = tls_context
        if layout.client_ca is not None:
            _verify_clients(config, tls_context, layout.client_ca)
    elif layout.client_ca is not None:
        raise ConfigError(
            "IIB_AUTH_CLIENT_CA needs HTTPS: set IIB_GATEWAY_TLS_CERT and IIB_GATEWAY_TLS_KEY"
        )
    if layout.internal_tls is not None:
        ca, cert, key = (path.resolve() for path in layout.internal_tls)
        for cluster in config["static_resources"]["clusters"]:
            cluster["transport_socket"] = {
                "name": "envoy.transport_sockets.tls",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3."
                    "UpstreamTlsContext",
                    "common_tls_context": {
                        "alpn_protocols": ["h2"],
                        "tls_certificates": [
                            {
                                "certificate_chain": {"filename": str(cert)},
                                "private_key": {"filename": str(key)},
                            }
                        ],
                        "validation_context": {"trusted_ca": {"filename": str(ca)}},
                    },
                },
            }
    _resolve_names(config)
    if layout.otlp_traces_endpoint:
        _add_tracing(config, layout.otlp_traces_endpoint, layout.trace_service_name)
    return yaml.safe_dump(config, sort_keys=False, width=1000)
