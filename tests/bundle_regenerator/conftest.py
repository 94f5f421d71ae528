"""Shared helpers of the bundle regenerator tests: a plain-data image lookup and bundle copies."""

from __future__ import annotations

import hashlib
import shutil
import textwrap
from collections.abc import Mapping
from pathlib import Path

import pytest

from services.common.reference import name_without_tag_or_digest
from services.common.registry.errors import ImageNotFoundError
from services.tooling.demo.images import FIXTURES_ROOT


def digest_of(text: str) -> str:
    """A stable, realistic digest standing for the image ``text`` resolves to."""
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


class FakeImages:
    """An in-memory ``ImageLookup``: what pull specs resolve to and which labels they carry.

    A pull spec given by digest resolves to itself; one given by tag resolves to
    ``digests[spec]`` or, when ``resolve_all``, to :func:`digest_of` the spec. Every call is
    recorded, so tests can check which lookups the rules made.
    """

    def __init__(
        self,
        digests: Mapping[str, str] | None = None,
        labels: Mapping[str, Mapping[str, str]] | None = None,
        *,
        default_labels: Mapping[str, str] | None = None,
        resolve_all: bool = True,
    ) -> None:
        self.digests = dict(digests or {})
        self.image_labels = {k: dict(v) for k, v in (labels or {}).items()}
        self.default_labels = dict(default_labels or {})
        self.resolve_all = resolve_all
        self.resolved: list[str] = []
        self.label_reads: list[str] = []

    def resolve(self, pull_spec: str) -> str:
        self.resolved.append(pull_spec)
        name = name_without_tag_or_digest(pull_spec)
        if "@" in pull_spec:
            return pull_spec
        if pull_spec in self.digests:
            return f"{name}@{self.digests[pull_spec]}"
        if self.resolve_all:
            return f"{name}@{digest_of(pull_spec)}"
        raise ImageNotFoundError(f"Failed to get the manifest of {pull_spec}: HTTP 404")

    def labels(self, pull_spec: str) -> Mapping[str, str]:
        self.label_reads.append(pull_spec)
        return self.image_labels.get(pull_spec, self.default_labels)


def copy_fixture(package: str, version: str, dest: Path) -> Path:
    """A writable copy of a community fixture bundle (``manifests/`` + ``metadata/``)."""
    target = dest / f"{package}-{version}"
    shutil.copytree(FIXTURES_ROOT / package / version, target)
    return target


def write_bundle(dest: Path, csv: str, package: str = "amqstreams", annotations: str = "") -> Path:
    """A minimal bundle with one CSV file (text dedented) and metadata/annotations.yaml."""
    (dest / "manifests").mkdir(parents=True)
    (dest / "metadata").mkdir()
    (dest / "manifests" / "csv.yaml").write_text(textwrap.dedent(csv))
    (dest / "metadata" / "annotations.yaml").write_text(
        annotations
        or (
            "annotations:\n"
            "  operators.operatorframework.io.bundle.channels.v1: stable\n"
            "  operators.operatorframework.io.bundle.manifests.v1: manifests/\n"
            f"  operators.operatorframework.io.bundle.package.v1: {package}\n"
        )
    )
    return dest


@pytest.fixture
def fake_images() -> FakeImages:
    return FakeImages()
