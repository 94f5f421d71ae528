"""IIB's YAML-to-JSON normalisation of catalog trees."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.catalog.yaml_to_json import normalize_yaml_to_json
from services.common.errors import CatalogError


def test_multi_document_yaml_becomes_concatenated_python_json(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "catalog.yaml").write_text(
        "foo: bar\nbar: foo\n---\n---\nanother: data\n---\nwhen: 2025-01-21T07:15:29\nflag: yes\nmode: 0755\n"
    )
    assert normalize_yaml_to_json(tmp_path) == ["pkg/catalog.json"]
    assert (tmp_path / "pkg" / "catalog.json").read_text() == (
        '{"foo": "bar", "bar": "foo"}{"another": "data"}'
        '{"when": "2025-01-21T07:15:29", "flag": "yes", "mode": 755}'
    )
    assert not (tmp_path / "pkg" / "catalog.yaml").exists()


def test_empty_yaml_is_iibs_error(tmp_path: Path) -> None:
    (tmp_path / "empty.yml").write_text("")
    with pytest.raises(CatalogError, match=r"^Empty YAML file found: .*empty\.yml$"):
        normalize_yaml_to_json(tmp_path)
    (tmp_path / "empty.yml").write_text("---\n---\n")
    with pytest.raises(CatalogError, match="Empty YAML file found"):
        normalize_yaml_to_json(tmp_path)


def test_malformed_and_conflicting_yaml_are_iibs_errors(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("a: [1\n")
    with pytest.raises(CatalogError, match=r"^Failed to parse YAML content in .*bad\.yaml"):
        normalize_yaml_to_json(tmp_path)
    (tmp_path / "bad.yaml").write_text("a: 1\n")
    (tmp_path / "bad.yml").write_text("b: 2\n")
    with pytest.raises(
        CatalogError,
        match="Conflicting YAML files found in .*: bad.yaml and bad.yml would both produce bad.json",
    ):
        normalize_yaml_to_json(tmp_path)
