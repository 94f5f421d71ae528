"""Settings: IIB's names, JSON in the environment, a settings file, and start-up errors that
name the setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.config import describe_settings, load_settings
from services.common.errors import ConfigError

BASE = {"IIB_REQUEST_RECURSIVE_RELATED_BUNDLES_DIR": "/tmp/nested"}


def test_defaults_match_iib() -> None:
    s = load_settings(environ=BASE)
    assert s.max_per_page == 20
    assert s.request_data_days_to_live == 3
    assert s.graph_mode_options == ("replaces", "semver", "semver-skippatch")
    assert s.worker_usernames == ()
    assert s.login_disabled is False
    assert s.binary_image_config == {}


def test_environment_values_are_parsed() -> None:
    s = load_settings(
        environ={
            **BASE,
            "IIB_MAX_PER_PAGE": "50",
            "LOGIN_DISABLED": "true",
            "IIB_WORKER_USERNAMES": '["worker@X"]',
            "IIB_USER_TO_QUEUE": '{"SERIAL:u": {"all": "q"}, "v": "w"}',
            "IIB_BINARY_IMAGE_CONFIG": '{"prod": {"v4.5": "bin:1"}}',
            "IIB_GREENWAVE_CONFIG": '{"null": {"decision_context": "d", "product_version": "p", "subject_type": "koji_build"}}',
        }
    )
    assert s.max_per_page == 50
    assert s.login_disabled is True
    assert s.worker_usernames == ("worker@X",)
    assert s.user_to_queue == {"SERIAL:u": {"all": "q"}, "v": "w"}
    assert s.greenwave_config[None]["product_version"] == "p"


def test_readme_alias_of_the_recursive_dir_is_accepted() -> None:
    s = load_settings(environ={"IIB_RECURSIVE_REQUEST_RELATED_BUNDLES_DIR": "/x"})
    assert s.request_recursive_related_bundles_dir == Path("/x")


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"IIB_MAX_PER_PAGE": "many"}, "IIB_MAX_PER_PAGE"),
        ({"IIB_MAX_PER_PAGE": "0"}, "IIB_MAX_PER_PAGE"),
        ({"LOGIN_DISABLED": "maybe"}, "LOGIN_DISABLED"),
        ({"IIB_WORKER_USERNAMES": "worker"}, "IIB_WORKER_USERNAMES"),
        ({"IIB_WORKER_USERNAMES": "[1]"}, "IIB_WORKER_USERNAMES"),
        ({"IIB_USER_TO_QUEUE": '{"u": {"x": "q"}}'}, "`all`"),
        ({"IIB_USER_TO_QUEUE": '{"u": 5}'}, "IIB_USER_TO_QUEUE"),
        ({"IIB_BINARY_IMAGE_CONFIG": '{"qa": {}}'}, "IIB_BINARY_IMAGE_CONFIG"),
        ({"IIB_BINARY_IMAGE_CONFIG": '{"prod": {"v4.5": 1}}'}, "IIB_BINARY_IMAGE_CONFIG"),
        ({"IIB_GREENWAVE_CONFIG": '{"q": {"decision_context": "d"}}'}, "IIB_GREENWAVE_CONFIG"),
        (
            {
                "IIB_GREENWAVE_CONFIG": '{"q": {"decision_context": "d", "product_version": "p", '
                '"subject_type": "koji_build"}}'
            },
            "IIB_GREENWAVE_CONFIG",
        ),
        ({"IIB_LOG_LEVEL": "LOUD"}, "IIB_LOG_LEVEL"),
        ({"IIB_GATEWAY_LISTEN": "nowhere"}, "IIB_GATEWAY_LISTEN"),
        ({"IIB_GATEWAY_TLS_CERT": "/x.crt"}, "IIB_GATEWAY_TLS_CERT"),
    ],
)
def test_bad_setting_fails_naming_it(env: dict, named: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load_settings(environ={**BASE, **env})
    assert named in str(exc.value)


def test_artifact_location_rules() -> None:
    with pytest.raises(ConfigError, match="IIB_REQUEST_RECURSIVE_RELATED_BUNDLES_DIR"):
        load_settings(environ={})
    with pytest.raises(ConfigError, match="AWS_ACCESS_KEY_ID"):
        load_settings(environ={"IIB_AWS_S3_BUCKET_NAME": "b"})


def test_settings_file_python_and_json(tmp_path: Path) -> None:
    py = tmp_path / "settings.py"
    py.write_text(
        "import os\nIIB_MAX_PER_PAGE = 7\nIIB_WORKER_USERNAMES = ['w']\n"
        "IIB_REQUEST_RECURSIVE_RELATED_BUNDLES_DIR = '/n'\n"
    )
    s = load_settings(environ={"IIB_SETTINGS_FILE": str(py), "IIB_MAX_PER_PAGE": "9"})
    assert s.max_per_page == 9  # the environment wins over the file
    assert s.worker_usernames == ("w",)
    js = tmp_path / "settings.json"
    js.write_text('{"IIB_MAX_PER_PAGE": 3, "IIB_REQUEST_RECURSIVE_RELATED_BUNDLES_DIR": "/n"}')
    assert load_settings(environ={"IIB_SETTINGS_FILE": str(js)}).max_per_page == 3
    js.write_text('{"IIB_MAX_PER_PGAE": 3}')
    with pytest.raises(ConfigError, match="Unknown setting IIB_MAX_PER_PGAE"):
        load_settings(environ={"IIB_SETTINGS_FILE": str(js)})


def test_secrets_key_is_required_and_validated(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="IIB_SECRETS_KEY"):
        load_settings(environ=BASE).secret_keys()
    from services.common.secrets import SecretBox

    with pytest.raises(ConfigError, match="IIB_SECRETS_KEY"):
        SecretBox(load_settings(environ={**BASE, "IIB_SECRETS_KEY": "short"}).secret_keys())


def test_every_setting_is_documented() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    missing = [name for name, _, _ in describe_settings() if name not in docs]
    assert missing == []
