"""The golden files checked against oracles that are not the engine (see golden/README.md).

* ``render/*``: every field compared with the corpus oracle's reading of the same bundle
  (``tests/catalog/corpus/oracle.py``, written from opm's render code, no engine imports).
* ``add/*``: channels and default channel derived here from the fixtures' annotations and CSV
  ``replaces`` with opm's rules (``SemverPackageManifest`` + the replaces walk; semver mode's
  version chain; skip-patch), bundle properties compared with the oracle's reading, and
  ``ClearNonHeadBundles`` (semver modes) checked.
* ``deprecate/*``, ``sqlite/*``, ``write/*``: the expected content restated from opm's tests
  and code (see the README).
"""

from __future__ import annotations

import functools
import json
from typing import Any

import pytest
import yaml

from .conftest import FIXTURES, GOLDEN, image_for
from .corpus.oracle import read_bundle

CHANNELS = "operators.operatorframework.io.bundle.channels.v1"
DEFAULT = "operators.operatorframework.io.bundle.channel.default.v1"


def _docs(rel: str) -> list[dict[str, Any]]:
    decoder = json.JSONDecoder()
    text = (GOLDEN / rel).read_text()
    out: list[dict[str, Any]] = []
    i = 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        doc, i = decoder.raw_decode(text, i)
        out.append(doc)
    return out


def _channels(docs: list[dict[str, Any]]) -> dict[str, dict[str, tuple[str, set[str]]]]:
    return {
        d["name"]: {
            e["name"]: (e.get("replaces", ""), set(e.get("skips", []))) for e in d["entries"]
        }
        for d in docs
        if d["schema"] == "olm.channel"
    }


def _default(docs: list[dict[str, Any]]) -> str:
    return next(d["defaultChannel"] for d in docs if d["schema"] == "olm.package")


def _vkey(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in version.split("."))


@functools.cache
def _fixture(package: str, version: str) -> dict[str, Any]:
    """What opm reads for the graph: CSV name, replaces, channels, default channel."""
    root = FIXTURES / package / version
    annotations = yaml.safe_load((root / "metadata" / "annotations.yaml").read_text())[
        "annotations"
    ]
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    paths = sorted(
        (root / "manifests").iterdir(), key=lambda p: "clusterserviceversion" not in p.name
    )
    for path in paths:
        doc = next(d for d in yaml.load_all(path.read_text(), Loader=loader) if d)
        if doc.get("kind") == "ClusterServiceVersion":
            return {
                "name": doc["metadata"]["name"],
                "version": version,
                "replaces": doc["spec"].get("replaces") or "",
                "channels": str(annotations[CHANNELS]).split(","),
                "default": str(annotations.get(DEFAULT) or ""),
            }
    raise AssertionError(f"no CSV in {root}")


def _versions(package: str, since: str = "") -> list[str]:
    names = sorted((p.name for p in (FIXTURES / package).iterdir() if p.is_dir()), key=_vkey)
    return names[names.index(since) :] if since else names


# -- render ---------------------------------------------------------------------------------

RENDER = [
    ("cert-utils-operator", "1.0.7", False),
    ("cert-utils-operator", "1.0.7", True),
    ("cockroachdb", "2.1.1", False),
    ("egressip-ipam-operator", "1.0.8", True),
    ("community-kubevirt-hyperconverged", "1.1.0", True),
    ("opendatahub-operator", "1.1.0", False),
]


@functools.cache
def _oracle(package: str, version: str) -> Any:
    return read_bundle(FIXTURES / package / version, image_for(package, version))


def _oracle_properties(package: str, version: str, csv_metadata: bool) -> list[tuple[str, Any]]:
    oracle = _oracle(package, version)
    props = [(t, json.loads(v)) for t, v in oracle.properties]
    if csv_metadata:
        props = [p for p in props if p[0] != "olm.bundle.object"]
        props.append(("olm.csv.metadata", oracle.csv_metadata))
    return props


@pytest.mark.usefixtures("fixtures_root")
@pytest.mark.parametrize(("package", "version", "csv_metadata"), RENDER)
def test_render_golden_is_the_oracles_reading(
    package: str, version: str, csv_metadata: bool
) -> None:
    form = "csv-metadata" if csv_metadata else "objects"
    (bundle,) = _docs(f"render/{package}-{version}-{form}.json")
    oracle = _oracle(package, version)
    assert (bundle["name"], bundle["package"], bundle["image"]) == (
        oracle.name,
        oracle.package,
        image_for(package, version),
    )
    assert [(r["image"], r["name"]) for r in bundle["relatedImages"]] == list(oracle.related_images)
    actual = [(p["type"], p["value"]) for p in bundle["properties"]]
    assert actual == _oracle_properties(package, version, csv_metadata)
    # Values in the oracle's key order too (opm's struct/marshal order).
    assert [json.dumps(v) for _, v in actual] == [
        json.dumps(v) for _, v in _oracle_properties(package, version, csv_metadata)
    ]


# -- add ------------------------------------------------------------------------------------


def _replaces_mode(package: str) -> tuple[str, dict[str, dict[str, tuple[str, set[str]]]]]:
    """opm's SemverPackageManifest (head = highest version declaring the channel, default from
    the highest bundle) and addPackageChannels (walk replaces from the head)."""
    facts = {f["name"]: f for f in (_fixture(package, v) for v in _versions(package))}
    by_version = sorted(facts.values(), key=lambda f: _vkey(f["version"]))
    default = by_version[-1]["default"]
    channels: dict[str, dict[str, tuple[str, set[str]]]] = {}
    for channel in sorted({c for f in by_version for c in f["channels"]}):
        head = [f for f in by_version if channel in f["channels"]][-1]["name"]
        entries: dict[str, tuple[str, set[str]]] = {}
        node = head
        while node:
            replaces = facts[node]["replaces"]
            entries[node] = (replaces, set())
            node = replaces if replaces in facts else ""
        channels[channel] = entries
    return default, channels


def _semver_mode(package: str) -> tuple[str, dict[str, dict[str, tuple[str, set[str]]]]]:
    """opm's semver mode with bundles added in version order: each one becomes its channels'
    head and replaces the previous head; the default channel is the last one annotated."""
    default = ""
    channels: dict[str, dict[str, tuple[str, set[str]]]] = {}
    for f in (_fixture(package, v) for v in _versions(package)):
        for channel in f["channels"]:
            entries = channels.setdefault(channel, {})
            previous = list(entries)[-1] if entries else ""
            entries[f["name"]] = (previous, set())
        default = f["default"] or default
    return default, channels


def _skippatch_one_minor(
    package: str, since: str
) -> tuple[str, dict[str, dict[str, tuple[str, set[str]]]]]:
    """semver-skippatch with every bundle of one minor: the highest skips all the others."""
    facts = [_fixture(package, v) for v in _versions(package, since)]
    (channel,) = {c for f in facts for c in f["channels"]}
    head = facts[-1]["name"]
    entries: dict[str, tuple[str, set[str]]] = {f["name"]: ("", set()) for f in facts[:-1]}
    entries[head] = ("", {f["name"] for f in facts[:-1]})
    return facts[-1]["default"], {channel: entries}


ADD = [
    ("keda", "replaces", ""),
    ("cockroachdb", "replaces", ""),
    ("opendatahub-operator", "replaces", ""),
    ("community-kubevirt-hyperconverged", "semver", ""),
    ("egressip-ipam-operator", "semver", ""),
    ("cert-utils-operator", "semver-skippatch", "1.0.0"),
]


@pytest.mark.usefixtures("fixtures_root")
@pytest.mark.parametrize(("package", "mode", "since"), ADD)
def test_add_golden_graph_follows_opms_rules(package: str, mode: str, since: str) -> None:
    docs = _docs(f"add/{package}-{mode}.json")
    if mode == "replaces":
        default, channels = _replaces_mode(package)
    elif mode == "semver":
        default, channels = _semver_mode(package)
    else:
        default, channels = _skippatch_one_minor(package, since)
    assert _default(docs) == default
    assert _channels(docs) == channels


@pytest.mark.usefixtures("fixtures_root")
@pytest.mark.parametrize(("package", "mode", "since"), ADD)
def test_add_golden_bundles_are_the_rendered_blobs(package: str, mode: str, since: str) -> None:
    """Each bundle is its render with olm.csv.metadata; in semver modes bundles that head no
    channel lose it (ClearNonHeadBundles) and their related image names."""
    docs = _docs(f"add/{package}-{mode}.json")
    heads = set()
    for name, entries in _channels(docs).items():
        targets = {t for r, s in entries.values() for t in [r, *s]}
        heads |= {e for e in entries if e not in targets}
        del name
    versions = {_fixture(package, v)["name"]: v for v in _versions(package, since)}
    for bundle in (d for d in docs if d["schema"] == "olm.bundle"):
        version = versions[bundle["name"]]
        expected = _oracle_properties(package, version, csv_metadata=True)
        oracle = _oracle(package, version)
        related = [(i, n) for i, n in oracle.related_images]
        if mode != "replaces" and bundle["name"] not in heads:
            expected = [p for p in expected if p[0] != "olm.csv.metadata"]
            related = [(i, "") for i, _ in related]
        assert [(p["type"], p["value"]) for p in bundle["properties"]] == expected, bundle["name"]
        assert [(r["image"], r["name"]) for r in bundle.get("relatedImages", [])] == related
        assert bundle["image"] == image_for(package, version)


# -- deprecate ------------------------------------------------------------------------------


@pytest.mark.usefixtures("fixtures_root")
def test_deprecate_goldens_truncate_below_the_deprecated_bundle() -> None:
    """keda 2.1.0 and cockroachdb 2.1.1 deprecated: everything they reach is truncated, the
    deprecated bundle leaves the FBC and the entry above it keeps ``replaces`` (opm
    populator_test.go TestDeprecateBundle "ChannelRemoved"/"OutOfOrderDeprecate" semantics);
    channels not reaching them are untouched."""
    keda = _docs("deprecate/keda.json")
    assert _default(keda) == "alpha"
    assert _channels(keda) == {
        "alpha": {"keda.v2.2.0": ("keda.v2.1.0", set()), "keda.v2.3.0": ("keda.v2.2.0", set())}
    }
    roach = _docs("deprecate/cockroachdb.json")
    assert _default(roach) == "stable-5.x"
    assert _channels(roach) == {
        "stable": {"cockroachdb.v2.1.11": ("cockroachdb.v2.1.1", set())},
        "stable-3.x": {"cockroachdb.v3.0.7": ("", set())},
        "stable-5.x": {
            "cockroachdb.v5.0.3": ("", set()),
            "cockroachdb.v5.0.4": ("cockroachdb.v5.0.3", set()),
        },
    }
    for docs in (keda, roach):
        members = {e for entries in _channels(docs).values() for e in entries}
        assert {d["name"] for d in docs if d["schema"] == "olm.bundle"} == members


# -- sqlite ---------------------------------------------------------------------------------


def test_sqlite_golden_is_opms_sqlite_render() -> None:
    """foo v0.1.0 / v0.2.0 migrated: opm's alpha/action/render_test.go TestRender
    "Success/SqliteFile" (channels beta and stable, default beta, skipRanges, v0.2.0 replaces
    v0.1.0 and skips v0.1.1/v0.1.2; olm.gvk test.foo v1 Foo, olm.gvk.required test.bar
    v1alpha1 Bar, olm.package.required bar <0.1.0)."""
    docs = _docs("sqlite/s1-catalog.json")
    assert _default(docs) == "beta"
    entries = {
        d["name"]: [
            (e["name"], e.get("replaces", ""), e.get("skips", []), e.get("skipRange", ""))
            for e in d["entries"]
        ]
        for d in docs
        if d["schema"] == "olm.channel"
    }
    expected = [
        ("foo.v0.1.0", "", [], "<0.1.0"),
        ("foo.v0.2.0", "foo.v0.1.0", ["foo.v0.1.1", "foo.v0.1.2"], "<0.2.0"),
    ]
    assert entries == {"beta": expected, "stable": expected}
    for bundle in (d for d in docs if d["schema"] == "olm.bundle"):
        version = bundle["name"].removeprefix("foo.v")
        assert [
            (p["type"], p["value"])
            for p in bundle["properties"]
            if p["type"] != "olm.bundle.object"
        ] == [
            ("olm.gvk", {"group": "test.foo", "kind": "Foo", "version": "v1"}),
            ("olm.gvk.required", {"group": "test.bar", "kind": "Bar", "version": "v1alpha1"}),
            ("olm.package", {"packageName": "foo", "version": version}),
            ("olm.package.required", {"packageName": "bar", "versionRange": "<0.1.0"}),
        ]


# -- write ----------------------------------------------------------------------------------


def test_write_golden_is_opms_json_form() -> None:
    """opm's WriteJSON (alpha/declcfg/write.go, write_test.go TestWriteJSON): package,
    channels by name, bundles by name, other schemas; 4-space indent, HTML escaping off, one
    newline after each object; struct field order (schema, name, package/defaultChannel...)."""
    text = (GOLDEN / "write" / "foo-catalog.json").read_text()
    docs = _docs("write/foo-catalog.json")
    assert [d["schema"] for d in docs] == [
        "olm.package",
        "olm.channel",
        "olm.bundle",
        "olm.bundle",
        "acme.note",
    ]
    assert [d["name"] for d in docs if d["schema"] == "olm.bundle"] == ["foo.v0.1.0", "foo.v0.2.0"]
    assert '"<&>"' in text and "\\u003c" not in text
    assert text.endswith("}\n") and '\n    "schema": "olm.package",\n' in text
    assert list(docs[0]) == ["schema", "name", "defaultChannel"]
    assert list(docs[1]) == ["schema", "name", "package", "entries"]
    assert list(docs[2]) == ["schema", "name", "package", "image", "properties"]


def test_every_golden_file_is_covered() -> None:
    covered = {f"render/{p}-{v}-{'csv-metadata' if m else 'objects'}.json" for p, v, m in RENDER}
    covered |= {f"add/{p}-{m}.json" for p, m, _ in ADD}
    covered |= {"deprecate/keda.json", "deprecate/cockroachdb.json", "sqlite/s1-catalog.json"}
    covered |= {"write/foo-catalog.json"}
    files = {str(p.relative_to(GOLDEN)) for p in GOLDEN.rglob("*.json")}
    assert files == covered
