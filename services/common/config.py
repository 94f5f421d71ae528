"""Typed settings, loaded once at start-up from the environment and an optional settings file.

Every setting has IIB's name (``IIB_MAX_PER_PAGE``, ``LOGIN_DISABLED``, ``iib_registry`` ...).
Sources, later ones winning:

1. the defaults below;
2. the settings file named by ``IIB_SETTINGS_FILE``: a Python file (IIB's ``settings.py``
   style: module-level assignments) or a JSON object;
3. environment variables with the setting's name; structured values (lists, dicts) are JSON,
   booleans are ``true``/``false``/``1``/``0``/``yes``/``no``.

A missing or malformed setting raises ``ConfigError`` whose message names the setting, so a
service refuses to start instead of misbehaving later. ``docs/configuration.md`` lists them all.
"""

from __future__ import annotations

import builtins
import dataclasses
import ipaddress
import json
import logging
import os
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.common.errors import ConfigError

__all__ = ["CUSTOMIZATION_PARAMETERS", "Settings", "describe_settings", "load_settings"]

Parser = Callable[[str, Any], Any]
log = logging.getLogger(__name__)


# --- parsers: (setting name, raw value) -> typed value; raw is a str from the environment or
# any Python value from a settings file -------------------------------------------------------


def _json_if_str(name: str, raw: Any, expected: str) -> Any:
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise ConfigError(
                f"Invalid setting {name}: expected {expected} as JSON ({exc})"
            ) from exc
    return raw


def p_str(name: str, raw: Any) -> str:
    if not isinstance(raw, str):
        raise ConfigError(f"Invalid setting {name}: expected a string, got {raw!r}")
    return raw


def p_opt_str(name: str, raw: Any) -> str | None:
    if raw is None or raw == "":
        return None
    return p_str(name, raw)


def p_bool(name: str, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if isinstance(raw, str) and raw.strip().lower() in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"Invalid setting {name}: expected a boolean (true/false), got {raw!r}")


def p_int(minimum: int | None = None) -> Parser:
    def parse(name: str, raw: Any) -> int:
        value: Any = raw
        if isinstance(raw, str):
            try:
                value = int(raw.strip())
            except ValueError:
                value = None
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(f"Invalid setting {name}: expected an integer, got {raw!r}")
        if minimum is not None and value < minimum:
            raise ConfigError(f"Invalid setting {name}: must be at least {minimum}, got {value}")
        return value

    return parse


def p_float(minimum: float | None = None) -> Parser:
    def parse(name: str, raw: Any) -> float:
        try:
            value = float(raw.strip() if isinstance(raw, str) else raw)
        except (TypeError, ValueError):
            raise ConfigError(f"Invalid setting {name}: expected a number, got {raw!r}") from None
        if minimum is not None and value < minimum:
            raise ConfigError(f"Invalid setting {name}: must be at least {minimum}, got {value}")
        return value

    return parse


def p_str_list(name: str, raw: Any) -> tuple[str, ...]:
    value = _json_if_str(name, raw, "a list of strings")
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"Invalid setting {name}: expected a list of strings, got {raw!r}")
    return tuple(value)


def p_host_patterns(name: str, raw: Any) -> tuple[str, ...] | None:
    """Host patterns (``quay.io``, ``*.example.com``, ``127.0.0.1:5000``, ``host:*``); unset:
    None (any host)."""
    if raw is None or raw == "":
        return None
    patterns = p_str_list(name, raw)
    for pattern in patterns:
        host, _, port = pattern.rpartition(":") if pattern.count(":") == 1 else (pattern, "", "")
        bare = host.removeprefix("*.")
        if (
            not bare
            or any(c in bare for c in "*/@[] \t")
            or (port and port != "*" and not port.isdigit())
        ):
            raise ConfigError(
                f"Invalid setting {name}: {pattern!r} is not a host pattern (host, *.domain, "
                "optionally :port or :*; no scheme, path or user)"
            )
    return patterns


def p_dict(name: str, raw: Any) -> dict[str, Any]:
    value = _json_if_str(name, raw, "an object")
    if not isinstance(value, dict):
        raise ConfigError(f"Invalid setting {name}: expected an object (dict), got {raw!r}")
    return dict(value)


def p_str_dict(name: str, raw: Any) -> dict[str, str]:
    value = p_dict(name, raw)
    for key, val in value.items():
        if not isinstance(key, str) or not isinstance(val, str):
            raise ConfigError(f"Invalid setting {name}: keys and values must be strings")
    return value


def p_binary_image_config(name: str, raw: Any) -> dict[str, dict[str, str]]:
    value = _json_if_str(name, raw, "an object")
    if not isinstance(value, dict):
        raise ConfigError(
            f"Invalid setting {name}: must be a dict mapping distribution_scope to another dict "
            "mapping ocp_version to binary_image"
        )
    for scope, inner in value.items():
        if scope not in ("dev", "stage", "prod"):
            raise ConfigError(
                f"Invalid setting {name}: distribution_scope values must be one of the "
                f'following "prod", "stage" or "dev" strings, got {scope!r}'
            )
        if not isinstance(inner, dict):
            raise ConfigError(
                f"Invalid setting {name}: value for distribution_scope {scope!r} must be a dict "
                "mapping ocp_version to binary_image"
            )
        for ocp_version, image in inner.items():
            if not isinstance(ocp_version, str) or not isinstance(image, str):
                raise ConfigError(
                    f"Invalid setting {name}: all ocp_version and binary_image values must be "
                    "strings"
                )
    return value


def p_user_to_queue(name: str, raw: Any) -> dict[str, str | dict[str, str]]:
    value = _json_if_str(name, raw, "an object")
    unsupported = (
        f"Invalid setting {name}: unsupported type (must be dict[str, str] or "
        "dict[str, dict[str, str]])"
    )
    if not isinstance(value, dict):
        raise ConfigError(unsupported)
    for user, queue in value.items():
        if isinstance(queue, dict):
            if not queue.get("all"):
                raise ConfigError(
                    f'Invalid setting {name}: Users in "IIB_USER_TO_QUEUE" must have default '
                    f"queue `all` defined (user {user!r})"
                )
            if not all(isinstance(k, str) and isinstance(v, str) for k, v in queue.items()):
                raise ConfigError(unsupported)
        elif not isinstance(queue, str):
            raise ConfigError(unsupported)
    return value


def p_greenwave_config(name: str, raw: Any) -> dict[str | None, dict[str, str]]:
    """Queue name → Greenwave query. The JSON key ``"null"`` (or Python ``None``) is the
    default queue, as IIB's ``None`` key."""
    value = _json_if_str(name, raw, "an object")
    if not isinstance(value, dict):
        raise ConfigError(f"Invalid setting {name}: expected an object (dict), got {raw!r}")
    required = {"decision_context", "product_version", "subject_type"}
    out: dict[str | None, dict[str, str]] = {}
    for queue, conf in value.items():
        key = None if queue in (None, "null") else queue
        if not isinstance(conf, dict):
            raise ConfigError(f"Invalid setting {name}: the value for queue {key} must be a dict")
        missing = required - conf.keys()
        if missing:
            raise ConfigError(
                f"Invalid setting {name}: Missing required params "
                f"{', '.join(sorted(missing))} for queue {key}"
            )
        extra = conf.keys() - required
        if extra:
            raise ConfigError(
                f"Invalid setting {name}: Invalid params {', '.join(sorted(extra))} for queue {key}"
            )
        if conf["subject_type"] != "koji_build":
            raise ConfigError(
                f'Invalid setting {name}: IIB only supports gating for subject_type "koji_build". '
                f"Invalid subject_type {conf['subject_type']} defined for queue {key}"
            )
        out[key] = dict(conf)
    return out


# The customization types of IIB_ORGANIZATION_CUSTOMIZATIONS and the parameters each takes
# (IIB's _adjust_operator_bundle). IIB's start-up check accepts only the five parameterized
# types, although its default list uses the other three; here all eight are accepted.
CUSTOMIZATION_PARAMETERS: dict[str, frozenset[str]] = {
    "resolve_image_pullspecs": frozenset(),
    "related_bundles": frozenset(),
    "perform_bundle_replacements": frozenset(),
    "csv_annotations": frozenset({"annotations"}),
    "package_name_suffix": frozenset({"suffix"}),
    "registry_replacements": frozenset({"replacements"}),
    "image_name_from_labels": frozenset({"template"}),
    "enclose_repo": frozenset({"enclosure_glue", "namespace"}),
}
_MAPPING_PARAMETERS = frozenset({"annotations", "replacements"})


def p_organization_customizations(name: str, raw: Any) -> dict[str, list[dict[str, Any]]]:
    """Organization → ordered customizations (worker semantics §2.1), every entry checked:
    a known ``type``, exactly its parameters, strings where strings are expected."""
    value = _json_if_str(name, raw, "an object")
    if not isinstance(value, dict):
        raise ConfigError(
            f"Invalid setting {name}: must be a dictionary of organization to a list of "
            "customizations"
        )
    out: dict[str, list[dict[str, Any]]] = {}
    for org, customizations in value.items():
        if not isinstance(org, str):
            raise ConfigError(f"Invalid setting {name}: the organization keys must be strings")
        if not isinstance(customizations, list):
            raise ConfigError(f"Invalid setting {name}: the value of {org} must be a list")
        checked: list[dict[str, Any]] = []
        for n, customization in enumerate(customizations):
            where = f"{name}.{org}[{n}]"
            if not isinstance(customization, dict):
                raise ConfigError(f"Invalid setting {where}: every customization must be a dict")
            kind = customization.get("type")
            if kind not in CUSTOMIZATION_PARAMETERS:
                raise ConfigError(
                    f"Invalid setting {where}: unknown customization type {kind!r} (valid: "
                    f"{', '.join(sorted(CUSTOMIZATION_PARAMETERS))})"
                )
            allowed = CUSTOMIZATION_PARAMETERS[kind]
            extra = set(customization) - allowed - {"type"}
            if extra:
                raise ConfigError(
                    f"Invalid setting {where}: invalid keys {', '.join(sorted(extra))} for the "
                    f"{kind} customization"
                )
            missing = allowed - set(customization)
            if missing:
                raise ConfigError(
                    f"Invalid setting {where}: the {kind} customization needs "
                    f"{', '.join(sorted(missing))}"
                )
            for key in sorted(allowed):
                param = customization[key]
                if key in _MAPPING_PARAMETERS:
                    if not isinstance(param, dict) or not all(
                        isinstance(k, str) and isinstance(v, str) for k, v in param.items()
                    ):
                        raise ConfigError(
                            f"Invalid setting {where}.{key}: must be a dictionary of strings"
                        )
                elif not isinstance(param, str):
                    raise ConfigError(f"Invalid setting {where}.{key}: must be a string")
            checked.append(dict(customization))
        out[org] = checked
    return out


def p_log_level(name: str, raw: Any) -> str:
    level = p_str(name, raw).upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ConfigError(f"Invalid setting {name}: unknown log level {raw!r}")
    return level


def p_address(name: str, raw: Any) -> str:
    """``host:port`` with a numeric port."""
    text = p_str(name, raw)
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"Invalid setting {name}: expected host:port, got {raw!r}")
    return text


def p_opt_address(name: str, raw: Any) -> str | None:
    """``host:port``, or unset (None)."""
    if raw is None or raw == "":
        return None
    return p_address(name, raw)


def p_path(name: str, raw: Any) -> Path:
    return Path(p_str(name, raw))


def p_duration(name: str, raw: Any) -> float:
    """Seconds, as a number or IIB's ``"300s"`` form."""
    if isinstance(raw, str) and raw.strip().endswith("s"):
        raw = raw.strip()[:-1]
    return float(p_float(0.1)(name, raw))


def p_cidr_list(name: str, raw: Any) -> tuple[str, ...]:
    values = p_str_list(name, raw)
    for value in values:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ConfigError(
                f"Invalid setting {name}: {value!r} is not a network (CIDR)"
            ) from None
    return values


def p_choice(*choices: str) -> Parser:
    def parse(name: str, raw: Any) -> str:
        value = p_str(name, raw).lower()
        if value not in choices:
            raise ConfigError(f"Invalid setting {name}: must be one of {', '.join(choices)}")
        return value

    return parse


AUTH_MODES = ("kerberos", "client_certificate", "trusted_header")


def p_auth_modes(name: str, raw: Any) -> tuple[str, ...] | None:
    """The gateway's identity modes, tried in order; unset: None (derived from the other
    IIB_AUTH_* settings)."""
    if raw is None or raw == "":
        return None
    modes = tuple(mode.strip().lower() for mode in p_str_list(name, raw))
    unknown = [mode for mode in modes if mode not in AUTH_MODES]
    if unknown:
        raise ConfigError(
            f"Invalid setting {name}: unknown mode {unknown[0]!r} "
            f"(expected some of {', '.join(AUTH_MODES)})"
        )
    if len(set(modes)) != len(modes):
        raise ConfigError(f"Invalid setting {name}: a mode is listed twice")
    return modes


def p_opt_path(name: str, raw: Any) -> Path | None:
    if raw is None or raw == "":
        return None
    return Path(p_str(name, raw))


AMQP_SCHEMES = ("amqp", "amqps")
NATS_SCHEMES = ("nats", "tls", "ws", "wss")


def p_messaging_urls(name: str, raw: Any) -> tuple[str, ...]:
    """IIB's AMQP 1.0 broker URLs (``amqps://host:5671``), or NATS URLs for the events; one
    kind only."""
    urls = p_str_list(name, raw)
    schemes = {url.partition("://")[0].lower() for url in urls}
    if any("://" not in url for url in urls) or not schemes <= {*AMQP_SCHEMES, *NATS_SCHEMES}:
        raise ConfigError(
            f"Invalid setting {name}: expected amqp://, amqps:// (an AMQP 1.0 broker, as IIB) "
            f"or nats:// URLs, got {list(urls)!r}"
        )
    if schemes & set(AMQP_SCHEMES) and schemes & set(NATS_SCHEMES):
        raise ConfigError(
            f"Invalid setting {name}: AMQP and NATS URLs cannot be mixed, got {list(urls)!r}"
        )
    return urls


def p_gitlab_tokens(name: str, raw: Any) -> dict[str, str]:
    """Git repository URL → ``token_name:token_value`` (IIB's
    ``iib_index_configs_gitlab_tokens_map``). Errors name the repository, never the token."""
    value = _json_if_str(name, raw, "an object")
    if not isinstance(value, dict):
        raise ConfigError(f"Invalid setting {name}: expected an object (dict)")
    for repo, token in value.items():
        if not isinstance(repo, str) or not isinstance(token, str):
            raise ConfigError(f"Invalid setting {name}: keys and values must be strings")
        token_name, sep, token_value = token.partition(":")
        if not sep or not token_name or not token_value.split(":")[0]:
            raise ConfigError(
                f"Invalid setting {name}: invalid token format for {repo!r}, expected "
                "'token_name:token_value'"
            )
    return dict(value)


def _setting(env: str, default: Any, parser: Parser, doc: str) -> Any:
    if isinstance(default, dict | list):
        return field(
            default_factory=lambda: type(default)(default),
            metadata={"env": env, "parse": parser, "doc": doc},
        )
    return field(default=default, metadata={"env": env, "parse": parser, "doc": doc})


@dataclass(frozen=True)
class Settings:
    """Every setting of the system, typed. Build it with :func:`load_settings`."""

    # --- IIB's REST API settings (seed README, "Configuring the REST API") -------------------
    additional_loggers: tuple[str, ...] = _setting(
        "IIB_ADDITIONAL_LOGGERS", (), p_str_list, "Loggers that get IIB_LOG_LEVEL too."
    )
    aws_s3_bucket_name: str | None = _setting(
        "IIB_AWS_S3_BUCKET_NAME", None, p_opt_str, "S3 bucket holding request artifacts."
    )
    binary_image_config: dict[str, dict[str, str]] = _setting(
        "IIB_BINARY_IMAGE_CONFIG",
        {},
        p_binary_image_config,
        "distribution_scope → {ocp_version → binary image}; non-empty makes binary_image optional.",
    )
    graph_mode_index_allow_list: tuple[str, ...] = _setting(
        "IIB_GRAPH_MODE_INDEX_ALLOW_LIST", (), p_str_list, "Indexes that may use graph_update_mode."
    )
    graph_mode_options: tuple[str, ...] = _setting(
        "IIB_GRAPH_MODE_OPTIONS",
        ("replaces", "semver", "semver-skippatch"),
        p_str_list,
        "Valid graph_update_mode values.",
    )
    greenwave_config: dict[str | None, dict[str, str]] = _setting(
        "IIB_GREENWAVE_CONFIG", {}, p_greenwave_config, "Queue → Greenwave decision query."
    )
    index_to_gitlab_push_map: dict[str, str] = _setting(
        "IIB_INDEX_TO_GITLAB_PUSH_MAP",
        {},
        p_str_dict,
        "Index repository (registry/namespace/repo) → Git repository URL its /configs are pushed "
        "to on overwrite_from_index add and rm requests.",
    )
    log_format: str | None = _setting(
        "IIB_LOG_FORMAT", None, p_opt_str, "A logging format string; unset = JSON lines."
    )
    log_level: str = _setting("IIB_LOG_LEVEL", "INFO", p_log_level, "Log level.")
    worker_log_level: str | None = _setting(
        "IIB_WORKER_LOG_LEVEL",
        None,
        lambda name, raw: None if raw in (None, "") else p_log_level(name, raw),
        "Log level of the workers (iib_log_level); unset = IIB_LOG_LEVEL.",
    )
    max_per_page: int = _setting("IIB_MAX_PER_PAGE", 20, p_int(1), "Largest page of GET /builds.")
    max_request_bytes: int = _setting(
        "IIB_MAX_REQUEST_BYTES",
        256 * 1024,
        p_int(1024),
        "Largest JSON body of a POST or PATCH (400 above it).",
    )
    max_field_length: int = _setting(
        "IIB_MAX_FIELD_LENGTH",
        2048,
        p_int(64),
        "Longest string in a submitted field, e.g. a pull spec (400 naming the field).",
    )
    max_list_items: int = _setting(
        "IIB_MAX_LIST_ITEMS",
        1000,
        p_int(1),
        "Most items in a submitted list or object, e.g. bundles (400 naming the field).",
    )
    messaging_batch_state_destination: str | None = _setting(
        "IIB_MESSAGING_BATCH_STATE_DESTINATION",
        None,
        p_opt_str,
        "AMQP 1.0 destination of batch state messages (its NATS subject: without topic://); "
        "unset = not sent.",
    )
    messaging_build_state_destination: str | None = _setting(
        "IIB_MESSAGING_BUILD_STATE_DESTINATION",
        None,
        p_opt_str,
        "AMQP 1.0 destination of build state messages (its NATS subject: without topic://); "
        "unset = not sent.",
    )
    messaging_ca: str | None = _setting(
        "IIB_MESSAGING_CA",
        None,
        p_opt_str,
        "CA file for the messaging connection (AMQP: /etc/pki/tls/certs/ca-bundle.crt if unset).",
    )
    messaging_cert: str | None = _setting(
        "IIB_MESSAGING_CERT",
        None,
        p_opt_str,
        "Client certificate for the messaging connection (AMQP: /etc/iib/messaging.crt if unset).",
    )
    messaging_durable: bool = _setting(
        "IIB_MESSAGING_DURABLE",
        True,
        p_bool,
        "Durable AMQP messages; events kept in a JetStream stream on NATS.",
    )
    messaging_key: str | None = _setting(
        "IIB_MESSAGING_KEY",
        None,
        p_opt_str,
        "Client key for the messaging connection (AMQP: /etc/iib/messaging.key if unset).",
    )
    messaging_timeout: float = _setting(
        "IIB_MESSAGING_TIMEOUT", 30.0, p_float(0.1), "Seconds per messaging operation."
    )
    messaging_urls: tuple[str, ...] = _setting(
        "IIB_MESSAGING_URLS",
        (),
        p_messaging_urls,
        "amqp(s):// URLs of IIB's AMQP 1.0 broker (UMB), or nats:// URLs for the events; empty = "
        "events on IIB_NATS_URLS only.",
    )
    request_data_days_to_live: int = _setting(
        "IIB_REQUEST_DATA_DAYS_TO_LIVE", 3, p_int(0), "Days request artifacts are kept."
    )
    request_logs_dir: Path | None = _setting(
        "IIB_REQUEST_LOGS_DIR", None, p_opt_path, "Directory of per-request log files."
    )
    request_related_bundles_dir: Path | None = _setting(
        "IIB_REQUEST_RELATED_BUNDLES_DIR", None, p_opt_path, "Directory of related bundles files."
    )
    request_recursive_related_bundles_dir: Path | None = _setting(
        "IIB_REQUEST_RECURSIVE_RELATED_BUNDLES_DIR",
        None,
        p_opt_path,
        "Directory of nested bundles files (alias IIB_RECURSIVE_REQUEST_RELATED_BUNDLES_DIR).",
    )
    user_to_queue: dict[str, str | dict[str, str]] = _setting(
        "IIB_USER_TO_QUEUE", {}, p_user_to_queue, "User (SERIAL:/PARALLEL:) → queue routing."
    )
    worker_usernames: tuple[str, ...] = _setting(
        "IIB_WORKER_USERNAMES", (), p_str_list, "Principals allowed to PATCH requests."
    )
    login_disabled: bool = _setting(
        "LOGIN_DISABLED", False, p_bool, "No authentication required (anonymous requests)."
    )
    database_uri: str = _setting(
        "SQLALCHEMY_DATABASE_URI",
        "sqlite:///var/iib.db",
        p_str,
        "Database URL (SQLite or postgresql+psycopg2://...).",
    )
    database_statement_timeout: float = _setting(
        "IIB_DATABASE_STATEMENT_TIMEOUT",
        30.0,
        p_float(1.0),
        "Seconds a PostgreSQL statement (or a wait for a pooled connection) may take.",
    )
    database_prepare: bool = _setting(
        "IIB_DATABASE_PREPARE",
        True,
        p_bool,
        "Read requests with server-side prepared statements on PostgreSQL (off behind a "
        "transaction-mode pooler).",
    )
    otel_tracing: bool = _setting(
        "IIB_OTEL_TRACING", False, p_bool, "Export traces over OTLP (needs OTEL_* settings)."
    )

    public_url: str | None = _setting(
        "IIB_PUBLIC_URL",
        None,
        p_opt_str,
        "Public base URL of the REST API, used in events (default: from IIB_GATEWAY_LISTEN).",
    )

    # --- identity (gateway) ----------------------------------------------------------------
    auth_trusted_header: str | None = _setting(
        "IIB_AUTH_TRUSTED_HEADER",
        None,
        p_opt_str,
        "Header set by a trusted front proxy holding the user (e.g. X-Remote-User).",
    )

    auth_trusted_proxies: tuple[str, ...] = _setting(
        "IIB_AUTH_TRUSTED_PROXIES",
        ("127.0.0.0/8", "::1/128"),
        p_cidr_list,
        "Networks (CIDR) of the front proxies whose IIB_AUTH_TRUSTED_HEADER is honoured.",
    )
    auth_modes: tuple[str, ...] | None = _setting(
        "IIB_AUTH_MODES",
        None,
        p_auth_modes,
        "Identity modes of the gateway, tried in order (kerberos, client_certificate, "
        "trusted_header); unset = each mode whose setting is set, in that order.",
    )
    auth_kerberos_principal: str | None = _setting(
        "IIB_AUTH_KERBEROS_PRINCIPAL",
        None,
        p_opt_str,
        "Service principal the gateway accepts Kerberos/SPNEGO tokens for (HTTP/host@REALM or "
        "HTTP@host); its keys come from the keytab named by KRB5_KTNAME.",
    )
    auth_client_ca: Path | None = _setting(
        "IIB_AUTH_CLIENT_CA",
        None,
        p_opt_path,
        "CA bundle (PEM) Envoy verifies client certificates against (client_certificate mode).",
    )
    auth_client_cert_field: str = _setting(
        "IIB_AUTH_CLIENT_CERT_FIELD",
        "cn",
        p_choice("cn", "subject", "email", "uri", "dns"),
        "Which part of a verified client certificate is the user: the subject's common name, "
        "the whole subject (RFC 4514), or the first email, URI or DNS subject alternative name.",
    )

    # --- secrets -----------------------------------------------------------------------------
    secrets_key: str | None = _setting(
        "IIB_SECRETS_KEY",
        None,
        p_opt_str,
        "Fernet key encrypting stored tokens (comma-separated keys rotate: first encrypts).",
    )
    secrets_key_file: Path | None = _setting(
        "IIB_SECRETS_KEY_FILE", None, p_opt_path, "File holding IIB_SECRETS_KEY."
    )

    # --- NATS JetStream (dispatch) --------------------------------------------------------
    nats_urls: tuple[str, ...] = _setting(
        "IIB_NATS_URLS", ("nats://127.0.0.1:4222",), p_str_list, "NATS servers (JetStream)."
    )
    nats_monitor_port: int = _setting(
        "IIB_NATS_MONITOR_PORT",
        8222,
        p_int(1),
        "Monitoring port of the nats-server iib dev starts.",
    )
    nats_creds_file: str | None = _setting(
        "IIB_NATS_CREDS_FILE", None, p_opt_str, "NATS credentials file (JWT + nkey)."
    )
    nats_user: str | None = _setting("IIB_NATS_USER", None, p_opt_str, "NATS user name.")
    nats_password: str | None = _setting("IIB_NATS_PASSWORD", None, p_opt_str, "NATS password.")
    nats_token: str | None = _setting("IIB_NATS_TOKEN", None, p_opt_str, "NATS auth token.")
    nats_tls_ca: str | None = _setting(
        "IIB_NATS_TLS_CA", None, p_opt_str, "CA file for TLS to NATS (enables TLS)."
    )
    nats_tls_cert: str | None = _setting(
        "IIB_NATS_TLS_CERT", None, p_opt_str, "Client certificate for NATS (mTLS)."
    )
    nats_tls_key: str | None = _setting("IIB_NATS_TLS_KEY", None, p_opt_str, "Client key for NATS.")
    work_ack_wait: float = _setting(
        "IIB_WORK_ACK_WAIT",
        60.0,
        p_float(1.0),
        "Seconds without a heartbeat after which a work item is redelivered.",
    )
    work_max_deliver: int = _setting(
        "IIB_WORK_MAX_DELIVER",
        5,
        p_int(1),
        "Deliveries of a work item before its request fails.",
    )
    work_duplicate_window: float = _setting(
        "IIB_WORK_DUPLICATE_WINDOW",
        3600.0,
        p_float(1.0),
        "Seconds JetStream remembers Nats-Msg-Id values (re-publishes within it are dropped).",
    )
    nats_stream_replicas: int = _setting(
        "IIB_NATS_STREAM_REPLICAS",
        1,
        p_int(1),
        "Replicas of the JetStream streams (3 on a 3-node NATS cluster: a node may be lost).",
    )
    worker_queues: tuple[str, ...] = _setting(
        "IIB_WORKER_QUEUES",
        ("default",),
        p_str_list,
        "Queues a worker consumes (`default` is IIB's default queue).",
    )
    worker_concurrency: int = _setting(
        "IIB_WORKER_CONCURRENCY", 1, p_int(1), "Requests a worker process handles at once."
    )
    worker_shutdown_grace: float = _setting(
        "IIB_WORKER_SHUTDOWN_GRACE",
        30.0,
        p_float(0.0),
        "Seconds a stopping worker waits for its current request before releasing it.",
    )
    outbox_max_attempts: int = _setting(
        "IIB_OUTBOX_MAX_ATTEMPTS",
        50,
        p_int(1),
        "Failed publishes (while NATS is connected) before an outbox message becomes a dead "
        "letter.",
    )
    outbox_retention_hours: float = _setting(
        "IIB_OUTBOX_RETENTION_HOURS",
        168.0,
        p_float(1.0),
        "Hours published outbox messages (and dead letters) are kept before they are pruned.",
    )
    worker_store_outage_tolerance: float = _setting(
        "IIB_WORKER_STORE_OUTAGE_TOLERANCE",
        600.0,
        p_float(0.0),
        "Seconds a build waits for an unreachable request store (per update) before failing.",
    )
    worker_guard_memory: int = _setting(
        "IIB_WORKER_GUARD_MEMORY",
        4 * 1024**3,
        p_int(256 * 1024**2),
        "Bytes of address space (RLIMIT_AS) of the child process a redelivered work item runs "
        "in (its earlier delivery did not finish).",
    )
    worker_guard_timeout: float = _setting(
        "IIB_WORKER_GUARD_TIMEOUT",
        3600.0,
        p_float(1.0),
        "Seconds a redelivered work item may run in its guarded child process before the "
        "request fails.",
    )
    relay_poll_interval: float = _setting(
        "IIB_RELAY_POLL_INTERVAL",
        0.5,
        p_float(0.01),
        "Seconds between outbox scans when nothing signalled new rows.",
    )

    # --- IIB's worker settings (seed README, "Configuring the Worker(s)") --------------------
    # Accepted under IIB's lower-case names too (iib_registry ...), e.g. in a settings file.
    registry: str | None = _setting(
        "IIB_REGISTRY", None, p_opt_str, "Registry the builders push to (iib_registry)."
    )
    image_push_template: str = _setting(
        "IIB_IMAGE_PUSH_TEMPLATE",
        "{registry}/iib-build:{request_id}",
        p_str,
        "Push destination of an output image (iib_image_push_template).",
    )
    index_image_output_registry: str | None = _setting(
        "IIB_INDEX_IMAGE_OUTPUT_REGISTRY",
        None,
        p_opt_str,
        "Replaces IIB_REGISTRY in the index_image users see (iib_index_image_output_registry).",
    )
    docker_config_template: str | None = _setting(
        "IIB_DOCKER_CONFIG_TEMPLATE",
        None,
        p_opt_str,
        "Docker config.json with registry credentials (iib_docker_config_template).",
    )
    total_attempts: int = _setting(
        "IIB_TOTAL_ATTEMPTS", 5, p_int(1), "Attempts per registry call (iib_total_attempts)."
    )
    retry_delay: float = _setting(
        "IIB_RETRY_DELAY", 10.0, p_float(0.0), "Base seconds between attempts (iib_retry_delay)."
    )
    retry_jitter: float = _setting(
        "IIB_RETRY_JITTER", 10.0, p_float(0.0), "Random extra seconds (iib_retry_jitter)."
    )
    retry_multiplier: float = _setting(
        "IIB_RETRY_MULTIPLIER",
        5.0,
        p_float(0.0),
        "m in 2^attempt * m seconds added between attempts (iib_retry_multiplier).",
    )
    registry_timeout: float = _setting(
        "IIB_SKOPEO_TIMEOUT",
        300.0,
        p_duration,
        "Timeout of one registry call, e.g. 300s (iib_skopeo_timeout).",
    )
    registry_transfer_deadline: float = _setting(
        "IIB_REGISTRY_TRANSFER_DEADLINE",
        3600.0,
        p_duration,
        "Longest one registry operation may take in all (its retries and every byte; a blob "
        "download from its first to its last byte), e.g. 3600s.",
    )
    insecure_registries: tuple[str, ...] = _setting(
        "IIB_INSECURE_REGISTRIES",
        (),
        p_str_list,
        "Registries reached without TLS verification, plain HTTP allowed (host:port).",
    )
    registry_ca_bundle: str | None = _setting(
        "IIB_REGISTRY_CA_BUNDLE", None, p_opt_str, "CA file for TLS registries."
    )
    allowed_registries: tuple[str, ...] | None = _setting(
        "IIB_ALLOWED_REGISTRIES",
        None,
        p_host_patterns,
        "Host patterns workers may contact (registries, redirects, token realms); unset: any.",
    )
    greenwave_url: str | None = _setting(
        "IIB_GREENWAVE_URL", None, p_opt_str, "Greenwave API URL for gating (iib_greenwave_url)."
    )
    greenwave_attempts: int = _setting(
        "IIB_GREENWAVE_ATTEMPTS",
        3,
        p_int(1),
        "Attempts per Greenwave decision when Greenwave is unreachable or answers 5xx.",
    )
    greenwave_retry_delay: float = _setting(
        "IIB_GREENWAVE_RETRY_DELAY",
        2.0,
        p_float(0.0),
        "Base seconds between Greenwave attempts (doubled each time).",
    )
    greenwave_timeout: float = _setting(
        "IIB_GREENWAVE_TIMEOUT", 30.0, p_float(0.1), "Seconds per Greenwave request."
    )
    required_labels: dict[str, str] = _setting(
        "IIB_REQUIRED_LABELS",
        {},
        p_str_dict,
        "Labels every bundle must carry (iib_required_labels).",
    )
    supported_archs: dict[str, str] = _setting(
        "IIB_SUPPORTED_ARCHS",
        {"amd64": "x86_64", "arm64": "aarch64", "s390x": "s390x", "ppc64le": "ppc64le"},
        p_str_dict,
        "Architecture → formal name checked against images' architecture label.",
    )
    related_image_registry_replacement: dict[str, Any] = _setting(
        "IIB_RELATED_IMAGE_REGISTRY_REPLACEMENT",
        {},
        p_dict,
        "user → {registry: replacement} for check_related_images.",
    )
    no_ocp_label_allow_list: tuple[str, ...] = _setting(
        "IIB_NO_OCP_LABEL_ALLOW_LIST",
        (),
        p_str_list,
        "Indexes/users allowed bundles without com.redhat.openshift.versions (merge).",
    )
    deprecate_bundles_limit: int = _setting(
        "IIB_DEPRECATE_BUNDLES_LIMIT",
        200,
        p_int(1),
        "Accepted for compatibility; deprecations are applied in one pass.",
    )
    default_opm: str = _setting(
        "IIB_DEFAULT_OPM",
        "opm-v1.73.0",
        p_str,
        "opm version whose catalog format the builder reproduces (iib_default_opm).",
    )
    ocp_opm_mapping: dict[str, str] = _setting(
        "IIB_OCP_OPM_MAPPING",
        {},
        p_str_dict,
        'OCP version → opm version (iib_ocp_opm_mapping), e.g. {"v4.12": "opm-v1.26.4"}.',
    )
    request_logs_format: str = _setting(
        "IIB_REQUEST_LOGS_FORMAT",
        "%(asctime)s %(name)s %(levelname)s %(module)s.%(funcName)s %(message)s",
        p_str,
        "Format of per-request log files (iib_request_logs_format).",
    )
    request_logs_level: str = _setting(
        "IIB_REQUEST_LOGS_LEVEL", "DEBUG", p_log_level, "Level of per-request log files."
    )
    work_dir: Path | None = _setting(
        "IIB_WORK_DIR", None, p_opt_path, "Scratch space of the builders (default: system temp)."
    )
    output_manifest_format: str = _setting(
        "IIB_OUTPUT_MANIFEST_FORMAT",
        "docker",
        p_choice("docker", "oci"),
        "Format of output index images: docker (v2s2 manifests and a manifest list, as IIB "
        "pushes them) or oci (OCI manifests and index).",
    )
    serial_group_max: int = _setting(
        "IIB_SERIAL_GROUP_MAX",
        10,
        p_int(1),
        "Most serial requests for one index an index builder builds together (1: one by one).",
    )
    index_cache_dir: Path | None = _setting(
        "IIB_INDEX_CACHE_DIR",
        None,
        p_opt_path,
        "Where an index builder keeps the catalogs of the images it built (default: "
        "<IIB_WORK_DIR or the temp dir>/iib-index-cache).",
    )
    index_cache_bytes: int = _setting(
        "IIB_INDEX_CACHE_BYTES",
        4 * 1024**3,
        p_int(0),
        "Most bytes the index builder's catalog cache keeps (0: no cache).",
    )
    request_disk_limit: int = _setting(
        "IIB_REQUEST_DISK_LIMIT",
        8 * 1024**3,
        p_int(1024**2),
        "Bytes one request may unpack from images in all (each image: at most 2 GiB).",
    )
    organization_customizations: dict[str, list[dict[str, Any]]] = _setting(
        "IIB_ORGANIZATION_CUSTOMIZATIONS",
        {},
        p_organization_customizations,
        "Organization → customizations of regenerated bundles (iib_organization_customizations).",
    )
    max_recursive_related_bundles: int = _setting(
        "IIB_MAX_RECURSIVE_RELATED_BUNDLES",
        15,
        p_int(1),
        "Most related bundles a recursive-related-bundles request may find "
        "(iib_max_recursive_related_bundles).",
    )

    index_configs_gitlab_tokens_map: dict[str, str] = _setting(
        "IIB_INDEX_CONFIGS_GITLAB_TOKENS_MAP",
        {},
        p_gitlab_tokens,
        "Git repository URL → 'token_name:token_value' used to push its configs "
        "(iib_index_configs_gitlab_tokens_map).",
    )

    # --- processes and addresses --------------------------------------------------------------
    var_dir: Path = _setting("IIB_VAR_DIR", Path("var"), p_path, "Runtime files of iib dev.")
    request_store_listen: str = _setting(
        "IIB_REQUEST_STORE_LISTEN",
        "127.0.0.1:50051",
        p_address,
        "host:port the request store's gRPC server binds.",
    )
    request_store_address: str = _setting(
        "IIB_REQUEST_STORE_ADDRESS",
        "127.0.0.1:50051",
        p_address,
        "host:port where other services reach the request store.",
    )
    gating_listen: str = _setting(
        "IIB_GATING_LISTEN",
        "127.0.0.1:50053",
        p_address,
        "host:port the gating service's gRPC server binds.",
    )
    gating_address: str = _setting(
        "IIB_GATING_ADDRESS",
        "127.0.0.1:50053",
        p_address,
        "host:port where the index builders reach the gating service.",
    )
    auth_service_listen: str = _setting(
        "IIB_AUTH_SERVICE_LISTEN",
        "127.0.0.1:50052",
        p_address,
        "host:port of the gateway's ext_authz service.",
    )
    gateway_listen: str = _setting(
        "IIB_GATEWAY_LISTEN", "127.0.0.1:8443", p_address, "host:port Envoy serves /api/v1 on."
    )
    gateway_admin_port: int = _setting(
        "IIB_GATEWAY_ADMIN_PORT", 9901, p_int(1), "Envoy admin port (loopback only)."
    )
    metrics_listen: str | None = _setting(
        "IIB_METRICS_LISTEN",
        None,
        p_opt_address,
        "host:port of this process's /metrics, /healthz and /readyz (HTTP); unset: not served.",
    )
    gateway_tls_cert: Path | None = _setting(
        "IIB_GATEWAY_TLS_CERT", None, p_opt_path, "TLS certificate (PEM); unset = plain HTTP."
    )
    gateway_tls_key: Path | None = _setting(
        "IIB_GATEWAY_TLS_KEY", None, p_opt_path, "TLS private key (PEM)."
    )
    internal_tls_ca: Path | None = _setting(
        "IIB_INTERNAL_TLS_CA",
        None,
        p_opt_path,
        "CA (PEM) that signs every service's certificate for internal gRPC (mutual TLS).",
    )
    internal_tls_cert: Path | None = _setting(
        "IIB_INTERNAL_TLS_CERT",
        None,
        p_opt_path,
        "This process's certificate (PEM); its common name is its identity.",
    )
    internal_tls_key: Path | None = _setting(
        "IIB_INTERNAL_TLS_KEY", None, p_opt_path, "This process's private key (PEM)."
    )
    internal_insecure: bool = _setting(
        "IIB_INTERNAL_INSECURE",
        False,
        p_bool,
        "Plaintext internal gRPC with no caller identities (isolated development only).",
    )
    internal_worker_identities: tuple[str, ...] = _setting(
        "IIB_INTERNAL_WORKER_IDENTITIES",
        ("index-builder", "bundle-regenerator"),
        p_str_list,
        "Certificate names that may fetch jobs (with secrets), update them and ask gating.",
    )
    internal_gateway_identities: tuple[str, ...] = _setting(
        "IIB_INTERNAL_GATEWAY_IDENTITIES",
        ("gateway",),
        p_str_list,
        "Certificate names whose x-iib-user metadata (the authenticated user) is honoured.",
    )
    request_store_processes: int = _setting(
        "IIB_REQUEST_STORE_PROCESSES",
        0,
        p_int(0),
        "Processes serving the request store's port (SO_REUSEPORT), to use several cores; "
        "0: one per core this process may use (CPU affinity and cgroup quota), at most 4.",
    )
    grpc_workers: int = _setting(
        "IIB_GRPC_WORKERS", 16, p_int(1), "Threads serving gRPC calls per service."
    )
    grpc_concurrency: int = _setting(
        "IIB_GRPC_CONCURRENCY",
        4,
        p_int(1),
        "Unary gRPC calls running at once per process (the others wait their turn): fewer "
        "threads competing for the GIL keep the tail short.",
    )

    def validate(self) -> None:
        """Cross-setting rules (IIB's start-up checks)."""
        if self.greenwave_config:
            queues: set[str] = set()
            for value in self.user_to_queue.values():
                if isinstance(value, str):
                    queues.add(value)
                else:
                    queues.update(value.values())
            invalid = [q for q in self.greenwave_config if q is not None and q not in queues]
            if invalid:
                raise ConfigError(
                    'Invalid setting IIB_GREENWAVE_CONFIG: The following queues are invalid in "'
                    f'IIB_GREENWAVE_CONFIG": {", ".join(sorted(invalid))}'
                )
        if not self.aws_s3_bucket_name and not self.request_recursive_related_bundles_dir:
            raise ConfigError(
                'One of "IIB_AWS_S3_BUCKET_NAME" or "IIB_REQUEST_RECURSIVE_RELATED_BUNDLES_DIR" '
                "must be set"
            )
        # With S3, the IIB_REQUEST_*_DIR directories are where workers write the files before
        # uploading them (IIB's workers require them; its REST API refuses them): both accepted.
        if self.aws_s3_bucket_name and not (
            os.environ.get("AWS_ACCESS_KEY_ID")
            and os.environ.get("AWS_SECRET_ACCESS_KEY")
            and os.environ.get("AWS_DEFAULT_REGION")
        ):
            raise ConfigError(
                '"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY" and "AWS_DEFAULT_REGION" '
                'environment variables must be set when "IIB_AWS_S3_BUCKET_NAME" is set'
            )
        if self.otel_tracing and not (
            os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") and os.environ.get("OTEL_SERVICE_NAME")
        ):
            raise ConfigError(
                '"OTEL_EXPORTER_OTLP_ENDPOINT" and "OTEL_SERVICE_NAME" environment variables '
                "must be set when IIB_OTEL_TRACING is true"
            )
        if self.gitlab_push_enabled:
            for repo in self.index_to_gitlab_push_map.values():
                if not repo.startswith(("https://", "http://")):
                    raise ConfigError(
                        f"Invalid setting IIB_INDEX_TO_GITLAB_PUSH_MAP: {repo!r} is not an "
                        "http(s):// Git repository URL"
                    )
        if bool(self.gateway_tls_cert) != bool(self.gateway_tls_key):
            raise ConfigError(
                "Invalid setting IIB_GATEWAY_TLS_CERT/IIB_GATEWAY_TLS_KEY: set both or neither"
            )

    @property
    def gitlab_push_enabled(self) -> bool:
        """Whether some index's /configs are pushed to a Git repository."""
        return bool(self.index_to_gitlab_push_map)

    @property
    def amqp_messaging(self) -> bool:
        """IIB_MESSAGING_URLS name an AMQP 1.0 broker: state events also go there (UMB)."""
        return bool(self.messaging_urls) and all(
            url.partition("://")[0].lower() in AMQP_SCHEMES for url in self.messaging_urls
        )

    @property
    def events_nats_urls(self) -> tuple[str, ...]:
        """Where the state events go on NATS: IIB_MESSAGING_URLS when they are NATS URLs, else
        empty (the system's NATS, IIB_NATS_URLS)."""
        return () if self.amqp_messaging else self.messaging_urls

    def secret_keys(self) -> list[str]:
        """The Fernet keys (first one encrypts), from IIB_SECRETS_KEY or IIB_SECRETS_KEY_FILE."""
        raw = self.secrets_key
        if raw is None and self.secrets_key_file is not None:
            try:
                raw = self.secrets_key_file.read_text().strip()
            except OSError as exc:
                raise ConfigError(
                    f"Invalid setting IIB_SECRETS_KEY_FILE: cannot read {self.secrets_key_file}: "
                    f"{exc.strerror}"
                ) from None
        if not raw:
            raise ConfigError(
                "Missing setting IIB_SECRETS_KEY (or IIB_SECRETS_KEY_FILE): the request store "
                "needs a key to encrypt overwrite tokens and registry auths"
            )
        return [k.strip() for k in raw.split(",") if k.strip()]


# Names accepted for a setting besides its own (IIB's README and code disagree on this one).
_ALIASES = {
    # IIB's worker settings are lower-case (iib_registry); ours are the upper-case form.
    **{
        name: name.upper()
        for name in (
            "iib_registry",
            "iib_image_push_template",
            "iib_index_image_output_registry",
            "iib_docker_config_template",
            "iib_total_attempts",
            "iib_retry_delay",
            "iib_retry_jitter",
            "iib_retry_multiplier",
            "iib_skopeo_timeout",
            "iib_greenwave_url",
            "iib_required_labels",
            "iib_supported_archs",
            "iib_related_image_registry_replacement",
            "iib_no_ocp_label_allow_list",
            "iib_deprecate_bundles_limit",
            "iib_default_opm",
            "iib_ocp_opm_mapping",
            "iib_request_logs_format",
            "iib_request_logs_level",
            "iib_request_logs_dir",
            "iib_request_related_bundles_dir",
            "iib_aws_s3_bucket_name",
            "iib_organization_customizations",
            "iib_max_recursive_related_bundles",
            "iib_index_configs_gitlab_tokens_map",
        )
    },
    "iib_request_recursive_related_bundles_dir": "IIB_REQUEST_RECURSIVE_RELATED_BUNDLES_DIR",
    "IIB_RECURSIVE_REQUEST_RELATED_BUNDLES_DIR": "IIB_REQUEST_RECURSIVE_RELATED_BUNDLES_DIR",
    # the worker's level (IIB: of the iib.workers logger); IIB_LOG_LEVEL is the REST API's
    "iib_log_level": "IIB_WORKER_LOG_LEVEL",
    # the name of IIB_REQUEST_DATA_DAYS_TO_LIVE before IIB 7
    "IIB_REQUEST_LOGS_DAYS_TO_LIVE": "IIB_REQUEST_DATA_DAYS_TO_LIVE",
}

_API = "workers reach the request store over gRPC (IIB_REQUEST_STORE_ADDRESS)"
_CACHE = "registry answers are cached by the workers' registry client, no dogpile cache"
_OPM = "no opm process is started: the catalog engine is native"
_PATHS = "an internal path of IIB's worker; the index builder has its own layout"
_KONFLUX = "index images are built natively by the index builder, not in Konflux pipelines"
_OLD = "a setting of an older IIB release, without effect there either"
_CELERY = "a Celery setting: work goes through NATS JetStream here (docs/dispatch.md)"
_FLASK = "a Flask setting: the REST API is served by Envoy and the request store"

#: IIB's settings (its REST API's settings.py and its workers' celery.py, this release and
#: earlier ones) that mean nothing here, with why. They are accepted and logged once as ignored.
IGNORED_IIB_SETTINGS: dict[str, str] = {
    "iib_api_url": _API,
    "iib_api_timeout": _API,
    "iib_poll_api_frequency": _API,
    "iib_dogpile_backend": _CACHE,
    "iib_dogpile_expiration_time": _CACHE,
    "iib_dogpile_arguments": _CACHE,
    "iib_sac_queues": "SERIAL requests are ordered by the request store, per index; no "
    "single-active-consumer queue is needed (docs/dispatch.md)",
    "iib_sac_queue": _OLD,
    "IIB_SAC_QUEUES": _OLD,
    "iib_grpc_init_wait_time": _OPM,
    "iib_grpc_max_tries": _OPM,
    "iib_grpc_max_port_tries": _OPM,
    "iib_grpc_start_port": _OPM,
    "iib_opm_port_ranges": _OPM,
    "iib_opm_pprof_lock_required_min_version": _OPM,
    "iib_opm_new_migrate_version": _OPM,
    "hidden_index_db_path": _PATHS,
    "temp_index_db_path": _PATHS,
    "temp_fbc_fragment_path": _PATHS,
    "fbc_fragment_catalog_path": _PATHS,
    "operator_deprecations_dir": _PATHS,
    "iib_konflux_cluster_url": _KONFLUX,
    "iib_konflux_cluster_token": _KONFLUX,
    "iib_konflux_cluster_ca_cert": _KONFLUX,
    "iib_konflux_namespace": _KONFLUX,
    "iib_konflux_pipeline_timeout": _KONFLUX,
    "iib_omps_url": _OLD,
    "iib_arch": _OLD,
    "iib_arches": _OLD,
    "iib_arch_image_push_template": _OLD,
    "iib_registry_credentials": _OLD,
    "iib_otel_tracing": "tracing is IIB_OTEL_TRACING (environment), as in IIB",
    "IIB_FORCE_OVERWRITE_FROM_INDEX": _OLD,
    "IIB_PRIVILEGED_USERNAMES": _OLD,
    "SQLALCHEMY_TRACK_MODIFICATIONS": _FLASK,
    "broker_url": _CELERY,
    "include": _CELERY,
}
# Celery's lower-case setting names (its "new" names) and Flask's own upper-case ones.
_CELERY_PREFIXES = (
    "accept_content",
    "beat_",
    "broker_",
    "cache_",
    "control_",
    "database_",
    "enable_utc",
    "event_",
    "imports",
    "result_",
    "security_",
    "task_",
    "timezone",
    "worker_",
)
_FLASK_NAMES = frozenset(
    {
        "DEBUG",
        "TESTING",
        "SECRET_KEY",
        "SERVER_NAME",
        "APPLICATION_ROOT",
        "PREFERRED_URL_SCHEME",
        "PROPAGATE_EXCEPTIONS",
        "JSON_SORT_KEYS",
        "MAX_CONTENT_LENGTH",
        "SESSION_COOKIE_SECURE",
        "SQLALCHEMY_ECHO",
        "SQLALCHEMY_ENGINE_OPTIONS",
        "SQLALCHEMY_BINDS",
        "SQLALCHEMY_RECORD_QUERIES",
    }
)

#: Where IIB reads its files: the REST API's settings and the workers' Celery configuration
#: (``IIB_CELERY_CONFIG`` names another one, as in IIB).
IIB_API_SETTINGS_FILE = Path("/etc/iib/settings.py")
IIB_CELERY_CONFIG_FILE = Path("/etc/iib/celery.py")

_logged_ignored: set[str] = set()


def _fields() -> dict[str, dataclasses.Field[Any]]:
    return {f.metadata["env"]: f for f in dataclasses.fields(Settings)}


class _AbsentModule(types.ModuleType):
    """What ``import kombu`` gives in an IIB celery.py here: any attribute, callable. Only the
    Celery settings built with it (task_queues) use it, and those are ignored."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return _absent

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return _absent


_absent = _AbsentModule("absent")
_CELERY_MODULES = frozenset({"celery", "kombu"})


def _run_python_settings(path: Path) -> dict[str, Any]:
    """Execute an IIB-style settings file; ``celery``/``kombu`` imports work without Celery."""
    real_import = builtins.__import__

    def _import(name: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return real_import(name, *args, **kwargs)
        except ModuleNotFoundError:
            if name.partition(".")[0] in _CELERY_MODULES:
                return _AbsentModule(name)
            raise

    namespace: dict[str, Any] = {
        "__builtins__": {**vars(builtins), "__import__": _import},
        "__file__": str(path),
        "__name__": "iib_settings",
    }
    try:
        exec(
            compile(path.read_bytes(), str(path), "exec"), namespace
        )  # the operator's own file, as IIB runs it
    except Exception as exc:
        raise ConfigError(f"Invalid settings file {path}: it failed to load: {exc}") from None
    return {
        k: v
        for k, v in namespace.items()
        if not k.startswith("_")
        and not isinstance(v, types.ModuleType)
        and not callable(v)  # functions and classes the file defines for itself
    }


def _read_settings_file(path: Path, origin: str = "IIB_SETTINGS_FILE") -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"Invalid setting {origin}: {path} does not exist")
    if path.suffix == ".json":
        try:
            data = json.loads(path.read_text())
        except ValueError as exc:
            raise ConfigError(f"Invalid setting {origin}: {path} is not JSON ({exc})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"Invalid setting {origin}: {path} must hold a JSON object")
        return data
    if path.suffix == ".py":
        return _run_python_settings(path)
    raise ConfigError(f"Invalid setting {origin}: {path} must be a .py or .json file")


def _ignored_reason(key: str) -> str | None:
    """Why a name of a settings file that is no setting here is ignored; None: it is unknown
    (an error: a typo of an IIB setting)."""
    if key in IGNORED_IIB_SETTINGS:
        return IGNORED_IIB_SETTINGS[key]
    if key.upper().startswith("IIB_"):
        return None
    if key.islower() and key.startswith(_CELERY_PREFIXES):
        return _CELERY
    if key in _FLASK_NAMES or key.startswith("SQLALCHEMY_"):
        return _FLASK
    return "not a setting of IIB or of this service"


def _log_ignored(key: str, source: Path, reason: str) -> None:
    if key in _logged_ignored:
        return
    _logged_ignored.add(key)
    log.warning("setting %s in %s is ignored: %s", key, source, reason)


def _settings_files(env: Mapping[str, str], iib_settings_file: Path | None) -> list[Path]:
    """The settings files, in order: IIB's REST API settings.py and workers' celery.py where
    IIB reads them (when they exist), then IIB_SETTINGS_FILE."""
    files: list[Path] = []
    if iib_settings_file is not None and iib_settings_file.is_file():
        files.append(iib_settings_file)
    celery = env.get("IIB_CELERY_CONFIG")
    if celery:
        if not Path(celery).is_file():
            raise ConfigError(f"Invalid setting IIB_CELERY_CONFIG: {celery} does not exist")
        files.append(Path(celery))
    elif IIB_CELERY_CONFIG_FILE.is_file():
        files.append(IIB_CELERY_CONFIG_FILE)
    if env.get("IIB_SETTINGS_FILE"):
        files.append(Path(env["IIB_SETTINGS_FILE"]))
    return files


def load_settings(
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    iib_settings_file: Path | None = IIB_API_SETTINGS_FILE,
) -> Settings:
    """Build and validate the settings.

    :param environ: the environment to read (default ``os.environ``)
    :param overrides: values by setting name that win over every other source (for tests and
        for ``iib dev``'s embedded defaults)
    :param iib_settings_file: IIB's REST API settings file, read when it exists (tests point
        it elsewhere or pass None)
    :raises ConfigError: naming the setting that is missing or malformed
    """
    env = dict(os.environ if environ is None else environ)
    fields = _fields()
    raw: dict[str, Any] = {}
    origin: dict[str, Path] = {}

    for path in _settings_files(env, iib_settings_file):
        origin_name = "IIB_CELERY_CONFIG" if path.name == "celery.py" else "IIB_SETTINGS_FILE"
        for name, value in _read_settings_file(path, origin_name).items():
            key = _ALIASES.get(name, name)
            if key in fields:
                if key in raw and raw[key] != value and origin[key] != path:
                    log.warning(
                        "setting %s of %s replaces the value from %s", name, path, origin[key]
                    )
                raw[key] = value
                origin[key] = path
                continue
            reason = _ignored_reason(name)
            if reason is None:
                raise ConfigError(f"Unknown setting {name} in {path}")
            _log_ignored(name, path, reason)
    for key, value in env.items():
        key = _ALIASES.get(key, key)
        if key in fields:
            raw[key] = value
    for key, value in (overrides or {}).items():
        key = _ALIASES.get(key, key)
        if key not in fields:
            raise ConfigError(f"Unknown setting {key}")
        raw[key] = value

    kwargs: dict[str, Any] = {}
    for env_name, f in fields.items():
        if env_name in raw:
            kwargs[f.name] = f.metadata["parse"](env_name, raw[env_name])
    settings = Settings(**kwargs)
    settings.validate()
    return settings


def describe_settings() -> list[tuple[str, str, str]]:
    """(name, default, description) of every setting, for docs and ``iib settings``."""
    rows = []
    for f in dataclasses.fields(Settings):
        factory = f.default_factory
        default = factory() if callable(factory) else f.default
        rows.append((f.metadata["env"], repr(default), f.metadata["doc"]))
    return rows
