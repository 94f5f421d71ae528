"""YAML parsed by operator-manifest / ruamel.yaml is bounded before ruamel sees it: an alias
chain that operator-manifest would walk for many seconds (issue 12: 1.1 KB took 6.8 s), deep
nesting, oversized labels and annotations are refused with a message naming the file."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from services.bundle_regenerator.customizations import (
    DEFAULT_CUSTOMIZATIONS,
    adjust_operator_bundle,
    load_operator_manifest,
    yaml_truthy,
)
from services.common.errors import CatalogError
from tests.bundle_regenerator.conftest import FakeImages, write_bundle
from tests.bundle_regenerator.test_customizations import csv_text

CSV = """\
apiVersion: operators.coreos.com/v1alpha1
kind: ClusterServiceVersion
metadata:
  name: hostile.v1.0.0
  annotations:
    containerImage: quay.io/o/i:v1
spec:
  version: 1.0.0
"""


def alias_chain(levels: int) -> str:
    lines = ["  a0: &a0 {k: v}"]
    lines += [f"  a{n}: &a{n} [*a{n - 1}, *a{n - 1}]" for n in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_an_alias_chain_in_the_csv_is_refused_at_once(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "b", CSV + alias_chain(21))  # ~760 bytes
    started = time.monotonic()
    with pytest.raises(CatalogError) as error:
        load_operator_manifest(bundle / "manifests")
    assert time.monotonic() - started < 2.0
    assert str(error.value).startswith(
        "The Operator Manifest is not in a valid YAML format: manifests/csv.yaml: "
    )
    assert "possible YAML bomb" in str(error.value)


def test_a_deeply_nested_crd_next_to_the_csv_is_refused(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "b", CSV)
    (bundle / "manifests" / "crd.yaml").write_text("spec: " + "[" * 50_000 + "]" * 50_000)
    with pytest.raises(CatalogError, match=r"manifests/crd\.yaml: .*nested deeper than 512"):
        adjust_operator_bundle(
            bundle / "manifests", bundle / "metadata", FakeImages(), list(DEFAULT_CUSTOMIZATIONS)
        )


def test_a_bomb_in_annotations_yaml_is_refused(tmp_path: Path) -> None:
    annotations = (
        "annotations:\n  operators.operatorframework.io.bundle.package.v1: p\n" + alias_chain(21)
    )
    bundle = write_bundle(tmp_path / "b", csv_text("quay.io/o/i:v1"), annotations=annotations)
    with pytest.raises(CatalogError, match=r"^metadata/annotations\.yaml is not valid YAML: "):
        adjust_operator_bundle(
            bundle / "manifests", bundle / "metadata", FakeImages(), list(DEFAULT_CUSTOMIZATIONS)
        )


def test_a_deep_label_value_is_refused_without_echoing_it() -> None:
    with pytest.raises(CatalogError) as error:
        yaml_truthy("[" * 20_000 + "]" * 20_000)
    assert len(str(error.value)) < 200
    assert yaml_truthy("true") and not yaml_truthy("false")
