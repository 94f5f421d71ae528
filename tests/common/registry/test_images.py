"""Image operations against a real registry, checked with skopeo."""

from __future__ import annotations

import json

import pytest

from services.common.errors import RegistryError
from services.common.registry import mediatypes as mt
from services.common.registry.errors import UnsupportedManifestError
from services.common.registry.imageconfig import ConfigChanges
from services.common.registry.images import (
    SCRATCH,
    ImageService,
    PushRecord,
    resolved_bundle_from_manifest,
)
from services.common.registry.layers import LayerDirectory, LayerFile, LayerWhiteout, build_layer
from services.common.registry.manifest import Manifest, encode_json
from services.common.registry.mediatypes import ImageFormat
from tests.common.registry.helpers import (
    FOUR_ARCHES,
    push_base_image,
    skopeo,
    skopeo_args,
    skopeo_inspect,
)

FBC_CHANGES = ConfigChanges(
    labels={
        "operators.operatorframework.io.index.configs.v1": "/configs",
        "com.redhat.index.delivery.version": "v4.15",
        "com.redhat.index.delivery.distribution_scope": "prod",
    },
    entrypoint=["/bin/opm"],
    cmd=["serve", "/configs", "--cache-dir=/tmp/cache"],
    exposed_ports=["50051"],
)


@pytest.fixture
def images(plain_client):
    return ImageService(plain_client)


@pytest.fixture
def catalog_layer(tmp_path):
    return build_layer(
        [
            LayerFile("configs/foo/catalog.json", data=b'{"schema":"olm.package","name":"foo"}\n'),
            LayerDirectory("tmp/cache", uid=1001),
            LayerFile("tmp/cache/digest", data=b"abc", uid=1001),
        ],
        tmp_path / "catalog.tar.gz",
        created_by="ADD catalog /configs",
    )


def test_resolve_gives_the_manifest_list_digest(images, plain_registry, repo, tmp_path):
    spec = f"{plain_registry.registry}/{repo}:v4.15"
    base = push_base_image(images.client, spec, tmp_path)
    resolved = images.resolve(spec)
    assert resolved == f"{plain_registry.registry}/{repo}@{base.digest}"
    assert skopeo_inspect(spec, plain_registry)["Digest"] == base.digest


def test_resolved_bundle_of_a_list_is_its_first_manifest(images, plain_registry, repo, tmp_path):
    spec = f"{plain_registry.registry}/{repo}:1.0"
    base = push_base_image(images.client, spec, tmp_path, arches=("amd64", "s390x"))
    first = base.children["amd64"]
    assert images.get_resolved_bundle(spec) == f"{plain_registry.registry}/{repo}@{first}"
    single = f"{plain_registry.registry}/{repo}@{base.children['s390x']}"
    assert images.get_resolved_bundle(single) == single
    assert images.get_resolved_bundles([spec, spec, single]) == [
        f"{plain_registry.registry}/{repo}@{first}",
        single,
    ]


def test_resolved_bundle_refuses_oci_with_iibs_message(images, plain_registry, repo, tmp_path):
    spec = f"{plain_registry.registry}/{repo}:oci"
    push_base_image(images.client, spec, tmp_path, arches=("amd64",), fmt=ImageFormat.OCI)
    with pytest.raises(UnsupportedManifestError) as info:
        images.get_resolved_bundle(spec)
    assert str(info.value) == (
        f"The pull specification of {spec} is neither a v2 manifest list nor a v2s2 manifest. "
        "Type application/vnd.oci.image.index.v1+json and schema version 2 is not supported by IIB."
    )


def test_resolved_bundle_refuses_schema1_and_missing_media_type():
    schema1 = Manifest.parse(
        encode_json({"schemaVersion": 1, "mediaType": mt.DOCKER_MANIFEST_V1_SIGNED, "fsLayers": []})
    )
    with pytest.raises(UnsupportedManifestError) as info:
        resolved_bundle_from_manifest("reg/a:b", schema1)
    assert str(info.value) == (
        "The pull specification of reg/a:b is neither a v2 manifest list nor a v2s2 manifest. "
        f"Type {mt.DOCKER_MANIFEST_V1_SIGNED} and schema version 1 is not supported by IIB."
    )
    # A schema 1 manifest normally has no mediaType field at all: IIB's skopeo check says so.
    bare_schema1 = Manifest.parse(b'{"schemaVersion":1,"name":"a","tag":"b","fsLayers":[]}')
    with pytest.raises(RegistryError, match="^mediaType not found$"):
        resolved_bundle_from_manifest("reg/a:b", bare_schema1)


def test_arches_and_labels_per_architecture(images, plain_registry, repo, tmp_path):
    spec = f"{plain_registry.registry}/{repo}:v1"
    push_base_image(images.client, spec, tmp_path)
    assert images.get_image_arches(spec) == set(FOUR_ARCHES)
    per_arch = images.labels_per_arch(spec)
    assert {arch: labels["architecture"] for arch, labels in per_arch.items()} == {
        "amd64": "x86_64",
        "arm64": "aarch64",
        "ppc64le": "ppc64le",
        "s390x": "s390x",
    }
    assert images.get_image_label(spec, "architecture") == "x86_64"
    assert images.get_image_label(spec, "architecture", arch="s390x") == "s390x"
    assert images.get_image_label(spec, "absent") == ""


def test_oci_index_arches_are_refused_the_iib_way(images, plain_registry, repo, tmp_path):
    spec = f"{plain_registry.registry}/{repo}:oci"
    push_base_image(images.client, spec, tmp_path, arches=("amd64",), fmt=ImageFormat.OCI)
    with pytest.raises(
        UnsupportedManifestError, match="neither a v2 manifest list nor a v2 manifest$"
    ):
        images.get_image_arches(spec)
    assert [p.platform.architecture for p in images.platform_images(spec)] == ["amd64"]


def test_build_appends_a_layer_to_every_arch_and_pushes_a_docker_list(
    images, plain_registry, repo, tmp_path, catalog_layer
):
    registry = plain_registry.registry
    base = push_base_image(images.client, f"{registry}/{repo}-binary:v4.15", tmp_path)
    stats = images.client.stats
    before = stats.snapshot()
    result = images.build(
        base.spec,
        [f"{registry}/{repo}:1", f"{registry}/{repo}:latest-build"],
        [catalog_layer],
        FBC_CHANGES,
        arch_tags=True,
    )
    after = stats.snapshot()

    raw = skopeo_inspect(f"{registry}/{repo}:1", plain_registry, "--raw")
    assert raw["mediaType"] == mt.DOCKER_MANIFEST_LIST
    assert [m["platform"]["architecture"] for m in raw["manifests"]] == sorted(FOUR_ARCHES)
    assert raw["manifests"][1]["platform"].get("variant") == "v8"
    assert all(m["mediaType"] == mt.DOCKER_MANIFEST for m in raw["manifests"])
    assert (
        skopeo_inspect(f"{registry}/{repo}:latest-build", plain_registry)["Digest"] == result.digest
    )
    assert sorted(images.list_tags(f"{registry}/{repo}")) == sorted(
        ["1", "latest-build", "1-amd64", "1-arm64", "1-ppc64le", "1-s390x"]
    )

    arm = skopeo_inspect(f"{registry}/{repo}:1", plain_registry, "--override-arch", "arm64")
    assert arm["Architecture"] == "arm64"
    assert arm["Labels"]["architecture"] == "aarch64"  # inherited from the base
    assert arm["Labels"]["base.label"] == "from-base"
    assert arm["Labels"]["operators.operatorframework.io.index.configs.v1"] == "/configs"
    assert arm["Layers"] == [*base.layer_digests["arm64"], catalog_layer.digest]
    config = skopeo_inspect(
        f"{registry}/{repo}:1", plain_registry, "--config", "--override-arch", "s390x"
    )
    assert config["config"]["Entrypoint"] == ["/bin/opm"]
    assert config["config"]["Cmd"] == ["serve", "/configs", "--cache-dir=/tmp/cache"]
    assert config["config"]["User"] == "1001"
    assert "50051/tcp" in config["config"]["ExposedPorts"]
    assert config["rootfs"]["diff_ids"][-1] == catalog_layer.diff_id
    assert config["history"][-2]["created_by"] == "ADD catalog /configs"
    assert config["history"][-1]["empty_layer"] is True

    # The catalog layer went up once for four architectures; base layers were mounted.
    assert after["blobs_uploaded"] - before["blobs_uploaded"] == 1 + 4  # layer + 4 configs
    uploaded = after["bytes_uploaded"] - before["bytes_uploaded"]
    assert catalog_layer.size <= uploaded < catalog_layer.size + 20_000
    assert after["blobs_mounted"] - before["blobs_mounted"] == 1 + 4  # shared + 4 own


def test_built_image_copies_to_an_oci_layout_and_unpacks(
    images, plain_registry, repo, tmp_path, catalog_layer
):
    registry = plain_registry.registry
    base = push_base_image(images.client, f"{registry}/{repo}-binary:v1", tmp_path)
    result = images.build(base.spec, [f"{registry}/{repo}:1"], [catalog_layer], FBC_CHANGES)
    layout = tmp_path / "layout"
    skopeo(
        "copy",
        "--all",
        *skopeo_args(plain_registry, prefix="src-"),
        f"docker://{registry}/{repo}:1",
        f"oci:{layout}:v1",
    )
    # skopeo converts Docker manifests to OCI for an OCI layout (new manifest digests), but the
    # blobs are copied as they are and verified against their digests on the way.
    top = json.loads((layout / "index.json").read_text())["manifests"][0]["digest"]
    listing = json.loads((layout / "blobs" / "sha256" / top.split(":")[1]).read_bytes())
    assert [m["platform"]["architecture"] for m in listing["manifests"]] == sorted(FOUR_ARCHES)
    for entry in listing["manifests"]:
        child = json.loads(
            (layout / "blobs" / "sha256" / entry["digest"].split(":")[1]).read_bytes()
        )
        assert child["layers"][-1]["digest"] == catalog_layer.digest
        arch = entry["platform"]["architecture"]
        assert [layer["digest"] for layer in child["layers"][:-1]] == base.layer_digests[arch]
    assert len(result.manifests) == 4

    unpacked = images.unpack(f"{registry}/{repo}:1", tmp_path / "rootfs", arch="ppc64le")
    root = tmp_path / "rootfs"
    assert (root / "bin" / "opm").read_text() == "#!/bin/sh\necho opm ppc64le\n"
    assert (root / "configs" / "foo" / "catalog.json").read_bytes().startswith(b'{"schema"')
    assert unpacked.files == 4


def test_oci_index_base_gives_an_oci_index(images, plain_registry, repo, tmp_path, catalog_layer):
    registry = plain_registry.registry
    base = push_base_image(
        images.client,
        f"{registry}/{repo}-binary:v1",
        tmp_path,
        arches=("amd64", "arm64"),
        fmt=ImageFormat.OCI,
    )
    result = images.build(base.spec, [f"{registry}/{repo}:1"], [catalog_layer])
    raw = skopeo_inspect(f"{registry}/{repo}:1", plain_registry, "--raw")
    assert result.media_type == raw["mediaType"] == mt.OCI_INDEX
    child = images.client.get_manifest(f"{registry}/{repo}@{raw['manifests'][0]['digest']}")
    assert child.media_type == mt.OCI_MANIFEST
    assert child.layers[-1].media_type == mt.OCI_LAYER_GZIP


def test_single_image_base_gives_a_one_entry_list(
    images, plain_registry, repo, tmp_path, catalog_layer
):
    registry = plain_registry.registry
    base = push_base_image(
        images.client, f"{registry}/{repo}-binary:v1", tmp_path, arches=("s390x",), as_list=False
    )
    assert base.media_type == mt.DOCKER_MANIFEST
    images.build(base.spec, [f"{registry}/{repo}:1"], [catalog_layer])
    raw = skopeo_inspect(f"{registry}/{repo}:1", plain_registry, "--raw")
    assert raw["mediaType"] == mt.DOCKER_MANIFEST_LIST
    assert [m["platform"]["architecture"] for m in raw["manifests"]] == ["s390x"]


def test_scratch_base_gives_a_single_image(images, plain_registry, repo, catalog_layer):
    registry = plain_registry.registry
    result = images.build(
        SCRATCH,
        [f"{registry}/{repo}:1"],
        [catalog_layer],
        ConfigChanges(labels={"operators.operatorframework.io.index.configs.v1": "/configs"}),
    )
    raw = skopeo_inspect(f"{registry}/{repo}:1", plain_registry, "--raw")
    assert raw["mediaType"] == result.media_type == mt.DOCKER_MANIFEST
    assert len(raw["layers"]) == 1
    inspected = skopeo_inspect(f"{registry}/{repo}:1", plain_registry)
    assert inspected["Labels"] == {"operators.operatorframework.io.index.configs.v1": "/configs"}
    assert inspected["Digest"] == result.digest


def test_build_is_reproducible(images, plain_registry, repo, tmp_path):
    registry = plain_registry.registry
    base = push_base_image(
        images.client, f"{registry}/{repo}-binary:v1", tmp_path, arches=("amd64", "arm64")
    )
    digests = []
    for run in range(2):
        layer = build_layer([LayerFile("configs/x.json", data=b"{}")], tmp_path / f"l{run}.tgz")
        digests.append(
            images.build(base.spec, [f"{registry}/{repo}:{run}"], [layer], FBC_CHANGES).digest
        )
    assert digests[0] == digests[1]


def test_discard_deletes_only_the_manifests_the_build_created(
    images, plain_registry, repo, tmp_path, catalog_layer
):
    registry = plain_registry.registry
    base = push_base_image(
        images.client, f"{registry}/{repo}-binary:v1", tmp_path, arches=("amd64", "arm64")
    )
    kept = images.build(base.spec, [f"{registry}/{repo}:1"], [catalog_layer], arch_tags=True)
    # the same inputs again (builds are reproducible): every manifest already exists
    same = PushRecord()
    again = images.build(
        base.spec,
        [f"{registry}/{repo}:2", f"{registry}/{repo}:shared"],
        [catalog_layer],
        arch_tags=True,
        record=same,
    )
    assert again.digest == kept.digest
    assert same.created == []
    images.discard(same)
    assert images.get_image_digest(f"{registry}/{repo}:1") == kept.digest
    assert images.get_image_digest(f"{registry}/{repo}:1-arm64") == kept.manifests["arm64"]
    # a different image: its list and per-arch manifests are new and are deleted, list first
    new = PushRecord()
    other = images.build(
        base.spec,
        [f"{registry}/{repo}:3"],
        [catalog_layer],
        ConfigChanges(labels={"other": "yes"}),
        arch_tags=True,
        record=new,
    )
    assert new.created == [
        *(f"{registry}/{repo}@{other.manifests[arch]}" for arch in ("amd64", "arm64")),
        f"{registry}/{repo}@{other.digest}",
    ]
    images.discard(new)
    assert new.created == []
    for spec in (f"{registry}/{repo}:3", f"{registry}/{repo}:3-amd64"):
        assert images.client.head_manifest(spec) is None
    assert images.get_image_digest(f"{registry}/{repo}:shared") == kept.digest


def test_build_restricted_to_arches_and_missing_arch_is_named(
    images, plain_registry, repo, tmp_path, catalog_layer
):
    registry = plain_registry.registry
    base = push_base_image(images.client, f"{registry}/{repo}-binary:v1", tmp_path)
    result = images.build(
        base.spec, [f"{registry}/{repo}:1"], [catalog_layer], arches={"amd64", "s390x"}
    )
    assert sorted(result.manifests) == ["amd64", "s390x"]
    with pytest.raises(Exception, match="not available for the following arches: mips64le"):
        images.build(
            base.spec, [f"{registry}/{repo}:2"], [catalog_layer], arches={"amd64", "mips64le"}
        )


def test_whiteout_layer_replaces_base_content(images, plain_registry, repo, tmp_path):
    registry = plain_registry.registry
    base = push_base_image(
        images.client,
        f"{registry}/{repo}-binary:v1",
        tmp_path,
        arches=("amd64",),
        extra_files={"configs/old/catalog.json": b"old"},
    )
    layer = build_layer(
        [LayerWhiteout("configs", opaque=True), LayerFile("configs/new/catalog.json", data=b"new")],
        tmp_path / "replace.tgz",
    )
    images.build(base.spec, [f"{registry}/{repo}:1"], [layer])
    images.unpack(f"{registry}/{repo}:1", tmp_path / "root", include=["configs"])
    assert sorted(p.name for p in (tmp_path / "root" / "configs").iterdir()) == ["new"]


def test_copy_to_another_registry_keeps_the_digest(
    images, plain_registry, second_registry, repo, tmp_path, catalog_layer
):
    registry = plain_registry.registry
    base = push_base_image(
        images.client, f"{registry}/{repo}-binary:v1", tmp_path, arches=("amd64", "arm64")
    )
    built = images.build(
        base.spec,
        [f"{registry}/{repo}:1", f"{second_registry.registry}/{repo}:copied"],
        [catalog_layer],
    )
    assert (
        skopeo_inspect(f"{second_registry.registry}/{repo}:copied", second_registry)["Digest"]
        == built.digest
    )
    mounted_before = images.client.stats.blobs_mounted
    digest = images.copy(f"{registry}/{repo}:1", [f"{registry}/{repo}-overwritten:v4.15"])
    assert digest == built.digest
    assert (
        skopeo_inspect(f"{registry}/{repo}-overwritten:v4.15", plain_registry)["Digest"] == digest
    )
    # shared base layer + 2 own layers + catalog layer + 2 configs, all mounted, none uploaded
    assert images.client.stats.blobs_mounted - mounted_before == 6


def test_an_oci_base_can_be_written_as_docker_v2s2_like_iib_does(
    images, plain_registry, repo, tmp_path, catalog_layer
):
    """IIB pushes its index images with buildah --format v2s2: an OCI binary image gives a
    Docker manifest list of Docker v2s2 manifests (the blobs are the same, their media types
    are Docker's)."""
    base = f"{plain_registry.registry}/{repo}:oci-base"
    push_base_image(images.client, base, tmp_path, fmt=ImageFormat.OCI)
    target = f"{plain_registry.registry}/{repo}:as-docker"
    images.build(base, [target], [catalog_layer], FBC_CHANGES, output_format=ImageFormat.DOCKER)
    listing = json.loads(
        skopeo("inspect", "--raw", *skopeo_args(plain_registry), f"docker://{target}")
    )
    assert listing["mediaType"] == mt.DOCKER_MANIFEST_LIST
    for entry in listing["manifests"]:
        assert entry["mediaType"] == mt.DOCKER_MANIFEST
        child = images.client.get_manifest(f"{plain_registry.registry}/{repo}@{entry['digest']}")
        document = json.loads(child.raw)
        assert document["config"]["mediaType"] == mt.DOCKER_CONFIG
        assert {layer["mediaType"] for layer in document["layers"]} == {mt.DOCKER_LAYER_GZIP}
    # and the default keeps the base's format
    kept = f"{plain_registry.registry}/{repo}:as-base"
    images.build(base, [kept], [catalog_layer], FBC_CHANGES)
    assert (
        json.loads(skopeo("inspect", "--raw", *skopeo_args(plain_registry), f"docker://{kept}"))[
            "mediaType"
        ]
        == mt.OCI_INDEX
    )
