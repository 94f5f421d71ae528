"""Pull-spec parsing and IIB's name-without-tag rule."""

from __future__ import annotations

import pytest

from services.common.reference import (
    ImageReference,
    InvalidReferenceError,
    name_without_tag_or_digest,
    parse_reference,
)

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("quay.io/ns/img:v1", ImageReference("quay.io", "ns/img", "v1")),
        ("quay.io:443/ns/img:8", ImageReference("quay.io:443", "ns/img", "8")),
        ("127.0.0.1:5000/a/b/c", ImageReference("127.0.0.1:5000", "a/b/c")),
        ("localhost/img", ImageReference("localhost", "img")),
        (f"reg.io/ns/img@{DIGEST}", ImageReference("reg.io", "ns/img", None, DIGEST)),
        (f"reg.io/ns/img:v1@{DIGEST}", ImageReference("reg.io", "ns/img", "v1", DIGEST)),
        ("ubuntu", ImageReference("docker.io", "library/ubuntu")),
        ("ubuntu:22.04", ImageReference("docker.io", "library/ubuntu", "22.04")),
        ("user/app:1", ImageReference("docker.io", "user/app", "1")),
        ("index.docker.io/library/busybox", ImageReference("docker.io", "library/busybox")),
    ],
)
def test_parse_reference_splits_registry_repository_tag_and_digest(spec, expected):
    assert parse_reference(spec) == expected


def test_docker_hub_references_talk_to_registry_1():
    ref = parse_reference("busybox:latest")
    assert ref.api_host == "registry-1.docker.io"
    assert str(ref) == "docker.io/library/busybox:latest"


def test_reference_defaults_to_latest_and_prefers_the_digest():
    assert parse_reference("reg.io/ns/img").reference == "latest"
    assert parse_reference(f"reg.io/ns/img:v1@{DIGEST}").reference == DIGEST


@pytest.mark.parametrize(
    "spec",
    [
        "",
        " reg.io/a",
        "reg.io/UPPER/img",
        "reg.io/ns/img@sha256:abc",
        "reg.io/ns/img:bad tag",
        "reg.io/ns//img",
    ],
)
def test_parse_reference_rejects_malformed_specs(spec):
    with pytest.raises(InvalidReferenceError):
        parse_reference(spec)


@pytest.mark.parametrize(
    ("spec", "name"),
    [
        ("quay.io/ns/image:8", "quay.io/ns/image"),
        ("quay.io:443/ns/image:8", "quay.io:443/ns/image"),
        ("quay.io:443/ns/image", "quay.io:443/ns/image"),
        (f"quay.io:443/ns/image@{DIGEST}", "quay.io:443/ns/image"),
        (f"quay.io/ns/image:v1@{DIGEST}", "quay.io/ns/image:v1"),
        ("ubuntu:22.04", "ubuntu"),
    ],
)
def test_name_without_tag_or_digest_matches_iib_get_resolved_image(spec, name):
    assert name_without_tag_or_digest(spec) == name
