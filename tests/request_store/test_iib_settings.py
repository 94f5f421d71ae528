"""A team's IIB configuration loads unchanged: IIB's REST API ``/etc/iib/settings.py`` and its
workers' ``celery.py`` (``IIB_CELERY_CONFIG``), with every key IIB documents.

The two files below are written from IIB's README ("Configuring the REST API", "Configuring the
Worker(s)", the messaging section) and the keys of IIB's ``iib/web/config.py`` and
``iib/workers/config.py`` (values as IIB's docs give them, not as this service would choose).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from services.common import config as config_module
from services.common.config import Settings, load_settings
from services.common.errors import ConfigError
from services.common.requestlog import request_log

IIB_SETTINGS_PY = """\
# /etc/iib/settings.py of an IIB deployment (REST API)
import os

IIB_ADDITIONAL_LOGGERS = ['botocore']
IIB_AWS_S3_BUCKET_NAME = 'iib-artifacts'
IIB_BINARY_IMAGE_CONFIG = {'prod': {'v4.15': 'registry.example.com/opm:v4.15'}}
IIB_INDEX_TO_GITLAB_PUSH_MAP = {
    'quay.example.com/ns/index': 'https://gitlab.example.com/ns/index-configs',
}
IIB_GRAPH_MODE_INDEX_ALLOW_LIST = ['quay.example.com/ns/index:v4.15']
IIB_GRAPH_MODE_OPTIONS = ['replaces', 'semver', 'semver-skippatch']
IIB_GREENWAVE_CONFIG = {
    None: {
        'decision_context': 'iib_cvp_redhat_operator',
        'product_version': 'cvp',
        'subject_type': 'koji_build',
    }
}
IIB_LOG_FORMAT = '%(asctime)s %(name)s %(levelname)s %(module)s.%(funcName)s %(message)s'
IIB_LOG_LEVEL = 'INFO'
IIB_MAX_PER_PAGE = 20
IIB_MESSAGING_BATCH_STATE_DESTINATION = 'topic://VirtualTopic.eng.iib.batch.state'
IIB_MESSAGING_BUILD_STATE_DESTINATION = 'topic://VirtualTopic.eng.iib.build.state'
IIB_MESSAGING_CA = '/etc/pki/tls/certs/ca-bundle.crt'
IIB_MESSAGING_CERT = '/etc/iib/messaging.crt'
IIB_MESSAGING_DURABLE = True
IIB_MESSAGING_KEY = '/etc/iib/messaging.key'
IIB_MESSAGING_TIMEOUT = 30
IIB_MESSAGING_URLS = ['amqps://umb-1.example.com:5671', 'amqps://umb-2.example.com:5671']
IIB_REQUEST_DATA_DAYS_TO_LIVE = 3
IIB_USER_TO_QUEUE = {'SERIAL:release-bot': 'iib_serial', 'PARALLEL:release-bot': 'iib_parallel'}
IIB_WORKER_USERNAMES = ['iib-worker@EXAMPLE.COM']
LOGIN_DISABLED = False
SQLALCHEMY_DATABASE_URI = 'postgresql+psycopg2://iib:iib@db:5432/iib'
SQLALCHEMY_TRACK_MODIFICATIONS = False
"""

IIB_CELERY_PY = """\
# /etc/iib/celery.py of an IIB worker
from kombu import Queue

broker_url = 'amqps://iib:secret@rabbitmq.example.com:5671//'
task_queues = [Queue('iib_serial', queue_arguments={'x-single-active-consumer': True})]
worker_concurrency = 1
iib_api_timeout = 60
iib_api_url = 'https://iib.example.com/api/v1/'
iib_aws_s3_bucket_name = 'iib-artifacts'
iib_docker_config_template = '/home/iib-worker/.docker/config.json.template'
iib_dogpile_backend = 'dogpile.cache.memcached'
iib_dogpile_expiration_time = 600
iib_dogpile_arguments = {'url': ['127.0.0.1']}
iib_greenwave_url = 'https://greenwave.example.com/api/v1.0/'
iib_grpc_init_wait_time = 3
iib_grpc_max_port_tries = 100
iib_grpc_start_port = 50051
iib_grpc_max_tries = 5
iib_index_configs_gitlab_tokens_map = {
    'https://gitlab.example.com/ns/index-configs': 'iib-bot:glpat-0123456789',
}
iib_index_image_output_registry = 'registry-proxy.example.com'
iib_image_push_template = '{registry}/iib-build:{request_id}'
iib_log_level = 'DEBUG'
iib_max_recursive_related_bundles = 15
iib_no_ocp_label_allow_list = ['quay.example.com/ns/index']
iib_organization_customizations = {
    'company-marketplace': [
        {'type': 'resolve_image_pullspecs'},
        {'type': 'package_name_suffix', 'suffix': '-cmp'},
        {'type': 'enclose_repo', 'enclosure_glue': '----', 'namespace': 'company-pending'},
    ]
}
iib_related_image_registry_replacement = {'release-bot': {'registry.example.com': 'proxy.example.com'}}
iib_request_related_bundles_dir = '/var/lib/requests/related_bundles'
iib_request_logs_dir = '/var/log/iib/requests'
iib_request_recursive_related_bundles_dir = '/var/lib/requests/recursive_related_bundles'
iib_request_logs_format = (
    '%(asctime)s %(name)s %(processName)s {request_id} '
    '%(levelname)s %(module)s.%(funcName)s %(message)s'
)
iib_request_logs_level = 'DEBUG'
iib_registry = 'quay.example.com'
iib_sac_queues = ['iib_serial']
iib_skopeo_timeout = '300s'
iib_total_attempts = 5
iib_retry_delay = 10
iib_retry_jitter = 10
iib_retry_multiplier = 5
iib_supported_archs = {'amd64': 'x86_64', 'arm64': 'aarch64', 's390x': 's390x', 'ppc64le': 'ppc64le'}
iib_default_opm = 'opm'
iib_ocp_opm_mapping = {'v4.15': 'opm-v1.28.0'}
iib_required_labels = {'com.redhat.delivery.operator.bundle': 'true'}
"""

# IIB's keys that mean nothing here: each must be named once in the log, never be fatal.
NO_MEANING_HERE = [
    "broker_url",
    "task_queues",
    "worker_concurrency",
    "iib_api_timeout",
    "iib_api_url",
    "iib_dogpile_backend",
    "iib_dogpile_expiration_time",
    "iib_dogpile_arguments",
    "iib_grpc_init_wait_time",
    "iib_grpc_max_port_tries",
    "iib_grpc_start_port",
    "iib_grpc_max_tries",
    "iib_sac_queues",
    "SQLALCHEMY_TRACK_MODIFICATIONS",
]


@pytest.fixture
def iib_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict[str, str]]:
    """IIB's two files and the environment of an IIB deployment using S3 (AWS_* variables)."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
        monkeypatch.setenv(name, "x")
    settings_py = tmp_path / "etc" / "settings.py"
    settings_py.parent.mkdir()
    settings_py.write_text(IIB_SETTINGS_PY)
    celery_py = tmp_path / "etc" / "celery.py"
    celery_py.write_text(IIB_CELERY_PY)
    monkeypatch.setattr(config_module, "_logged_ignored", set())
    return settings_py, {"IIB_CELERY_CONFIG": str(celery_py)}


def _load(iib_files: tuple[Path, dict[str, str]], **env: str) -> Settings:
    settings_py, environ = iib_files
    return load_settings(environ={**environ, **env}, iib_settings_file=settings_py)


def test_iib_settings_and_celery_files_load_with_every_documented_key(
    iib_files: tuple[Path, dict[str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="services.common.config"):
        s = _load(iib_files)
    # the REST API's file
    assert s.aws_s3_bucket_name == "iib-artifacts"
    assert s.greenwave_config[None]["product_version"] == "cvp"
    assert s.index_to_gitlab_push_map == {
        "quay.example.com/ns/index": "https://gitlab.example.com/ns/index-configs"
    }
    assert s.messaging_urls == ("amqps://umb-1.example.com:5671", "amqps://umb-2.example.com:5671")
    assert s.amqp_messaging and s.events_nats_urls == ()
    assert s.messaging_build_state_destination == "topic://VirtualTopic.eng.iib.build.state"
    assert s.database_uri == "postgresql+psycopg2://iib:iib@db:5432/iib"
    assert s.worker_usernames == ("iib-worker@EXAMPLE.COM",)
    # the workers' file, with IIB's required S3-plus-directories combination
    assert s.registry == "quay.example.com"
    assert s.request_logs_dir == Path("/var/log/iib/requests")
    assert s.request_recursive_related_bundles_dir == Path(
        "/var/lib/requests/recursive_related_bundles"
    )
    assert s.index_configs_gitlab_tokens_map == {
        "https://gitlab.example.com/ns/index-configs": "iib-bot:glpat-0123456789"
    }
    assert s.log_level == "INFO" and s.worker_log_level == "DEBUG"
    assert s.registry_timeout == 300.0
    assert s.organization_customizations["company-marketplace"][1]["suffix"] == "-cmp"
    ignored = {r.args[0] for r in caplog.records if "is ignored" in r.getMessage()}  # type: ignore[index]
    assert ignored == set(NO_MEANING_HERE)
    # logged once: loading again (another service of the process) says nothing more
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="services.common.config"):
        _load(iib_files)
    assert not [r for r in caplog.records if "is ignored" in r.getMessage()]


def test_the_environment_still_wins_over_iib_files(iib_files: tuple[Path, dict[str, str]]) -> None:
    assert _load(iib_files, IIB_REGISTRY="registry.other:5000").registry == "registry.other:5000"


@pytest.mark.parametrize("typo", ["iib_regsitry = 'x'", "IIB_MAX_PER_PGAE = 3"])
def test_an_unknown_iib_key_is_still_fatal(
    iib_files: tuple[Path, dict[str, str]], typo: str
) -> None:
    settings_py, environ = iib_files
    Path(environ["IIB_CELERY_CONFIG"]).write_text(IIB_CELERY_PY + typo + "\n")
    with pytest.raises(ConfigError, match=f"Unknown setting {typo.split()[0]}"):
        _load(iib_files)


def test_gitlab_token_errors_name_the_repository_not_the_token() -> None:
    with pytest.raises(ConfigError, match="https://git.example.com/r") as exc:
        load_settings(
            environ={"IIB_REQUEST_RECURSIVE_RELATED_BUNDLES_DIR": "/n"},
            overrides={"iib_index_configs_gitlab_tokens_map": {"https://git.example.com/r": "s3"}},
            iib_settings_file=None,
        )
    assert "s3" not in str(exc.value).replace("https://", "")


def test_amqp_and_nats_messaging_urls_do_not_mix() -> None:
    with pytest.raises(ConfigError, match="IIB_MESSAGING_URLS"):
        load_settings(
            environ={
                "IIB_REQUEST_RECURSIVE_RELATED_BUNDLES_DIR": "/n",
                "IIB_MESSAGING_URLS": '["amqps://a:5671", "nats://b:4222"]',
            },
            iib_settings_file=None,
        )


def test_request_id_in_the_request_log_format_is_substituted(tmp_path: Path) -> None:
    """IIB's default worker format carries ``{request_id}``, which its workers replace with
    ``request-<id>`` (iib/workers/tasks/utils.py, request_logger)."""
    s = load_settings(
        environ={
            "IIB_REQUEST_RECURSIVE_RELATED_BUNDLES_DIR": str(tmp_path),
            "IIB_REQUEST_LOGS_DIR": str(tmp_path / "logs"),
            "IIB_REQUEST_LOGS_FORMAT": "%(levelname)s {request_id} %(message)s",
        },
        iib_settings_file=None,
    )
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.DEBUG)
    try:
        with request_log(s, 42) as path:
            logging.getLogger("iib.test").info("hello")
    finally:
        root.setLevel(level)
    assert path is not None
    assert path.read_text() == "INFO request-42 hello\n"
