"""catalog_diff: what a change set does to a catalog.

Expected values are worked out by hand from the File-Based Catalog rules (olm.channel entries;
a channel's head is the one entry no other entry replaces or skips, opm's Channel.Head) for
the small catalogs written here, not read back from the engine.
"""

from __future__ import annotations

import json

from services.catalog import (
    Bundle,
    CatalogChanges,
    Channel,
    ChannelEntry,
    MemoryCatalog,
    Package,
    PackageDocs,
    Property,
    catalog_diff,
    remove_packages,
    upsert_deprecations,
)


def _bundle(package: str, version: str, image: str | None = None) -> Bundle:
    return Bundle(
        name=f"{package}.v{version}",
        package=package,
        image=image or f"registry.example/{package}-bundle:{version}",
        properties=[Property("olm.package", {"packageName": package, "version": version})],
    )


def _foo_v1() -> PackageDocs:
    return PackageDocs(
        name="foo",
        packages=[Package(name="foo", default_channel="stable")],
        channels=[Channel("stable", "foo", [ChannelEntry("foo.v1.0.0")])],
        bundles=[_bundle("foo", "1.0.0")],
    )


def test_an_upgrade_moves_the_head_adds_a_channel_and_moves_the_default() -> None:
    base = MemoryCatalog([_foo_v1()])
    after = _foo_v1()
    after.packages[0].default_channel = "fast"
    after.channels[0].entries.append(ChannelEntry("foo.v2.0.0", replaces="foo.v1.0.0"))
    after.channels.append(Channel("fast", "foo", [ChannelEntry("foo.v2.0.0")]))
    after.bundles.append(_bundle("foo", "2.0.0"))
    diff = catalog_diff(base, CatalogChanges({"foo": after})).to_json()
    assert diff == {
        "packages_added": [],
        "packages_removed": [],
        # fast holds only foo.v2.0.0: its head
        "channels_added": [{"package": "foo", "channel": "fast", "head": "foo.v2.0.0"}],
        "channels_removed": [],
        "bundles_added": [
            {
                "package": "foo",
                "name": "foo.v2.0.0",
                "image": "registry.example/foo-bundle:2.0.0",
                "version": "2.0.0",
            }
        ],
        "bundles_removed": [],
        # foo.v2.0.0 replaces foo.v1.0.0, so nothing points at foo.v2.0.0: the new head
        "channel_heads_moved": [
            {
                "package": "foo",
                "channel": "stable",
                "from_head": "foo.v1.0.0",
                "to_head": "foo.v2.0.0",
            }
        ],
        "default_channels_moved": [
            {"package": "foo", "from_channel": "stable", "to_channel": "fast"}
        ],
        "deprecations_added": [],
    }


def test_a_skip_makes_the_skipping_entry_the_head() -> None:
    base = MemoryCatalog([_foo_v1()])
    after = _foo_v1()
    after.channels[0].entries.append(ChannelEntry("foo.v1.1.0", skips=["foo.v1.0.0"]))
    after.bundles.append(_bundle("foo", "1.1.0"))
    diff = catalog_diff(base, CatalogChanges({"foo": after}))
    assert diff.channel_heads_moved == [
        {"package": "foo", "channel": "stable", "from_head": "foo.v1.0.0", "to_head": "foo.v1.1.0"}
    ]


def test_a_new_package_and_a_removed_one() -> None:
    bar = PackageDocs(
        name="bar",
        packages=[Package(name="bar", default_channel="alpha")],
        channels=[Channel("alpha", "bar", [ChannelEntry("bar.v0.1.0")])],
        bundles=[_bundle("bar", "0.1.0")],
    )
    base = MemoryCatalog([bar])
    removed = remove_packages(base, ["bar"]).changes
    changes = removed.merged(CatalogChanges({"foo": _foo_v1()}))
    diff = catalog_diff(base, changes)
    assert diff.packages_added == ["foo"]
    assert diff.packages_removed == ["bar"]
    assert diff.channels_added == [{"package": "foo", "channel": "stable", "head": "foo.v1.0.0"}]
    assert diff.channels_removed == [{"package": "bar", "channel": "alpha", "head": "bar.v0.1.0"}]
    assert [b["name"] for b in diff.bundles_removed] == ["bar.v0.1.0"]
    assert diff.default_channels_moved == []  # a package that appears or goes moves nothing


def test_an_overwritten_bundle_is_removed_and_added() -> None:
    base = MemoryCatalog([_foo_v1()])
    after = _foo_v1()
    after.bundles = [
        _bundle("foo", "1.0.0", image="registry.example/foo-bundle@sha256:" + "a" * 64)
    ]
    diff = catalog_diff(base, CatalogChanges({"foo": after}))
    assert [b["image"] for b in diff.bundles_removed] == ["registry.example/foo-bundle:1.0.0"]
    assert [b["image"] for b in diff.bundles_added] == [
        "registry.example/foo-bundle@sha256:" + "a" * 64
    ]
    assert diff.channel_heads_moved == []


def test_deprecations_added_by_add_deprecations() -> None:
    base = MemoryCatalog([_foo_v1()])
    # an olm.deprecations document as the FBC reference writes one
    schema = {
        "schema": "olm.deprecations",
        "package": "foo",
        "entries": [
            {"reference": {"schema": "olm.package"}, "message": "foo is end of life"},
            {
                "reference": {"schema": "olm.bundle", "name": "foo.v1.0.0"},
                "message": "use 2.0",
            },
        ],
    }
    changes = upsert_deprecations(base, "foo", json.dumps(schema)).changes
    diff = catalog_diff(base, changes)
    assert diff.deprecations_added == [
        {"package": "foo", "schema": "olm.bundle", "name": "foo.v1.0.0", "message": "use 2.0"},
        {"package": "foo", "schema": "olm.package", "name": "", "message": "foo is end of life"},
    ]
    assert diff.bundles_added == [] and diff.channel_heads_moved == []
