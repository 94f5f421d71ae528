"""IIB_ORGANIZATION_CUSTOMIZATIONS and IIB_MAX_RECURSIVE_RELATED_BUNDLES: IIB's names, checked
at start-up with messages that name the setting and the entry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from services.common.config import load_settings
from services.common.errors import ConfigError

BASE = {"IIB_REQUEST_RECURSIVE_RELATED_BUNDLES_DIR": "/tmp/nested"}
NAME = "IIB_ORGANIZATION_CUSTOMIZATIONS"


def _load(value: Any) -> Any:
    return load_settings(environ={**BASE, NAME: json.dumps(value)})


def test_defaults() -> None:
    settings = load_settings(environ=BASE)
    assert settings.organization_customizations == {}
    assert settings.max_recursive_related_bundles == 15


def test_every_customization_type_is_accepted() -> None:
    value = {
        "acme": [
            {"type": "resolve_image_pullspecs"},
            {"type": "related_bundles"},
            {"type": "perform_bundle_replacements"},
            {"type": "csv_annotations", "annotations": {"a": "{package_name}"}},
            {"type": "package_name_suffix", "suffix": "-acme"},
            {"type": "registry_replacements", "replacements": {"quay.io": "mirror.io/q"}},
            {"type": "image_name_from_labels", "template": "{name}-{version}"},
            {"type": "enclose_repo", "namespace": "acme", "enclosure_glue": "----"},
        ],
        "empty": [],
    }
    assert _load(value).organization_customizations == value


def test_iib_lower_case_names_in_a_settings_file(tmp_path: Path) -> None:
    path = tmp_path / "settings.py"
    path.write_text(
        "iib_organization_customizations = {'acme': [{'type': 'package_name_suffix', "
        "'suffix': '-a'}]}\niib_max_recursive_related_bundles = 3\n"
    )
    settings = load_settings(environ={**BASE, "IIB_SETTINGS_FILE": str(path)})
    assert settings.organization_customizations == {
        "acme": [{"type": "package_name_suffix", "suffix": "-a"}]
    }
    assert settings.max_recursive_related_bundles == 3


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (["x"], f"Invalid setting {NAME}: must be a dictionary of organization to a list"),
        (
            {"acme": {"type": "related_bundles"}},
            f"Invalid setting {NAME}: the value of acme must be a list",
        ),
        (
            {"acme": ["related_bundles"]},
            f"Invalid setting {NAME}.acme[0]: every customization must be a dict",
        ),
        (
            {"acme": [{"type": "rename"}]},
            f"Invalid setting {NAME}.acme[0]: unknown customization type 'rename'",
        ),
        (
            {
                "acme": [
                    {"type": "related_bundles"},
                    {"type": "package_name_suffix", "suffix": "-a", "x": 1},
                ]
            },
            f"Invalid setting {NAME}.acme[1]: invalid keys x for the package_name_suffix customization",
        ),
        (
            {"acme": [{"type": "enclose_repo", "namespace": "n"}]},
            f"Invalid setting {NAME}.acme[0]: the enclose_repo customization needs enclosure_glue",
        ),
        (
            {"acme": [{"type": "image_name_from_labels", "template": 5}]},
            f"Invalid setting {NAME}.acme[0].template: must be a string",
        ),
        (
            {"acme": [{"type": "registry_replacements", "replacements": {"a": 1}}]},
            f"Invalid setting {NAME}.acme[0].replacements: must be a dictionary of strings",
        ),
    ],
)
def test_bad_customizations_stop_the_start(value: Any, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        _load(value)
    assert str(error.value).startswith(message)


def test_max_recursive_related_bundles_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="IIB_MAX_RECURSIVE_RELATED_BUNDLES"):
        load_settings(environ={**BASE, "IIB_MAX_RECURSIVE_RELATED_BUNDLES": "0"})
