"""End to end through Envoy with real nats-server, docker-registry and the index builder: every
index request type produces a real index image, checked with skopeo and by loading its catalog."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from iiblib.iib_client import IIBClient

from services.catalog import directory_tree, render_bundle, tree_digest
from services.index_builder.index_image import (
    CACHE_CREATED_BY,
    CACHE_INDEX_CREATED_BY,
    CONFIGS_CREATED_BY,
    bucket_of,
    cache_bucket_of,
)
from services.tooling.demo import images as fixture_images
from tests.catalog.fbc import package_docs, write_doc_files
from tests.e2e.conftest import (
    ARCHES,
    AUTH_PASSWORD,
    AUTH_USER,
    FIXTURES,
    SUBMITTER,
    EndToEnd,
)

pytestmark = [pytest.mark.db, pytest.mark.slow]

LIST = "application/vnd.docker.distribution.manifest.list.v2+json"


def _bundle_names(catalog: Any, package: str) -> list[str]:
    docs = catalog.load_package(package)
    return sorted(b.name for b in docs.bundles) if docs else []


def _channel(catalog: Any, package: str, name: str) -> dict[str, Any]:
    docs = catalog.load_package(package)
    channel = next(c for c in docs.channels if c.name == name)
    return {e.name: (e.replaces or None) for e in channel.entries}


def _history(build: dict[str, Any]) -> list[str]:
    return [h["state_reason"] for h in reversed(build["state_history"])]


def _assert_serving_cache_is_current(root: Path) -> None:
    """The unpacked image's /tmp/cache/digest is opm's digest of its /configs and cache trees,
    so ``opm serve /configs --cache-dir=/tmp/cache`` uses the cache as it is."""
    digest = (root / "tmp" / "cache" / "digest").read_text()
    configs = directory_tree(root / "configs")
    cache = directory_tree(root / "tmp" / "cache" / "cache")
    assert tree_digest(configs, cache) == digest


def _catalog_parts(e2e: EndToEnd, spec: str) -> dict[str, str]:
    """created_by -> layer digest of the catalog layers of ``spec`` (amd64)."""
    config = e2e.skopeo("--config", spec=spec)
    layers = e2e.skopeo(spec=spec)["Layers"]
    created = [h.get("created_by", "") for h in config["history"] if not h.get("empty_layer")]
    assert len(created) == len(layers)
    return {
        text: digest
        for text, digest in zip(created, layers, strict=True)
        if text.startswith((CONFIGS_CREATED_BY, CACHE_CREATED_BY))
    }


def _tags(e2e: EndToEnd, repository: str) -> list[str]:
    return e2e.images.list_tags(f"{e2e.registry.registry}/{repository}:x")


@pytest.fixture(scope="module")
def keda_index(e2e: EndToEnd, bundles: dict[str, list[str]], binary: str) -> dict[str, Any]:
    """keda 1.4.1 added to an empty index for all four architectures."""
    keda = bundles["keda"]
    build = e2e.build(
        "add",
        {
            "bundles": [keda[0]],
            "binary_image": binary,
            "add_arches": ARCHES,
            "build_tags": ["keda-latest"],
        },
    )
    assert build["state"] == "complete", build["state_reason"]
    return build


def test_add_to_an_empty_index_builds_a_multi_arch_index_image(
    e2e: EndToEnd,
    keda_index: dict[str, Any],
    bundles: dict[str, list[str]],
    binary: str,
    tmp_path: Path,
) -> None:
    build = keda_index
    rid = build["id"]
    output = f"{e2e.registry.registry}/iib-build:{rid}"
    assert (
        build["state_reason"] == "The operator bundle(s) were successfully added to the index image"
    )
    assert _history(build) == [
        "The request was initiated",
        "Resolving the bundles",
        "Resolving the container images",
        f"Building the index image for the following arches: {', '.join(sorted(ARCHES))}",
        "Creating the manifest list",
        "The operator bundle(s) were successfully added to the index image",
    ]
    assert build["arches"] == sorted(ARCHES)
    assert build["index_image"] == output
    assert build["internal_index_image_copy"] == output
    digest = e2e.skopeo("--raw", spec=output)
    assert digest["mediaType"] == LIST
    assert sorted(m["platform"]["architecture"] for m in digest["manifests"]) == sorted(ARCHES)
    assert build["index_image_resolved"].startswith(f"{e2e.registry.registry}/iib-build@sha256:")
    assert build["binary_image"] == binary and build["binary_image_resolved"].startswith(
        f"{e2e.registry.registry}/opm@sha256:"
    )
    assert build["bundle_mapping"] == {"keda": [bundles["keda"][0]]}
    assert build["distribution_scope"] == "prod"
    for arch in ARCHES:
        config = e2e.skopeo("--config", "--override-arch", arch, spec=output)
        labels = config["config"]["Labels"]
        assert labels["operators.operatorframework.io.index.configs.v1"] == "/configs"
        assert labels["com.redhat.index.delivery.version"] == "v4.5"
        assert labels["com.redhat.index.delivery.distribution_scope"] == "prod"
        assert config["architecture"] == arch
        assert config["config"]["Entrypoint"] == ["/bin/opm"]
        assert config["config"]["Cmd"] == ["serve", "/configs", "--cache-dir=/tmp/cache"]
    tags = _tags(e2e, "iib-build")
    assert {str(rid), "keda-latest", *(f"{rid}-{a}" for a in ARCHES)} <= set(tags)
    # the build tag is the same manifest list
    assert e2e.images.get_image_digest(f"{e2e.registry.registry}/iib-build:keda-latest") == (
        e2e.images.get_image_digest(output)
    )
    catalog = e2e.catalog_of(output, tmp_path / "out", arch="s390x")
    assert catalog.package_names() == ["keda"]
    assert _bundle_names(catalog, "keda") == ["keda.v1.4.1"]
    _assert_serving_cache_is_current(tmp_path / "out")
    # the log of the request is served
    logs = e2e.rest_get(f"/api/v1/builds/{rid}/logs")
    assert logs.status_code == 200 and "Resolving the bundles" in logs.text


def test_add_in_replaces_mode_to_an_existing_index(
    e2e: EndToEnd,
    keda_index: dict[str, Any],
    bundles: dict[str, list[str]],
    binary: str,
    tmp_path: Path,
) -> None:
    keda = bundles["keda"]
    build = e2e.build(
        "add",
        {
            "bundles": [keda[1], keda[2]],
            "binary_image": binary,
            "from_index": keda_index["index_image"],
        },
    )
    assert build["state"] == "complete", build["state_reason"]
    assert "Checking if bundles are already present in index image" in _history(build)
    assert build["from_index_resolved"] == keda_index["index_image_resolved"]
    assert build["arches"] == sorted(ARCHES)  # inherited from from_index
    catalog = e2e.catalog_of(build["index_image"], tmp_path / "out")
    assert _channel(catalog, "keda", "alpha") == {
        "keda.v1.4.1": None,
        "keda.v1.5.0": "keda.v1.4.1",
        "keda.v2.0.0": "keda.v1.5.0",
    }


def test_bundles_already_in_the_index_are_not_added_again(
    e2e: EndToEnd,
    keda_index: dict[str, Any],
    bundles: dict[str, list[str]],
    binary: str,
    tmp_path: Path,
) -> None:
    build = e2e.build(
        "add",
        {
            "bundles": [bundles["keda"][0]],
            "binary_image": binary,
            "from_index": keda_index["index_image"],
        },
    )
    assert build["state"] == "complete", build["state_reason"]
    catalog = e2e.catalog_of(build["index_image"], tmp_path / "out")
    assert _bundle_names(catalog, "keda") == ["keda.v1.4.1"]


@pytest.mark.parametrize("mode", ["semver", "semver-skippatch"])
def test_add_with_semver_graph_modes(
    e2e: EndToEnd, bundles: dict[str, list[str]], binary: str, tmp_path: Path, mode: str
) -> None:
    # cert-utils-operator bundles have no `replaces`: only the semver modes chain them.
    # The allow list holds "127.0.0.1": IIB compares the from_index up to its first ":".
    cert = bundles["cert-utils-operator"]
    base = e2e.build(
        "add", {"bundles": [cert[-3]], "binary_image": binary, "add_arches": ["amd64"]}
    )
    assert base["state"] == "complete", base["state_reason"]
    build = e2e.build(
        "add",
        {
            "bundles": cert[-2:],
            "binary_image": binary,
            "from_index": base["index_image"],
            "graph_update_mode": mode,
        },
    )
    assert build["state"] == "complete", build["state_reason"]
    assert build["graph_update_mode"] == mode
    catalog = e2e.catalog_of(build["index_image"], tmp_path / "out")
    docs = catalog.load_package("cert-utils-operator")
    assert docs is not None
    entries = {e.name: e for e in docs.channels[0].entries}
    head = entries["cert-utils-operator.v1.0.7"]
    if mode == "semver":
        assert head.replaces == "cert-utils-operator.v1.0.6"
        assert entries["cert-utils-operator.v1.0.6"].replaces == "cert-utils-operator.v1.0.5"
    else:
        assert set(head.skips) >= {"cert-utils-operator.v1.0.5", "cert-utils-operator.v1.0.6"}
    denied = e2e.post(
        "add",
        {
            "bundles": cert[-1:],
            "binary_image": binary,
            "from_index": "registry.example.com/other/index:v4.14",
            "graph_update_mode": mode,
        },
    )
    assert denied.status_code == 403


def test_rm_removes_a_package(
    e2e: EndToEnd,
    keda_index: dict[str, Any],
    bundles: dict[str, list[str]],
    binary: str,
    tmp_path: Path,
) -> None:
    both = e2e.build(
        "add",
        {
            "bundles": [bundles["cert-utils-operator"][0]],
            "binary_image": binary,
            "from_index": keda_index["index_image"],
        },
    )
    assert both["state"] == "complete", both["state_reason"]
    removed = e2e.build(
        "rm", {"operators": ["keda"], "binary_image": binary, "from_index": both["index_image"]}
    )
    assert removed["state"] == "complete", removed["state_reason"]
    assert (
        removed["state_reason"] == "The operator(s) were successfully removed from the index image"
    )
    assert removed["removed_operators"] == ["keda"]
    catalog = e2e.catalog_of(removed["index_image"], tmp_path / "out")
    assert catalog.package_names() == ["cert-utils-operator"]
    _assert_serving_cache_is_current(tmp_path / "out")
    # the catalog is split by package: cert-utils-operator's parts did not change, so the output
    # has the very same blobs as from_index; keda's parts are gone; the cache index
    # (packages.json) and the tail (the digest) are new
    before, after = (
        _catalog_parts(e2e, both["index_image"]),
        _catalog_parts(e2e, removed["index_image"]),
    )
    cert, keda = bucket_of("cert-utils-operator"), bucket_of("keda")
    cert_cache, keda_cache = cache_bucket_of("cert-utils-operator"), cache_bucket_of("keda")
    assert cert != keda and cert_cache != keda_cache
    for text in (f"{CONFIGS_CREATED_BY} (part {cert})", f"{CACHE_CREATED_BY} (part {cert_cache})"):
        assert after[text] == before[text]
    for text in (f"{CONFIGS_CREATED_BY} (part {keda})", f"{CACHE_CREATED_BY} (part {keda_cache})"):
        assert text in before and text not in after
    assert after[CACHE_CREATED_BY] != before[CACHE_CREATED_BY]
    assert after[CACHE_INDEX_CREATED_BY] != before[CACHE_INDEX_CREATED_BY]


def test_add_rm_batch(
    e2e: EndToEnd, keda_index: dict[str, Any], bundles: dict[str, list[str]], binary: str
) -> None:
    resp = e2e.post(
        "add-rm-batch",
        {
            "build_requests": [
                {
                    # a new package, one bundle opm accepts on its own (see the bundles fixture)
                    "bundles": [bundles["opendatahub-operator"][0]],
                    "binary_image": binary,
                    "from_index": keda_index["index_image"],
                },
                {
                    "operators": ["keda"],
                    "binary_image": binary,
                    "from_index": keda_index["index_image"],
                },
            ],
            "annotations": {"pipeline": "e2e"},
        },
    )
    assert resp.status_code == 201, resp.text
    ids = [item["id"] for item in resp.json()]
    final = e2e.wait_final(ids, timeout=180)
    assert [final[i]["state"] for i in ids] == ["complete", "complete"]
    listing = e2e.rest_get(f"/api/v1/builds?batch={resp.json()[0]['batch']}").json()
    assert {i["state"] for i in listing["items"]} == {"complete"}


def test_create_empty_index_with_labels(
    e2e: EndToEnd, keda_index: dict[str, Any], binary: str, tmp_path: Path
) -> None:
    build = e2e.build(
        "create-empty-index",
        {
            "from_index": keda_index["index_image"],
            "binary_image": binary,
            "labels": {"vendor": "e2e", "com.redhat.index.delivery.version": "v4.14"},
            "output_fbc": True,
        },
    )
    assert build["state"] == "complete", build["state_reason"]
    assert build["state_reason"] == "The empty index image was successfully created"
    assert _history(build)[2:6] == [
        "Building the index image for the following arches: amd64, arm64, ppc64le, s390x",
        "Checking operators present in index image",
        "Removing operators from index image",
        "Getting and updating labels for new index image",
    ]
    assert (
        build["index_image_resolved"] is None
    )  # create-empty-index reports only arches/index_image
    labels = e2e.skopeo("--config", spec=build["index_image"])["config"]["Labels"]
    assert labels["vendor"] == "e2e"
    assert labels["com.redhat.index.delivery.version"] == "v4.14"
    assert e2e.catalog_of(build["index_image"], tmp_path / "out").package_names() == []


def test_create_empty_index_refuses_sqlite_output_from_fbc(
    e2e: EndToEnd, keda_index: dict[str, Any], binary: str
) -> None:
    build = e2e.build(
        "create-empty-index", {"from_index": keda_index["index_image"], "binary_image": binary}
    )
    assert build["state"] == "failed"
    assert (
        build["state_reason"]
        == "Cannot create SQLite index image from File-Based Catalog index image"
    )


def test_binaryless_scratch_index(
    e2e: EndToEnd,
    keda_index: dict[str, Any],
    bundles: dict[str, list[str]],
    binary: str,
    tmp_path: Path,
) -> None:
    # IIB_BINARY_IMAGE_CONFIG maps prod/v4.14-binaryless to scratch in this deployment; an index
    # labelled with that OCP version must be built binaryless, and only such an index may be.
    wrong = e2e.build(
        "add",
        {
            "bundles": [bundles["keda"][1]],
            "binary_image": "scratch",
            "from_index": keda_index["index_image"],
        },
    )
    assert wrong["state"] == "failed"
    assert wrong["state_reason"] == "The index image should not be binaryless for v4.5."
    labelled = e2e.build(
        "create-empty-index",
        {
            "from_index": keda_index["index_image"],
            "binary_image": binary,
            "output_fbc": True,
            "labels": {"com.redhat.index.delivery.version": "v4.14-binaryless"},
        },
    )
    assert labelled["state"] == "complete", labelled["state_reason"]
    build = e2e.build(
        "add",
        {
            "bundles": bundles["keda"][:2],
            "binary_image": "scratch",
            "from_index": labelled["index_image"],
        },
    )
    assert build["state"] == "complete", build["state_reason"]
    assert build["arches"] == ["amd64"]
    assert build["binary_image_resolved"] == "scratch"
    raw = e2e.skopeo("--raw", spec=build["index_image"])
    assert raw["mediaType"] == LIST
    assert [m["platform"]["architecture"] for m in raw["manifests"]] == ["amd64"]
    config = e2e.skopeo("--config", spec=build["index_image"])
    assert config["config"].get("Entrypoint") is None
    assert config["config"]["Labels"]["com.redhat.index.delivery.version"] == "v4.14-binaryless"
    assert _bundle_names(e2e.catalog_of(build["index_image"], tmp_path / "out"), "keda") == [
        "keda.v1.4.1",
        "keda.v1.5.0",
    ]
    must = e2e.build(
        "add",
        {
            "bundles": [bundles["keda"][2]],
            "binary_image": binary,
            "from_index": build["index_image"],
        },
    )
    assert must["state"] == "failed"
    assert (
        must["state_reason"]
        == "The index image must be built as a binaryless for v4.14-binaryless."
    )


def test_fbc_operations_with_one_and_several_fragments(
    e2e: EndToEnd,
    keda_index: dict[str, Any],
    bundles: dict[str, list[str]],
    binary: str,
    tmp_path: Path,
) -> None:
    from services.catalog import CatalogDir, add_bundles

    fragments = []
    for n, (package, version) in enumerate(
        [("cockroachdb", "3.0.7"), ("opendatahub-operator", "0.6.0")]
    ):
        root = tmp_path / f"frag{n}"
        root.mkdir()
        fragment = CatalogDir.open(root)
        rendered = render_bundle(
            FIXTURES / package / version,
            f"q.io/ns/{package}-bundle@sha256:{n:064x}",
            csv_metadata=True,
        )
        fragment.apply(add_bundles(fragment, [rendered]).changes)
        fragments.append(
            fixture_images.push_fbc_fragment_image(
                e2e.images, f"{e2e.registry.registry}/fragments/{package}:v1", root
            )
        )
    one = e2e.build(
        "fbc-operations",
        {
            "fbc_fragment": fragments[0],
            "binary_image": binary,
            "from_index": keda_index["index_image"],
        },
    )
    assert one["state"] == "complete", one["state_reason"]
    assert one["state_reason"] == "The 1 FBC fragment(s) were successfully added in the index image"
    assert one["fbc_fragment_resolved"] is not None and one["fbc_fragments"] == []
    assert "Adding package(s) ['cockroachdb'] from fbc fragment 1/1 to from_index" in _history(one)
    several = e2e.build(
        "fbc-operations",
        {
            "fbc_fragments": fragments,
            "binary_image": binary,
            "from_index": keda_index["index_image"],
        },
    )
    assert several["state"] == "complete", several["state_reason"]
    assert len(several["fbc_fragments_resolved"]) == 2
    catalog = e2e.catalog_of(several["index_image"], tmp_path / "out")
    assert catalog.package_names() == ["cockroachdb", "keda", "opendatahub-operator"]


def test_overwrite_from_index_with_token(
    e2e: EndToEnd,
    keda_index: dict[str, Any],
    bundles: dict[str, list[str]],
    binary: str,
    tmp_path: Path,
) -> None:
    target = f"{e2e.secure.registry}/product/index:v4.14"
    e2e.secure_images.copy(keda_index["index_image"], [target])
    before = e2e.secure_images.get_image_digest(target)
    no_token = e2e.post(
        "add",
        {
            "bundles": [bundles["keda"][1]],
            "binary_image": binary,
            "from_index": target,
            "overwrite_from_index": True,
        },
    )
    assert no_token.status_code == 403
    build = e2e.build(
        "add",
        {
            "bundles": [bundles["keda"][1]],
            "binary_image": binary,
            "from_index": target,
            "overwrite_from_index": True,
            "overwrite_from_index_token": f"{AUTH_USER}:{AUTH_PASSWORD}",
        },
    )
    assert build["state"] == "complete", build["state_reason"]
    assert build["index_image"] == target
    assert (
        f"Overwriting the index image {target} with {build['internal_index_image_copy']}"
        in _history(build)
    )
    after = e2e.secure_images.get_image_digest(target)
    assert after != before
    assert after == e2e.images.get_image_digest(build["internal_index_image_copy"])
    assert build["index_image_resolved"] == f"{e2e.secure.registry}/product/index@{after}"
    assert AUTH_PASSWORD not in json.dumps(build)
    catalog = e2e.catalog_of(target, tmp_path / "out")
    assert _bundle_names(catalog, "keda") == ["keda.v1.4.1", "keda.v1.5.0"]
    wrong = e2e.build(
        "add",
        {
            "bundles": [bundles["keda"][2]],
            "binary_image": binary,
            "from_index": target,
            "overwrite_from_index": True,
            "overwrite_from_index_token": f"{AUTH_USER}:wrong",
        },
    )
    assert wrong["state"] == "failed"
    assert "product/index" in wrong["state_reason"]
    assert AUTH_PASSWORD not in wrong["state_reason"]


def test_failures_are_reported_and_nothing_is_pushed(
    e2e: EndToEnd, keda_index: dict[str, Any], bundles: dict[str, list[str]], binary: str
) -> None:
    missing = e2e.build(
        "add",
        {
            "bundles": [f"{e2e.registry.registry}/community/nope-bundle:1.0"],
            "binary_image": binary,
            "add_arches": ["amd64"],
        },
    )
    assert missing["state"] == "failed"
    assert "community/nope-bundle" in missing["state_reason"]
    assert _history(missing)[-2] == "Resolving the bundles"
    not_bundle = e2e.build(
        "add", {"bundles": [binary], "binary_image": binary, "add_arches": ["amd64"]}
    )
    assert not_bundle["state"] == "failed"
    assert not_bundle["state_reason"].endswith(
        "has no operators.operatorframework.io.bundle.package.v1 label"
    )
    dangling = e2e.build(
        "add", {"bundles": [bundles["keda"][5]], "binary_image": binary, "add_arches": ["amd64"]}
    )
    assert dangling["state"] == "failed"
    assert dangling["state_reason"] == (
        "Failed to add the bundles to the index image: Invalid bundle keda.v2.3.0, replaces "
        "nonexistent bundle keda.v2.2.0"
    )
    small = fixture_images.push_fake_binary_image(
        e2e.images, f"{e2e.registry.registry}/opm:amd64-only", ["amd64"]
    )
    arches = e2e.build(
        "add",
        {
            "bundles": [bundles["keda"][1]],
            "binary_image": small,
            "from_index": keda_index["index_image"],
        },
    )
    assert arches["state"] == "failed"
    assert arches["state_reason"] == (
        "The binary image is not available for the following arches: arm64, ppc64le, s390x"
    )
    tags = set(_tags(e2e, "iib-build"))
    for failed in (missing, not_bundle, dangling, arches):
        assert not {t for t in tags if t == str(failed["id"]) or t.startswith(f"{failed['id']}-")}


def test_an_invalid_from_index_fails_before_the_manifest_list(
    e2e: EndToEnd, bundles: dict[str, list[str]], binary: str, tmp_path: Path
) -> None:
    # a from_index whose package "a" has two channel heads: the whole catalog is validated in
    # the pass that writes its serving cache, and the build fails there, before "Creating the
    # manifest list" and before any push (the tree in opm's layout, written out by hand)
    root = tmp_path / "configs"
    write_doc_files(root, {"a/catalog.json": package_docs("a")})
    invalid = fixture_images.push_fbc_fragment_image(
        e2e.images, f"{e2e.registry.registry}/invalid/index:v1", root
    )
    build = e2e.build(
        "add", {"bundles": [bundles["keda"][0]], "binary_image": binary, "from_index": invalid}
    )
    assert build["state"] == "failed"
    assert build["state_reason"] == (
        "invalid index:\n"
        '└── invalid package "a":\n'
        '    └── invalid channel "stable":\n'
        "        └── multiple channel heads found in graph: a.x, a.y"
    )
    assert "Creating the manifest list" not in _history(build)
    assert not {t for t in _tags(e2e, "iib-build") if t.split("-")[0] == str(build["id"])}


def test_legacy_sqlite_from_index_is_migrated(
    e2e: EndToEnd, bundles: dict[str, list[str]], binary: str, tmp_path: Path
) -> None:
    # redis-operator's whole history, as one opm add would load it (its bundles before 0.5.0
    # are in channel preview with default channel stable, which opm refuses without a stable
    # bundle: populator.go SemverPackageManifest)
    rendered = [
        render_bundle(p, f"q.io/legacy/redis@sha256:{n:064x}")
        for n, p in enumerate(sorted((FIXTURES / "redis-operator").iterdir()))
        if p.is_dir()
    ]
    db = tmp_path / "index.db"
    fixture_images.build_index_db(db, rendered)
    legacy = fixture_images.push_sqlite_index_image(
        e2e.images, f"{e2e.registry.registry}/legacy/index:v4.6", db, binary
    )
    build = e2e.build(
        "add", {"bundles": [bundles["keda"][0]], "binary_image": binary, "from_index": legacy}
    )
    assert build["state"] == "complete", build["state_reason"]
    catalog = e2e.catalog_of(build["index_image"], tmp_path / "out")
    assert catalog.package_names() == ["keda", "redis-operator"]
    # the legacy package migrated as opm loads it: default channel = the default channel
    # annotation of the highest bundle, 0.6.0 (its fixture annotations.yaml); every bundle is
    # reached from 0.6.0 or 0.4.0 along the fixtures' CSV replaces
    redis = catalog.load_package("redis-operator")
    assert redis is not None and redis.packages[0].default_channel == "stable"
    assert _bundle_names(catalog, "redis-operator") == [
        f"redis-operator.v{v}" for v in ("0.0.1", "0.2.0", "0.3.0", "0.4.0", "0.5.0", "0.6.0")
    ]


def test_iiblib_over_https(
    e2e: EndToEnd, keda_index: dict[str, Any], bundles: dict[str, list[str]], binary: str
) -> None:
    client = IIBClient(e2e.gateway_listen, ssl_verify=str(e2e.http.verify), poll_interval=1)
    client.iib_session.session.trust_env = False
    client.iib_session.session.headers["X-Remote-User"] = SUBMITTER
    build = client.add_bundles(
        keda_index["index_image"], [bundles["keda"][1]], [], binary_image=binary
    )
    done = client.wait_for_build(build)
    assert done.state == "complete"
    assert client.get_build(build.id).index_image == done.index_image
    removed = client.wait_for_build(
        client.remove_operators(done.index_image, ["keda"], [], binary_image=binary)
    )
    assert removed.state == "complete"
