"""The image factory against a real docker-registry, checked with skopeo and the catalog engine."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import os
import shutil
import sqlite3
import stat
import subprocess
import tarfile
import uuid
from pathlib import Path

import pytest

from services.catalog import (
    CatalogDir,
    MemoryCatalog,
    PackageDocs,
    RenderedBundle,
    add_bundles,
    load_sqlite_index,
    render_bundle,
    write_catalog,
)
from services.catalog.labels import BUNDLE_PACKAGE, INDEX_CONFIGS, INDEX_DATABASE
from services.common.errors import CatalogError, ValidationError
from services.common.reference import parse_reference
from services.common.registry import mediatypes as mt
from services.common.registry.images import ImageService
from services.tooling.demo.images import (
    ARCH_LABELS,
    DEFAULT_ARCHES,
    build_index_db,
    bundle_labels,
    fixture_bundle_dirs,
    parse_dockerfile_labels,
    push_bundle_image,
    push_fake_binary_image,
    push_fbc_fragment_image,
    push_fixture_bundles,
    push_sqlite_index_image,
)
from services.tooling.servers.registry import RegistryServer
from tests.common.registry.helpers import skopeo_inspect

DELIVERY_LABELS = {
    "com.redhat.index.delivery.version": "v4.15",
    "com.redhat.index.delivery.distribution_scope": "prod",
}


def _digest_of(pinned: str) -> str:
    return pinned.rsplit("@", 1)[1]


def skopeo_raw(spec: str) -> bytes:
    """The manifest bytes skopeo reads for ``spec`` (plain HTTP registry)."""
    result = subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", "--raw", f"docker://{spec}"],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout


def layer_members(images: ImageService, spec: str) -> list[tarfile.TarInfo]:
    """Every tar header of every layer of the single image ``spec``."""
    ref = parse_reference(spec)
    manifest = images.get_manifest(spec)
    members: list[tarfile.TarInfo] = []
    for layer in manifest.layers:
        blob = images.client.read_blob(ref, layer.digest)
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob))) as tar:
            members.extend(tar.getmembers())
    return members


def files_under(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def versions(bundles_root: Path, package: str) -> list[Path]:
    return fixture_bundle_dirs([package], fixtures_root=bundles_root)[0][package]


def fake_image(package: str, version: str) -> str:
    return f"quay.io/demo/{package}-bundle@sha256:" + hashlib.sha256(version.encode()).hexdigest()


def render_all(bundles_root: Path, *packages: str) -> list[RenderedBundle]:
    return [
        render_bundle(d, fake_image(package, d.name))
        for package in packages
        for d in versions(bundles_root, package)
    ]


# --------------------------------------------------------------------------- labels


def test_parse_dockerfile_labels_forms() -> None:
    text = (
        "FROM scratch\n"
        "# LABEL commented=out\n"
        'LABEL a=b c="d e" \\\n'
        "  # a comment inside the continuation\n"
        "  f='g h'\n"
        "\n"
        "label\tlower=case \\\n"
        "\n"
        "  tab=continued\n"
        "LABEL legacy some spaced value\n"
        "LABEL a=overridden\n"
        "COPY manifests /manifests/\n"
    )
    assert parse_dockerfile_labels(text) == {
        "a": "overridden",
        "c": "d e",
        "f": "g h",
        "lower": "case",
        "tab": "continued",
        "legacy": "some spaced value",
    }
    with pytest.raises(ValidationError, match=r"my/Dockerfile:2: cannot parse LABEL"):
        parse_dockerfile_labels('FROM scratch\nLABEL a="unclosed\n', "my/Dockerfile")
    with pytest.raises(ValidationError, match="not of the form key=value"):
        parse_dockerfile_labels("LABEL a=b c\n")


def test_bundle_labels_merge_dockerfile_and_annotations(bundles_root: Path) -> None:
    # No Dockerfile: the annotations are the labels.
    keda = bundles_root / "keda" / "2.3.0"
    assert bundle_labels(keda) == dict(
        sorted(
            {
                "operators.operatorframework.io.bundle.channel.default.v1": "alpha",
                "operators.operatorframework.io.bundle.channels.v1": "alpha",
                "operators.operatorframework.io.bundle.manifests.v1": "manifests/",
                "operators.operatorframework.io.bundle.mediatype.v1": "registry+v1",
                "operators.operatorframework.io.bundle.metadata.v1": "metadata/",
                BUNDLE_PACKAGE: "keda",
                "operators.operatorframework.io.metrics.builder": "operator-sdk-v1.3.0",
                "operators.operatorframework.io.metrics.mediatype.v1": "metrics+v1",
                "operators.operatorframework.io.metrics.project_layout": "go.kubebuilder.io/v2",
            }.items()
        )
    )
    # bundle.Dockerfile labels that annotations.yaml lacks are added ...
    labels = bundle_labels(bundles_root / "cockroachdb" / "5.0.3")
    assert labels["operators.operatorframework.io.test.config.v1"] == "tests/scorecard/"
    assert labels[BUNDLE_PACKAGE] == "cockroachdb"
    # ... and where both set a key, the annotation wins (the Dockerfile's default is empty).
    labels = bundle_labels(bundles_root / "cockroachdb" / "2.0.9")
    assert labels["operators.operatorframework.io.bundle.channel.default.v1"] == "stable-3.x"
    assert list(labels) == sorted(labels)


def test_not_a_bundle_is_refused(images: ImageService, repo: str, tmp_path: Path) -> None:
    legacy = tmp_path / "legacy"
    (legacy / "manifests").mkdir(parents=True)
    (legacy / "manifests" / "csv.yaml").write_text("kind: ClusterServiceVersion\n")
    with pytest.raises(ValidationError, match=r"legacy is not in the bundle format"):
        push_bundle_image(images, legacy, f"{repo}:1")
    (legacy / "metadata").mkdir()
    (legacy / "metadata" / "annotations.yaml").write_text(
        "annotations:\n  operators.operatorframework.io.bundle.channels.v1: alpha\n"
    )
    with pytest.raises(ValidationError, match=r"annotations.yaml: the bundle has no"):
        push_bundle_image(images, legacy, f"{repo}:1")
    with pytest.raises(ValidationError, match="must be a tagged pull spec"):
        push_bundle_image(images, legacy, f"{repo}@sha256:" + "0" * 64)


# --------------------------------------------------------------------------- bundles


def test_bundle_image_is_a_docker_v2s2_bundle(
    images: ImageService, registry: RegistryServer, repo: str, bundles_root: Path, tmp_path: Path
) -> None:
    bundle_dir = bundles_root / "cert-utils-operator" / "1.0.7"
    spec = f"{repo}:1.0.7"
    pinned = push_bundle_image(images, bundle_dir, spec)
    assert pinned.startswith(f"{repo}@sha256:")

    raw = skopeo_raw(spec)
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == _digest_of(pinned)
    manifest = json.loads(raw)
    assert manifest["mediaType"] == mt.DOCKER_MANIFEST
    assert manifest["config"]["mediaType"] == mt.DOCKER_CONFIG
    assert [layer["mediaType"] for layer in manifest["layers"]] == [mt.DOCKER_LAYER_GZIP] * 2

    config = skopeo_inspect(spec, registry, "--config")
    assert (config["architecture"], config["os"]) == ("amd64", "linux")
    labels = config["config"]["Labels"]
    assert labels == bundle_labels(bundle_dir)
    assert labels[BUNDLE_PACKAGE] == "cert-utils-operator"
    assert labels["operators.operatorframework.io.test.config.v1"] == "tests/scorecard/"
    assert [h["created_by"] for h in config["history"]][:2] == [
        "COPY manifests /manifests/",
        "COPY metadata /metadata/",
    ]

    # IIB's bundle resolution accepts it (a v2s2 manifest resolves to itself).
    assert images.get_resolved_bundle(spec) == pinned
    assert images.get_image_label(spec, BUNDLE_PACKAGE) == "cert-utils-operator"

    # Reproducible tar headers: root-owned, mtime 0, fixed modes, only /manifests and /metadata.
    members = layer_members(images, pinned)
    assert {m.name.split("/")[0] for m in members} == {"manifests", "metadata"}
    for member in members:
        assert (member.uid, member.gid, member.uname, member.gname) == (0, 0, "", "")
        assert member.mtime == 0
        assert member.mode == (0o755 if member.isdir() else 0o644), member.name

    # The unpacked image is the fixture's bundle and renders like it.
    dest = tmp_path / "unpacked"
    images.unpack(pinned, dest)
    assert sorted(p.name for p in dest.iterdir()) == ["manifests", "metadata"]
    for sub in ("manifests", "metadata"):
        assert files_under(dest / sub) == files_under(bundle_dir / sub)
    rendered = render_bundle(dest, pinned)
    assert (rendered.csv_name, rendered.package, rendered.image) == (
        "cert-utils-operator.v1.0.7",
        "cert-utils-operator",
        pinned,
    )
    assert rendered.bundle == render_bundle(bundle_dir, pinned).bundle


def test_bundle_push_is_reproducible(
    images: ImageService, repo: str, bundles_root: Path, tmp_path: Path
) -> None:
    source = bundles_root / "keda" / "2.3.0"
    first = push_bundle_image(images, source, f"{repo}:2.3.0")
    # Another copy with other mtimes and permissions gives the same image.
    copy = tmp_path / "keda"
    shutil.copytree(source, copy)
    for path in copy.rglob("*"):
        os.utime(path, (1_700_000_000, 1_700_000_000))
        if path.is_file():
            path.chmod(0o600)
    second = push_bundle_image(images, copy, f"{repo}-again:latest")
    assert _digest_of(first) == _digest_of(second)


# --------------------------------------------------------------------------- binary image


def test_fake_binary_image_is_a_docker_manifest_list(
    images: ImageService, registry: RegistryServer, repo: str, tmp_path: Path
) -> None:
    spec = f"{repo}:v4.15"
    pinned = push_fake_binary_image(
        images, spec, labels={"com.redhat.component": "ose-operator-registry-container"}
    )
    raw = skopeo_raw(spec)
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == _digest_of(pinned)
    top = json.loads(raw)
    assert top["mediaType"] == mt.DOCKER_MANIFEST_LIST
    assert [e["mediaType"] for e in top["manifests"]] == [mt.DOCKER_MANIFEST] * 4
    assert [e["platform"] for e in top["manifests"]] == [
        {"architecture": "amd64", "os": "linux"},
        {"architecture": "arm64", "os": "linux", "variant": "v8"},
        {"architecture": "ppc64le", "os": "linux"},
        {"architecture": "s390x", "os": "linux"},
    ]

    # One Docker v2s2 image per arch: a shared layer plus one of its own.
    children = [json.loads(skopeo_raw(f"{repo}@{e['digest']}")) for e in top["manifests"]]
    assert all(c["mediaType"] == mt.DOCKER_MANIFEST for c in children)
    assert len({c["layers"][0]["digest"] for c in children}) == 1
    assert len({c["layers"][1]["digest"] for c in children}) == 4

    for arch in DEFAULT_ARCHES:
        config = skopeo_inspect(spec, registry, "--override-arch", arch, "--config")
        assert (config["architecture"], config["os"]) == (arch, "linux")
        runtime = config["config"]
        assert runtime["User"] == "1001"
        assert runtime["Entrypoint"] == ["/bin/opm"]
        assert runtime["Labels"] == {
            "architecture": ARCH_LABELS[arch],
            "com.redhat.component": "ose-operator-registry-container",
        }
    assert images.get_image_arches(pinned) == set(DEFAULT_ARCHES)
    assert images.get_image_arches(spec) == set(DEFAULT_ARCHES)
    assert {a: labels["architecture"] for a, labels in images.labels_per_arch(spec).items()} == {
        "amd64": "x86_64",
        "arm64": "aarch64",
        "ppc64le": "ppc64le",
        "s390x": "s390x",
    }

    dest = tmp_path / "arm64"
    images.unpack(pinned, dest, arch="arm64")
    opm = dest / "bin" / "opm"
    assert "arm64" in opm.read_text() and opm.stat().st_mode & stat.S_IXUSR
    assert (dest / "bin" / "grpc_health_probe").stat().st_mode & stat.S_IXUSR
    assert (dest / "etc" / "os-release").is_file()

    again = push_fake_binary_image(
        images,
        f"{repo}-again:v4.15",
        labels={"com.redhat.component": "ose-operator-registry-container"},
    )
    assert _digest_of(again) == _digest_of(pinned)


def test_fake_binary_image_with_one_arch_is_still_a_list(
    images: ImageService, registry: RegistryServer, repo: str
) -> None:
    spec = f"{repo}:s390x-only"
    pinned = push_fake_binary_image(images, spec, arches=["s390x"])
    top = json.loads(skopeo_raw(spec))
    assert top["mediaType"] == mt.DOCKER_MANIFEST_LIST
    assert [e["platform"] for e in top["manifests"]] == [{"architecture": "s390x", "os": "linux"}]
    assert images.get_image_arches(pinned) == {"s390x"}
    with pytest.raises(ValidationError, match="Duplicate architectures"):
        push_fake_binary_image(images, spec, arches=["amd64", "amd64"])
    with pytest.raises(ValidationError, match="at least one architecture"):
        push_fake_binary_image(images, spec, arches=[])


# --------------------------------------------------------------------------- FBC fragment


def test_fbc_fragment_image(
    images: ImageService, registry: RegistryServer, repo: str, bundles_root: Path, tmp_path: Path
) -> None:
    catalog = MemoryCatalog()
    for rendered in render_all(bundles_root, "keda"):
        catalog.apply(add_bundles(catalog, [rendered]).changes)
    catalog_dir = tmp_path / "catalog"
    write_catalog(catalog, catalog_dir)

    spec = f"{repo}:fragment"
    pinned = push_fbc_fragment_image(images, spec, catalog_dir)
    assert json.loads(skopeo_raw(spec))["mediaType"] == mt.DOCKER_MANIFEST
    config = skopeo_inspect(spec, registry, "--config")
    assert config["config"]["Labels"] == {INDEX_CONFIGS: "/configs"}
    assert (config["architecture"], config["os"]) == ("amd64", "linux")
    assert images.resolve(spec) == pinned
    assert {m.name for m in layer_members(images, pinned)} == {
        "configs",
        "configs/keda",
        "configs/keda/catalog.json",
    }

    dest = tmp_path / "unpacked"
    images.unpack(pinned, dest)
    assert files_under(dest / "configs") == files_under(catalog_dir)
    assert CatalogDir.open(dest / "configs").package_names() == ["keda"]

    with pytest.raises(ValidationError, match="does not exist or is empty"):
        push_fbc_fragment_image(images, spec, tmp_path / "nothing")


# --------------------------------------------------------------------------- index.db


def _without_icon(docs: PackageDocs) -> PackageDocs:
    for package in docs.packages:
        package.icon = None
    return docs


def test_index_db_loads_like_the_engine_adds(bundles_root: Path, tmp_path: Path) -> None:
    packages = ("cockroachdb", "keda", "opendatahub-operator", "redis-operator")
    rendered = render_all(bundles_root, *packages)
    db = tmp_path / "index.db"
    summary = build_index_db(db, rendered)
    assert summary.default_channels == {
        "cockroachdb": "stable-5.x",
        "keda": "alpha",
        "opendatahub-operator": "stable",
        "redis-operator": "stable",
    }
    assert summary.heads["redis-operator"] == {
        "preview": "redis-operator.v0.4.0",
        "stable": "redis-operator.v0.6.0",
    }

    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT version FROM schema_migrations").fetchall() == [(13,)]
        conn.execute("PRAGMA foreign_keys = ON")
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"operatorbundle", "channel_entry", "api_provider", "deprecated"} <= tables
        assert conn.execute("SELECT count(*) FROM operatorbundle").fetchone() == (len(rendered),)
        assert conn.execute("SELECT count(*) FROM api WHERE plural = ''").fetchone() == (0,)
    conn.close()

    # What opm migrate makes of it = what adding each package's bundles gives (IIB's history),
    # one request per package: one at a time opm refuses cockroachdb 2.0.9 (channel stable,
    # default channel stable-3.x) and redis-operator 0.0.1 (preview, default stable): the
    # default channel must be one of the channel heads (populator.go SemverPackageManifest).
    loaded = load_sqlite_index(db)
    engine = MemoryCatalog()
    for package in packages:
        batch = [b for b in rendered if b.package == package]
        engine.apply(add_bundles(engine, batch).changes)
    assert loaded.package_names() == list(packages)
    for package in packages:
        from_db = loaded.load_package(package)
        from_engine = engine.load_package(package)
        assert from_db is not None and from_engine is not None
        assert from_db.packages[0].icon is not None  # migration takes the head CSV's icon
        assert _without_icon(from_db) == _without_icon(from_engine), package
        assert sorted(b.name for b in from_db.bundles) == summary.bundles[package]

    # Reproducible, whatever the input order.
    again = tmp_path / "again.db"
    build_index_db(again, list(reversed(rendered)))
    assert again.read_bytes() == db.read_bytes()


def test_index_db_semver_graph_keeps_every_bundle(bundles_root: Path, tmp_path: Path) -> None:
    rendered = render_all(bundles_root, "cert-utils-operator")
    db = tmp_path / "index.db"
    replaces = build_index_db(db, rendered)
    assert replaces.bundles == {"cert-utils-operator": ["cert-utils-operator.v1.0.7"]}
    summary = build_index_db(db, rendered, graph="semver")
    assert len(summary.bundles["cert-utils-operator"]) == 15
    docs = load_sqlite_index(db).load_package("cert-utils-operator")
    assert docs is not None
    entries = {e.name: e.replaces for e in docs.channels[0].entries}
    assert entries["cert-utils-operator.v1.0.7"] == "cert-utils-operator.v1.0.6"
    assert entries["cert-utils-operator.v0.0.1"] == ""


def test_index_db_edge_cases(bundles_root: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    build_index_db(empty, [])
    assert load_sqlite_index(empty).package_names() == []
    bundle = render_all(bundles_root, "keda")[0]
    with pytest.raises(CatalogError, match="appears twice"):
        build_index_db(tmp_path / "dup.db", [bundle, bundle])
    assert not (tmp_path / "dup.db").exists()
    with pytest.raises(CatalogError, match="unsupported graph mode"):
        build_index_db(tmp_path / "x.db", [bundle], graph="semver-skippatch")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- SQLite index image


def test_sqlite_index_image(
    images: ImageService, registry: RegistryServer, repo: str, bundles_root: Path, tmp_path: Path
) -> None:
    binary = push_fake_binary_image(images, f"{repo}-binary:v4.15")
    namespace = f"idx-{uuid.uuid4().hex[:6]}"
    pushed = push_fixture_bundles(images, registry.registry, ["keda"], namespace=namespace)
    rendered = [
        render_bundle(d, spec)
        for d, spec in zip(versions(bundles_root, "keda"), pushed["keda"], strict=True)
    ]
    db = tmp_path / "index.db"
    build_index_db(db, rendered)

    spec = f"{repo}:v4.15"
    pinned = push_sqlite_index_image(images, spec, db, binary, labels=DELIVERY_LABELS)
    top = json.loads(skopeo_raw(spec))
    assert top["mediaType"] == mt.DOCKER_MANIFEST_LIST
    assert [e["platform"]["architecture"] for e in top["manifests"]] == list(DEFAULT_ARCHES)
    assert images.get_image_arches(pinned) == set(DEFAULT_ARCHES)

    config = skopeo_inspect(spec, registry, "--override-arch", "ppc64le", "--config")
    runtime = config["config"]
    assert config["architecture"] == "ppc64le"
    assert runtime["Labels"] == {
        "architecture": "ppc64le",
        INDEX_DATABASE: "/database/index.db",
        **DELIVERY_LABELS,
    }
    assert runtime["Entrypoint"] == ["/bin/opm"]
    assert runtime["Cmd"] == ["registry", "serve", "--database", "/database/index.db"]
    assert runtime["ExposedPorts"] == {"50051/tcp": {}}
    assert runtime["User"] == "1001"

    dest = tmp_path / "unpacked"
    images.unpack(pinned, dest, arch="s390x")
    assert (dest / "bin" / "opm").is_file()
    unpacked_db = dest / "database" / "index.db"
    assert unpacked_db.read_bytes() == db.read_bytes()
    catalog = load_sqlite_index(unpacked_db)
    assert catalog.package_names() == ["keda"]
    docs = catalog.load_package("keda")
    assert docs is not None
    assert sorted(b.image for b in docs.bundles) == sorted(pushed["keda"])
    assert images.get_resolved_bundles([b.image for b in docs.bundles]) == [
        b.image for b in docs.bundles
    ]

    again = push_sqlite_index_image(images, f"{repo}:again", db, binary, labels=DELIVERY_LABELS)
    assert _digest_of(again) == _digest_of(pinned)


# --------------------------------------------------------------------------- fixture bundles


def test_push_fixture_bundles_in_version_order(
    images: ImageService, registry: RegistryServer, bundles_root: Path
) -> None:
    namespace = f"ns-{uuid.uuid4().hex[:6]}"
    pushed = push_fixture_bundles(
        images, registry.registry, ["opendatahub-operator", "cockroachdb"], namespace=namespace
    )
    assert list(pushed) == ["opendatahub-operator", "cockroachdb"]
    repository = f"{registry.registry}/{namespace}/opendatahub-operator-bundle"
    packages_pushed = [
        images.get_image_label(spec, BUNDLE_PACKAGE) for spec in pushed["cockroachdb"]
    ]
    assert packages_pushed == ["cockroachdb"] * 6
    expected = ["0.6.0", "0.6.1", "0.7.0", "0.8.0", "0.9.0", "1.0.0", "1.0.10", "1.1.0"]
    assert sorted(images.list_tags(f"{repository}:x")) == sorted(expected)
    assert pushed["opendatahub-operator"] == [images.resolve(f"{repository}:{v}") for v in expected]
    all_specs = [s for specs in pushed.values() for s in specs]
    assert images.get_resolved_bundles(all_specs) == all_specs

    with pytest.raises(ValidationError, match="No fixture package no-such-package"):
        push_fixture_bundles(images, registry.registry, ["no-such-package"])


def test_push_fixture_bundles_skips_non_bundle_directories(
    images: ImageService,
    registry: RegistryServer,
    bundles_root: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    root = tmp_path / "fixtures"
    shutil.copytree(bundles_root / "redis-operator", root / "redis-operator")
    legacy = root / "redis-operator" / "legacy-layout"
    (legacy / "manifests").mkdir(parents=True)
    (legacy / "manifests" / "redis.package.yaml").write_text("packageName: redis-operator\n")
    (root / "redis-operator" / "0.10.0").mkdir()  # empty: no metadata either

    found, skipped = fixture_bundle_dirs(fixtures_root=root)
    assert [p.name for p in found["redis-operator"]] == [
        "0.0.1",
        "0.2.0",
        "0.3.0",
        "0.4.0",
        "0.5.0",
        "0.6.0",
    ]
    assert sorted(p.name for p in skipped) == ["0.10.0", "legacy-layout"]

    namespace = f"skip-{uuid.uuid4().hex[:6]}"
    with caplog.at_level(logging.WARNING, logger="services.tooling.demo.images"):
        pushed = push_fixture_bundles(
            images, registry.registry, fixtures_root=root, namespace=namespace
        )
    assert [spec.split("@")[0] for spec in pushed["redis-operator"]] == [
        f"{registry.registry}/{namespace}/redis-operator-bundle"
    ] * 6
    assert any("legacy-layout" in r.getMessage() for r in caplog.records)
    labels = [
        images.get_image_label(
            f"{registry.registry}/{namespace}/redis-operator-bundle:{v}", BUNDLE_PACKAGE
        )
        for v in ("0.0.1", "0.6.0")
    ]
    assert labels == ["redis-operator", "redis-operator"]
