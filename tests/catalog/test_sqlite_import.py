"""Reading legacy SQLite index databases (built here with sqlite3 per the v13 schema)."""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

from services.catalog import load_sqlite_index, validate, write_catalog
from services.catalog.gojson import go_marshal
from services.common.errors import CatalogError, CatalogValidationError

from .conftest import assert_golden

SCHEMA = """
CREATE TABLE schema_migrations (version bigint NOT NULL, timestamp DATETIME DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE operatorbundle (name TEXT PRIMARY KEY, csv TEXT, bundle TEXT, bundlepath TEXT, skiprange TEXT,
  version TEXT, replaces TEXT, skips TEXT, substitutesfor TEXT);
CREATE UNIQUE INDEX pk ON operatorbundle(name, version, bundlepath);
CREATE TABLE package (name TEXT PRIMARY KEY, default_channel TEXT,
  FOREIGN KEY(name, default_channel) REFERENCES channel(package_name, name) ON DELETE CASCADE);
CREATE TABLE channel (name TEXT, package_name TEXT, head_operatorbundle_name TEXT, PRIMARY KEY(name, package_name),
  FOREIGN KEY(head_operatorbundle_name) REFERENCES operatorbundle(name) ON DELETE CASCADE);
CREATE TABLE channel_entry (entry_id INTEGER PRIMARY KEY, channel_name TEXT, package_name TEXT,
  operatorbundle_name TEXT, replaces INTEGER, depth INTEGER,
  FOREIGN KEY(replaces) REFERENCES channel_entry(entry_id) DEFERRABLE INITIALLY DEFERRED,
  FOREIGN KEY(channel_name, package_name) REFERENCES channel(name, package_name) ON DELETE CASCADE);
CREATE TABLE api (group_name TEXT, version TEXT, kind TEXT, plural TEXT NOT NULL, PRIMARY KEY(group_name, version, kind));
CREATE TABLE api_provider (group_name TEXT, version TEXT, kind TEXT, operatorbundle_name TEXT,
  operatorbundle_version TEXT, operatorbundle_path TEXT);
CREATE TABLE api_requirer (group_name TEXT, version TEXT, kind TEXT, operatorbundle_name TEXT,
  operatorbundle_version TEXT, operatorbundle_path TEXT);
CREATE TABLE related_image (image TEXT, operatorbundle_name TEXT);
CREATE TABLE dependencies (type TEXT, value TEXT, operatorbundle_name TEXT, operatorbundle_version TEXT,
  operatorbundle_path TEXT);
CREATE TABLE properties (type TEXT, value TEXT, operatorbundle_name TEXT, operatorbundle_version TEXT,
  operatorbundle_path TEXT);
CREATE TABLE deprecated (operatorbundle_name TEXT PRIMARY KEY);
INSERT INTO schema_migrations(version) VALUES (13);
"""

ICON = base64.b64encode(b"<svg/>").decode()


def _image(name: str) -> str:
    return f"quay.io/test/{name}@sha256:" + hashlib.sha256(name.encode()).hexdigest()


def _csv(
    name: str, version: str, replaces: str = "", skips: tuple[str, ...] = (), skip_range: str = ""
) -> dict:
    spec: dict[str, object] = {
        "version": version,
        "displayName": "Foo",
        "icon": [{"base64data": ICON, "mediatype": "image/svg+xml"}],
        "customresourcedefinitions": {
            "owned": [{"name": "foos.test.foo", "version": "v1", "kind": "Foo"}],
            "required": [{"name": "bars.test.bar", "version": "v1alpha1", "kind": "Bar"}],
        },
        "install": {
            "strategy": "deployment",
            "spec": {
                "deployments": [
                    {
                        "name": "foo",
                        "spec": {
                            "template": {
                                "spec": {
                                    "containers": [
                                        {"name": "c", "image": f"quay.io/test/foo:{version}"}
                                    ],
                                    "initContainers": [
                                        {"name": "i", "image": f"quay.io/test/foo-init:{version}"}
                                    ],
                                }
                            }
                        },
                    }
                ]
            },
        },
        "relatedImages": [
            {"name": "operator", "image": f"quay.io/test/foo:{version}"},
            {"name": "other", "image": f"quay.io/test/foo-other:{version}"},
        ],
    }
    if replaces:
        spec["replaces"] = replaces
    if skips:
        spec["skips"] = list(skips)
    annotations = {"olm.skipRange": skip_range} if skip_range else {}
    return {
        "apiVersion": "operators.coreos.com/v1alpha1",
        "kind": "ClusterServiceVersion",
        "metadata": {"name": name, "annotations": annotations},
        "spec": spec,
    }


CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "foos.test.foo"},
    "spec": {
        "group": "test.foo",
        "names": {"kind": "Foo", "plural": "foos"},
        "versions": [{"name": "v1"}],
    },
}


class _Db:
    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path)
        self.conn.executescript(SCHEMA)

    def bundle(
        self,
        name: str,
        version: str,
        *,
        replaces: str = "",
        skips: tuple[str, ...] = (),
        skip_range: str = "",
        deps: bool = True,
        objects: bool = True,
    ) -> None:
        csv = _csv(name, version, replaces, skips, skip_range)
        csv_text = go_marshal(csv) + "\n"
        bundle_text = go_marshal(CRD) + "\n" + csv_text if objects else None
        path = _image(name)
        self.conn.execute(
            "INSERT INTO operatorbundle VALUES (?,?,?,?,?,?,?,?,?)",
            (
                name,
                csv_text if objects else None,
                bundle_text,
                path,
                skip_range,
                version,
                replaces,
                ",".join(skips),
                "",
            ),
        )
        props = [
            ("olm.gvk", '{"group":"test.foo","kind":"Foo","version":"v1"}'),
            ("olm.package", json.dumps({"packageName": "foo", "version": version})),
        ]
        for typ, value in props:
            self.conn.execute(
                "INSERT INTO properties VALUES (?,?,?,?,?)", (typ, value, name, version, path)
            )
        if deps:
            for typ, value in [
                ("olm.package", '{"packageName":"bar","version":"<0.1.0"}'),
                ("olm.gvk", '{"group":"test.bar","kind":"Bar","version":"v1alpha1"}'),
                ("olm.label", '{"label":"x"}'),
            ]:
                self.conn.execute(
                    "INSERT INTO dependencies VALUES (?,?,?,?,?)", (typ, value, name, version, path)
                )
        for image in [
            path,
            f"quay.io/test/foo:{version}",
            f"quay.io/test/foo-init:{version}",
            f"quay.io/test/foo-other:{version}",
            f"quay.io/test/foo-2:{version}",
        ]:
            self.conn.execute("INSERT INTO related_image VALUES (?,?)", (image, name))

    def channel(self, package: str, channel: str, chain: list[tuple[str, tuple[str, ...]]]) -> None:
        """Insert channel_entry rows the way opm's addPackageChannels walks ``chain``."""
        self.conn.execute("INSERT INTO channel VALUES (?,?,?)", (channel, package, chain[0][0]))
        depth = 0
        previous: int | None = None
        for name, skips in chain:
            cur = self.conn.execute(
                "INSERT INTO channel_entry(channel_name, package_name, operatorbundle_name, depth) VALUES (?,?,?,?)",
                (channel, package, name, depth),
            ).lastrowid
            if previous is not None:
                self.conn.execute(
                    "UPDATE channel_entry SET replaces=? WHERE entry_id=?", (cur, previous)
                )
            depth += 1
            for skip in skips:
                skipped = self.conn.execute(
                    "INSERT INTO channel_entry(channel_name, package_name, operatorbundle_name, depth) VALUES (?,?,?,?)",
                    (channel, package, skip, depth),
                ).lastrowid
                self.conn.execute(
                    "INSERT INTO channel_entry(channel_name, package_name, operatorbundle_name, depth, replaces) VALUES (?,?,?,?,?)",
                    (channel, package, name, depth, skipped),
                )
                depth += 1
            previous = cur

    def package(self, name: str, default: str) -> None:
        self.conn.execute("INSERT INTO package VALUES (?,?)", (name, default))

    def close(self) -> None:
        self.conn.commit()
        self.conn.close()


@pytest.fixture
def s1_db(tmp_path: Path) -> Path:
    path = tmp_path / "index.db"
    db = _Db(path)
    db.bundle("foo.v0.1.0", "0.1.0", skip_range="<0.1.0")
    db.bundle(
        "foo.v0.2.0",
        "0.2.0",
        replaces="foo.v0.1.0",
        skips=("foo.v0.1.1", "foo.v0.1.2"),
        skip_range="<0.2.0",
    )
    for channel in ("beta", "stable"):
        db.channel(
            "foo", channel, [("foo.v0.2.0", ("foo.v0.1.1", "foo.v0.1.2")), ("foo.v0.1.0", ())]
        )
    db.package("foo", "beta")
    db.close()
    return path


def test_s1_migration_matches_opm_shape(s1_db: Path, tmp_path: Path) -> None:
    catalog = load_sqlite_index(s1_db)
    assert catalog.package_names() == ["foo"]
    docs = catalog.load_package("foo")
    assert docs is not None
    assert docs.packages[0].default_channel == "beta"
    assert docs.packages[0].icon is not None and docs.packages[0].icon.mediatype == "image/svg+xml"
    for channel in docs.channels:
        assert [(e.name, e.replaces, e.skips, e.skip_range) for e in channel.entries] == [
            ("foo.v0.1.0", "", [], "<0.1.0"),
            ("foo.v0.2.0", "foo.v0.1.0", ["foo.v0.1.1", "foo.v0.1.2"], "<0.2.0"),
        ]
    bundle = docs.bundle("foo.v0.2.0")
    assert bundle is not None
    assert [p.type for p in bundle.properties] == [
        "olm.gvk",
        "olm.gvk.required",
        "olm.package",
        "olm.package.required",
        "olm.bundle.object",
        "olm.bundle.object",
    ]
    objects = [
        base64.b64decode(p.value["data"])
        for p in bundle.properties
        if p.type == "olm.bundle.object"
    ]
    assert [json.loads(o)["kind"] for o in objects] == [
        "CustomResourceDefinition",
        "ClusterServiceVersion",
    ]
    assert [(r.name, r.image.split("/")[-1]) for r in bundle.related_images] == [
        ("", "foo-2:0.2.0"),
        ("", "foo-init:0.2.0"),
        ("other", "foo-other:0.2.0"),
        ("", bundle.image.split("/")[-1]),
        ("operator", "foo:0.2.0"),
    ]
    validate(catalog)
    out = tmp_path / "out"
    write_catalog(catalog, out)
    assert_golden("sqlite/s1-catalog.json", (out / "foo" / "catalog.json").read_bytes())


def test_csv_metadata_migration_level(s1_db: Path) -> None:
    docs = load_sqlite_index(s1_db, csv_metadata=True).load_package("foo")
    assert docs is not None
    bundle = docs.bundle("foo.v0.2.0")
    assert bundle is not None
    assert [p.type for p in bundle.properties][-1] == "olm.csv.metadata"
    assert all(p.type != "olm.bundle.object" for p in bundle.properties)


def test_database_is_opened_read_only(s1_db: Path) -> None:
    before = s1_db.read_bytes()
    catalog = load_sqlite_index(s1_db)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        catalog._db.execute("DELETE FROM package")
    catalog.close()
    assert s1_db.read_bytes() == before


def test_deprecated_bundles_are_left_out(tmp_path: Path) -> None:
    path = tmp_path / "index.db"
    db = _Db(path)
    db.bundle("foo.v0.1.0", "0.1.0", deps=False)
    db.bundle("foo.v0.2.0", "0.2.0", replaces="foo.v0.1.0", deps=False)
    db.bundle("foo.v0.3.0", "0.3.0", replaces="foo.v0.2.0", deps=False)
    db.channel("foo", "stable", [("foo.v0.3.0", ()), ("foo.v0.2.0", ())])
    db.conn.execute("UPDATE channel_entry SET replaces=NULL WHERE operatorbundle_name='foo.v0.2.0'")
    db.conn.execute(
        "INSERT INTO properties VALUES ('olm.deprecated','{}','foo.v0.2.0','0.2.0',?)",
        (_image("foo.v0.2.0"),),
    )
    db.conn.execute("INSERT INTO deprecated VALUES ('foo.v0.2.0')")
    db.conn.execute(
        "INSERT INTO properties VALUES ('olm.maxOpenShiftVersion','4.8','foo.v0.3.0','0.3.0',?)",
        (_image("foo.v0.3.0"),),
    )
    db.package("foo", "stable")
    db.close()
    docs = load_sqlite_index(path).load_package("foo")
    assert docs is not None
    assert [b.name for b in docs.bundles] == ["foo.v0.3.0"]
    assert [(e.name, e.replaces) for e in docs.channels[0].entries] == [
        ("foo.v0.3.0", "foo.v0.2.0")
    ]
    assert ("olm.maxOpenShiftVersion", 4.8) in [
        (p.type, p.value) for p in docs.bundles[0].properties
    ]


def test_inconsistent_database_fails_like_opm_migrate(tmp_path: Path) -> None:
    path = tmp_path / "index.db"
    db = _Db(path)
    db.bundle("foo.v0.1.0", "0.1.0", deps=False)
    db.channel("foo", "stable", [("foo.v0.1.0", ())])
    db.conn.execute(
        "INSERT INTO channel_entry(channel_name, package_name, operatorbundle_name, depth) VALUES ('ghost','foo','foo.v0.1.0',0)"
    )
    db.package("foo", "stable")
    db.close()
    with pytest.raises(CatalogError, match='^unknown channel "ghost" for bundle "foo.v0.1.0"$'):
        load_sqlite_index(path).load_package("foo")


def test_invalid_graph_fails_validation(tmp_path: Path) -> None:
    path = tmp_path / "index.db"
    db = _Db(path)
    db.bundle("foo.v0.1.0", "0.1.0", deps=False)
    db.bundle("foo.v0.2.0", "0.2.0", deps=False)
    db.channel("foo", "stable", [("foo.v0.1.0", ())])
    db.conn.execute(
        "INSERT INTO channel_entry(channel_name, package_name, operatorbundle_name, depth) VALUES ('stable','foo','foo.v0.2.0',0)"
    )
    db.package("foo", "stable")
    db.close()
    with pytest.raises(
        CatalogValidationError,
        match="multiple channel heads found in graph: foo.v0.1.0, foo.v0.2.0",
    ):
        load_sqlite_index(path).load_package("foo")


def test_not_an_index_database_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "index.db"
    sqlite3.connect(path).close()
    with pytest.raises(CatalogError, match="not an operator-registry index database"):
        load_sqlite_index(path)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(CatalogError, match="not a readable SQLite index database"):
        load_sqlite_index(junk)
