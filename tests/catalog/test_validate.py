"""``opm validate`` rules and the problem tree."""

from __future__ import annotations

import pytest

from services.catalog import (
    Bundle,
    Channel,
    ChannelEntry,
    Deprecation,
    DeprecationEntry,
    MemoryCatalog,
    Package,
    PackageDocs,
    Property,
    validate,
    validate_package,
)
from services.catalog.validate import Problem, ValidationOptions, render_tree
from services.common.errors import CatalogValidationError

from .conftest import catalog_of, digest


def _bundle(package: str, name: str, version: str, image: str | None = None) -> Bundle:
    return Bundle(
        name=name,
        package=package,
        image=image if image is not None else f"quay.io/ns/{package}@{digest(name)}",
        properties=[Property("olm.package", {"packageName": package, "version": version})],
    )


def _package(
    entries: list[ChannelEntry], versions: dict[str, str], name: str = "foo"
) -> PackageDocs:
    return PackageDocs(
        name,
        packages=[Package(name, "stable")],
        channels=[Channel("stable", name, entries)],
        bundles=[_bundle(name, n, v) for n, v in versions.items()],
    )


def _problems(docs: PackageDocs, options: ValidationOptions | None = None) -> list[str]:
    problem = validate_package(docs, options)
    return [] if problem is None else problem.leaves()


def test_valid_linear_channel_passes() -> None:
    docs = _package(
        [ChannelEntry("foo.v2", "foo.v1"), ChannelEntry("foo.v1")],
        {"foo.v1": "1.0.0", "foo.v2": "2.0.0"},
    )
    assert validate_package(docs) is None


def test_multiple_heads_are_reported_sorted() -> None:
    docs = _package(
        [ChannelEntry("foo.b"), ChannelEntry("foo.a")], {"foo.a": "1.0.0", "foo.b": "2.0.0"}
    )
    assert _problems(docs) == [
        'invalid package "foo": invalid channel "stable": multiple channel heads found in graph: foo.a, foo.b'
    ]


def test_stranded_bundles_are_reported() -> None:
    docs = _package(
        [
            ChannelEntry("foo.v3", "foo.v2", ["foo.v1"]),
            ChannelEntry("foo.v2"),
            ChannelEntry("foo.x", "foo.v2"),
        ],
        {"foo.v2": "2.0.0", "foo.v3": "3.0.0", "foo.x": "2.5.0"},
    )
    assert "multiple channel heads found in graph: foo.v3, foo.x" in _problems(docs)[0]
    docs = _package(
        [
            ChannelEntry("foo.v3", "foo.v2"),
            ChannelEntry("foo.v2"),
            ChannelEntry("foo.v1", "foo.v0"),
        ],
        {"foo.v1": "1.0.0", "foo.v2": "2.0.0", "foo.v3": "3.0.0"},
    )
    assert _problems(docs) == [
        'invalid package "foo": invalid channel "stable": multiple channel heads found in graph: foo.v1, foo.v3'
    ]
    docs = _package(
        [
            ChannelEntry("foo.v3", "foo.v2", ["foo.v1"]),
            ChannelEntry("foo.v2"),
            ChannelEntry("foo.v1"),
            ChannelEntry("foo.v0", "foo.v9"),
        ],
        {"foo.v0": "0.1.0", "foo.v1": "1.0.0", "foo.v2": "2.0.0", "foo.v3": "3.0.0"},
    )
    assert "multiple channel heads" in _problems(docs)[0]


def test_stranded_entry_not_on_chain_nor_skipped() -> None:
    docs = _package(
        [
            ChannelEntry("foo.v3", "foo.v2", ["foo.vx"]),
            ChannelEntry("foo.v2"),
            ChannelEntry("foo.vx", "foo.v1"),
            ChannelEntry("foo.v1"),
        ],
        {"foo.v1": "1.0.0", "foo.v2": "2.0.0", "foo.v3": "3.0.0", "foo.vx": "1.5.0"},
    )
    assert _problems(docs) == [
        'invalid package "foo": invalid channel "stable": channel contains one or more stranded bundles: foo.v1'
    ]


def test_replaces_cycle_is_reported_with_its_path() -> None:
    docs = _package(
        [
            ChannelEntry("foo.v3", "foo.v2"),
            ChannelEntry("foo.v2", "foo.v1"),
            ChannelEntry("foo.v1", "foo.v2"),
        ],
        {"foo.v1": "1.0.0", "foo.v2": "2.0.0", "foo.v3": "3.0.0"},
    )
    assert _problems(docs) == [
        'invalid package "foo": invalid channel "stable": detected cycle in replaces chain of upgrade '
        "graph: foo.v2 -> foo.v1 -> foo.v2"
    ]


def test_dangling_tail_replaces_is_allowed() -> None:
    docs = _package([ChannelEntry("foo.v2", "foo.v1")], {"foo.v2": "2.0.0"})
    assert validate_package(docs) is None


def test_conversion_problems_use_opm_messages() -> None:
    docs = PackageDocs(
        "Foo_Bar",
        packages=[Package("Foo_Bar", "stable"), Package("Foo_Bar", "stable")],
        channels=[
            Channel(
                "stable", "Foo_Bar", [ChannelEntry("a"), ChannelEntry("a"), ChannelEntry("ghost")]
            )
        ],
        bundles=[
            _bundle("Foo_Bar", "a", "1.0.0"),
            Bundle(
                "b",
                "Foo_Bar",
                "img",
                [Property("olm.package", {"packageName": "other", "version": "1"})],
            ),
            Bundle("c", "Foo_Bar", "", []),
        ],
    )
    problems = _problems(docs)
    prefix = 'invalid package "Foo_Bar": '
    assert prefix + 'duplicate package "Foo_Bar"' in problems
    assert any(
        p.startswith(prefix + 'invalid package name "Foo_Bar": [a lowercase RFC 1123 label')
        for p in problems
    )
    assert prefix + 'invalid package "Foo_Bar", channel "stable": duplicate entry "a"' in problems
    assert prefix + 'package "Foo_Bar" does not match "olm.package" property "other"' in problems
    assert (
        prefix + 'package "Foo_Bar" bundle "c" must have exactly 1 "olm.package" property, found 0'
        in problems
    )
    assert (
        prefix + 'no olm.bundle blobs found in package "Foo_Bar" for olm.channel entries [ghost]'
        in problems
    )


def test_bad_version_skiprange_and_image_are_reported() -> None:
    docs = _package(
        [ChannelEntry("foo.v1", skip_range="not a range", skips=[""])], {"foo.v1": "1.0"}
    )
    docs.bundles[0].image = "Quay.io/NS/Foo:1"
    problems = _problems(docs)
    assert (
        'invalid package "foo": error parsing bundle "foo.v1" version "1.0": No Major.Minor.Patch elements found'
        in problems
    )
    assert any(
        'image: invalid image pull spec "Quay.io/NS/Foo:1": repository name must be lowercase' in p
        for p in problems
    )
    assert any(p.endswith('invalid bundle "foo.v1": skip[0] is empty') for p in problems)
    assert any('invalid skipRange "not a range"' in p for p in problems)


def test_missing_default_channel_synthesizes_an_empty_channel() -> None:
    docs = _package([ChannelEntry("foo.v1")], {"foo.v1": "1.0.0"})
    docs.packages[0].default_channel = "fast"
    assert _problems(docs) == [
        'invalid package "foo": invalid channel "fast": channel must contain at least one bundle'
    ]


def test_duplicate_versions_depend_on_options() -> None:
    docs = _package(
        [ChannelEntry("foo.b", "foo.a"), ChannelEntry("foo.a")],
        {"foo.a": "1.0.0", "foo.b": "1.0.0"},
    )
    assert _problems(docs) == [
        'invalid package "foo": duplicate versions found in bundles: [{1.0.0: [foo.a, foo.b]}]'
    ]
    assert _problems(docs, ValidationOptions(duplicate_versions=False)) == []


def test_deprecation_rules() -> None:
    docs = _package([ChannelEntry("foo.v1")], {"foo.v1": "1.0.0"})
    docs.deprecations = [
        Deprecation(
            "foo",
            [
                DeprecationEntry("olm.bundle", "foo.v9", "gone"),
                DeprecationEntry("olm.channel", "nope", "gone"),
                DeprecationEntry("olm.package", "x", "gone"),
                DeprecationEntry("olm.bundle", "foo.v1", ""),
                DeprecationEntry("olm.weird", "w", "m"),
                DeprecationEntry("", "", "m"),
                DeprecationEntry("olm.bundle", "foo.v1", "dup"),
            ],
        ),
        Deprecation("foo", []),
    ]
    problems = _problems(docs)
    p = 'invalid package "foo": '
    assert p + 'expected a maximum of one deprecation per package: "foo"' in problems
    assert p + 'cannot deprecate bundle "foo.v9" for package "foo": bundle not found' in problems
    assert p + 'cannot deprecate channel "nope" for package "foo": channel not found' in problems
    assert p + 'package name must be empty for deprecated package "foo" (specified "x")' in problems
    assert p + 'schema must be set for deprecation entry [5] for package "foo"' in problems
    assert any("object schema unknown" in x for x in problems)
    assert any("duplicate deprecation entry" in x for x in problems)
    assert (
        p
        + 'invalid channel "stable": invalid bundle "foo.v1": invalid deprecation: message must be set'
        in problems
    )


def test_unknown_package_for_channel_and_bundle() -> None:
    docs = PackageDocs(
        "ghost", channels=[Channel("c", "ghost", [])], bundles=[_bundle("ghost", "g", "1.0.0")]
    )
    assert _problems(docs) == [
        'invalid package "ghost": unknown package "ghost" for channel "c"',
        'invalid package "ghost": unknown package "ghost" for bundle "g"',
    ]


def test_validate_collects_every_package_into_one_tree() -> None:
    good = _package([ChannelEntry("foo.v1")], {"foo.v1": "1.0.0"})
    bad_a = _package(
        [ChannelEntry("a.x"), ChannelEntry("a.y")], {"a.x": "1.0.0", "a.y": "2.0.0"}, name="a"
    )
    bad_b = _package([ChannelEntry("b.v1")], {"b.v1": "1.0.0"}, name="b")
    bad_b.packages[0].default_channel = ""
    with pytest.raises(CatalogValidationError) as info:
        validate(MemoryCatalog([good, bad_a, bad_b]))
    assert str(info.value) == (
        "invalid index:\n"
        '├── invalid package "a":\n'
        '│   └── invalid channel "stable":\n'
        "│       └── multiple channel heads found in graph: a.x, a.y\n"
        '└── invalid package "b":\n'
        "    └── default channel must be set"
    )
    assert info.value.problems == [
        'invalid index: invalid package "a": invalid channel "stable": multiple channel heads found in graph: a.x, a.y',
        'invalid index: invalid package "b": default channel must be set',
    ]


def test_render_tree_matches_opm_layout_for_nested_nodes() -> None:
    root = Problem(
        "invalid index",
        [Problem("p1", [Problem("c1", [Problem("x"), Problem("y")]), Problem("z")])],
    )
    assert render_tree(root) == (
        "invalid index:\n└── p1:\n    ├── c1:\n    │   ├── x\n    │   └── y\n    └── z"
    )


@pytest.mark.usefixtures("fixtures_root")
def test_catalog_built_from_fixtures_is_valid() -> None:
    validate(catalog_of("keda", "cockroachdb", "opendatahub-operator"))
