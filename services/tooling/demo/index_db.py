"""A small but valid legacy SQLite ``index.db`` (schema §4.4, migration version 13).

``build_index_db(path, bundles)`` writes rendered bundles (``render_bundle`` results) the way
``opm registry add`` fills the database, so the file is what a legacy (pre-FBC) index image
carries at ``/database/index.db`` and what ``load_sqlite_index`` (``opm migrate``) reads:

* ``operatorbundle``: one row per bundle (CSV name, CSV JSON, every manifest object as
  ``json.NewEncoder`` output, bundle path = the rendered image, version, skipRange, replaces,
  skips, substitutesFor); ``related_image``: the bundle's related images;
* ``properties``: ``olm.package``, one ``olm.gvk`` per provided API and the other properties
  of the rendered blob; ``dependencies``: ``olm.gvk`` per required API and ``olm.package``
  per package dependency; ``api``/``api_provider``/``api_requirer`` with CRD plurals;
* ``package``/``channel``/``channel_entry``: per package, a channel's members are the bundles
  listing it in their channels annotation and its head is the highest version among them;
  the default channel is the highest bundle's default channel (its first channel when that
  one does not exist). Entries are written like opm's ``addPackageChannels``:

  - ``graph="replaces"``: the head at depth 0, then the CSV ``replaces`` chain from it (a
    replaced bundle becomes a member, as in opm); each ``skips`` name gets a synthetic entry
    plus an entry of the skipping bundle pointing at it. The chain stops at a bundle that
    is not in the database; a cycle is an error. Bundles no head reaches stay in
    ``operatorbundle`` without channel entries (opm keeps them too; migration drops them).
  - ``graph="semver"``: every member, highest first, each replacing the next lower one
    (CSV replaces/skips are ignored), so every bundle is in the migrated catalog.

The file is reproducible: rows are inserted in a fixed order (packages by name, bundles by
version), the migration timestamp is fixed, and the file is written afresh, so the same
bundles give the same bytes (with the same SQLite library).
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from services.catalog import RenderedBundle
from services.catalog import semver as catalog_semver
from services.catalog.gojson import go_marshal
from services.common.errors import CatalogError

__all__ = [
    "INDEX_DB_SCHEMA",
    "SCHEMA_VERSION",
    "GraphMode",
    "IndexDbSummary",
    "build_index_db",
]

GraphMode = Literal["replaces", "semver"]

#: The migration version of a fully migrated opm database.
SCHEMA_VERSION = 13
#: Written as ``schema_migrations.timestamp`` instead of ``CURRENT_TIMESTAMP`` (reproducible).
_MIGRATION_TIMESTAMP = "1970-01-01 00:00:00"

#: The v13 schema (state after all of opm's migrations), foreign keys and triggers included.
INDEX_DB_SCHEMA = """
CREATE TABLE schema_migrations (
  version bigint NOT NULL,
  timestamp DATETIME DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE operatorbundle (
  name TEXT PRIMARY KEY,
  csv TEXT,
  bundle TEXT,
  bundlepath TEXT,
  skiprange TEXT,
  version TEXT,
  replaces TEXT,
  skips TEXT,
  substitutesfor TEXT
);
CREATE UNIQUE INDEX pk ON operatorbundle(name, version, bundlepath);
CREATE TABLE package (
  name TEXT PRIMARY KEY,
  default_channel TEXT,
  FOREIGN KEY(name, default_channel) REFERENCES channel(package_name, name) ON DELETE CASCADE
);
CREATE TABLE channel (
  name TEXT,
  package_name TEXT,
  head_operatorbundle_name TEXT,
  PRIMARY KEY(name, package_name),
  FOREIGN KEY(head_operatorbundle_name) REFERENCES operatorbundle(name) ON DELETE CASCADE
);
CREATE TABLE channel_entry (
  entry_id INTEGER PRIMARY KEY,
  channel_name TEXT,
  package_name TEXT,
  operatorbundle_name TEXT,
  replaces INTEGER,
  depth INTEGER,
  FOREIGN KEY(replaces) REFERENCES channel_entry(entry_id) DEFERRABLE INITIALLY DEFERRED,
  FOREIGN KEY(channel_name, package_name) REFERENCES channel(name, package_name)
    ON DELETE CASCADE
);
CREATE TABLE api (
  group_name TEXT,
  version TEXT,
  kind TEXT,
  plural TEXT NOT NULL,
  PRIMARY KEY(group_name, version, kind)
);
CREATE TABLE api_provider (
  group_name TEXT,
  version TEXT,
  kind TEXT,
  operatorbundle_name TEXT,
  operatorbundle_version TEXT,
  operatorbundle_path TEXT,
  FOREIGN KEY(operatorbundle_name, operatorbundle_version, operatorbundle_path)
    REFERENCES operatorbundle(name, version, bundlepath) ON DELETE CASCADE
    DEFERRABLE INITIALLY DEFERRED,
  FOREIGN KEY(group_name, version, kind) REFERENCES api(group_name, version, kind)
    ON DELETE CASCADE
);
CREATE TABLE api_requirer (
  group_name TEXT,
  version TEXT,
  kind TEXT,
  operatorbundle_name TEXT,
  operatorbundle_version TEXT,
  operatorbundle_path TEXT,
  FOREIGN KEY(operatorbundle_name, operatorbundle_version, operatorbundle_path)
    REFERENCES operatorbundle(name, version, bundlepath) ON DELETE CASCADE
    DEFERRABLE INITIALLY DEFERRED,
  FOREIGN KEY(group_name, version, kind) REFERENCES api(group_name, version, kind)
    ON DELETE CASCADE
);
CREATE TRIGGER api_provider_cleanup
AFTER DELETE ON api_provider
WHEN NOT EXISTS (
  SELECT 1 FROM api_provider
  WHERE group_name = OLD.group_name AND version = OLD.version AND kind = OLD.kind
) AND NOT EXISTS (
  SELECT 1 FROM api_requirer
  WHERE group_name = OLD.group_name AND version = OLD.version AND kind = OLD.kind
)
BEGIN
  DELETE FROM api
  WHERE group_name = OLD.group_name AND version = OLD.version AND kind = OLD.kind;
END;
CREATE TRIGGER api_requirer_cleanup
AFTER DELETE ON api_requirer
WHEN NOT EXISTS (
  SELECT 1 FROM api_requirer
  WHERE group_name = OLD.group_name AND version = OLD.version AND kind = OLD.kind
) AND NOT EXISTS (
  SELECT 1 FROM api_provider
  WHERE group_name = OLD.group_name AND version = OLD.version AND kind = OLD.kind
)
BEGIN
  DELETE FROM api
  WHERE group_name = OLD.group_name AND version = OLD.version AND kind = OLD.kind;
END;
CREATE TABLE related_image (
  image TEXT,
  operatorbundle_name TEXT,
  FOREIGN KEY(operatorbundle_name) REFERENCES operatorbundle(name) ON DELETE CASCADE
);
CREATE TABLE dependencies (
  type TEXT,
  value TEXT,
  operatorbundle_name TEXT,
  operatorbundle_version TEXT,
  operatorbundle_path TEXT,
  FOREIGN KEY(operatorbundle_name, operatorbundle_version, operatorbundle_path)
    REFERENCES operatorbundle(name, version, bundlepath) ON DELETE CASCADE
    DEFERRABLE INITIALLY DEFERRED
);
CREATE TABLE properties (
  type TEXT,
  value TEXT,
  operatorbundle_name TEXT,
  operatorbundle_version TEXT,
  operatorbundle_path TEXT,
  FOREIGN KEY(operatorbundle_name, operatorbundle_version, operatorbundle_path)
    REFERENCES operatorbundle(name, version, bundlepath) ON DELETE CASCADE
    DEFERRABLE INITIALLY DEFERRED
);
CREATE TABLE deprecated (
  operatorbundle_name TEXT PRIMARY KEY
);
"""

# Property types that are not rows of the ``properties`` table.
_NOT_PROPERTIES = frozenset(
    {"olm.gvk.required", "olm.package.required", "olm.bundle.object", "olm.csv.metadata"}
)


@dataclass(frozen=True)
class IndexDbSummary:
    """What ``build_index_db`` wrote: per package its default channel, channel heads and the
    bundles (CSV names) that have a channel entry (the ones migration keeps), sorted."""

    default_channels: dict[str, str] = field(default_factory=dict)
    heads: dict[str, dict[str, str]] = field(default_factory=dict)
    bundles: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class _Bundle:
    rendered: RenderedBundle
    version: catalog_semver.Version

    @property
    def name(self) -> str:
        return self.rendered.csv_name


def _version_of(rendered: RenderedBundle) -> catalog_semver.Version:
    try:
        return catalog_semver.parse(rendered.version)
    except catalog_semver.SemverError as exc:
        raise CatalogError(
            f"bundle {rendered.csv_name} ({rendered.image}): version {rendered.version!r} "
            f"is not a semantic version: {exc}"
        ) from None


def _highest(bundles: Iterable[_Bundle]) -> _Bundle:
    return max(bundles, key=lambda b: (b.version, b.name))


def _plurals(rendered: RenderedBundle) -> dict[tuple[str, str], str]:
    """(group, kind) → plural, from the CRD objects and the CSV's API definitions."""
    plurals: dict[tuple[str, str], str] = {}
    for text in rendered.objects:
        obj = json.loads(text)
        if not isinstance(obj, dict) or obj.get("kind") != "CustomResourceDefinition":
            continue
        spec = obj.get("spec") or {}
        names = spec.get("names") or {} if isinstance(spec, dict) else {}
        if isinstance(names, dict) and names.get("plural"):
            plurals[(str(spec.get("group", "")), str(names.get("kind", "")))] = str(names["plural"])
    spec = rendered.csv.get("spec") or {}
    for section in ("customresourcedefinitions", "apiservicedefinitions"):
        definitions = spec.get(section) or {} if isinstance(spec, dict) else {}
        for key in ("owned", "required"):
            items = definitions.get(key) or [] if isinstance(definitions, dict) else []
            for item in items:
                if not isinstance(item, dict) or not item.get("name"):
                    continue
                name = str(item["name"])
                if section == "customresourcedefinitions":
                    plural, _, group = name.partition(".")
                else:
                    plural, group = name, str(item.get("group", ""))
                plurals.setdefault((group, str(item.get("kind", ""))), plural)
    return plurals


class _Writer:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def bundle(self, bundle: _Bundle) -> None:
        r = bundle.rendered
        name, version, path = r.csv_name, r.version, r.image
        csv_text = go_marshal(r.csv) + "\n"
        self.conn.execute(
            "INSERT INTO operatorbundle(name, csv, bundle, bundlepath, skiprange, version, "
            "replaces, skips, substitutesfor) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                name,
                csv_text,
                "".join(obj + "\n" for obj in r.objects),
                path,
                r.skip_range,
                version,
                r.replaces,
                ",".join(r.skips),
                r.substitutes_for,
            ),
        )
        for image in dict.fromkeys(ri.image for ri in r.related_images if ri.image):
            self.conn.execute(
                "INSERT INTO related_image(image, operatorbundle_name) VALUES (?, ?)", (image, name)
            )
        plurals = _plurals(r)
        owner = (name, version or None, path or None)
        for prop in r.bundle.properties:
            value: Any = prop.value
            if prop.type in _NOT_PROPERTIES:
                continue
            self.conn.execute(
                "INSERT INTO properties(type, value, operatorbundle_name, operatorbundle_version, "
                "operatorbundle_path) VALUES (?, ?, ?, ?, ?)",
                (prop.type, go_marshal(value), *owner),
            )
            if prop.type == "olm.gvk" and isinstance(value, dict):
                self._api("api_provider", value, plurals, owner)
        for prop in r.bundle.properties:
            value = prop.value
            if not isinstance(value, dict):
                continue
            if prop.type == "olm.gvk.required":
                dep = {
                    "group": value.get("group", ""),
                    "kind": value.get("kind", ""),
                    "version": value.get("version", ""),
                }
                self._dependency("olm.gvk", dep, owner)
                self._api("api_requirer", value, plurals, owner)
            elif prop.type == "olm.package.required":
                dep = {
                    "packageName": value.get("packageName", ""),
                    "version": value.get("versionRange", ""),
                }
                self._dependency("olm.package", dep, owner)

    def _dependency(self, typ: str, value: dict[str, Any], owner: tuple[Any, ...]) -> None:
        self.conn.execute(
            "INSERT INTO dependencies(type, value, operatorbundle_name, operatorbundle_version, "
            "operatorbundle_path) VALUES (?, ?, ?, ?, ?)",
            (typ, go_marshal(value), *owner),
        )

    def _api(
        self,
        table: str,
        gvk: dict[str, Any],
        plurals: dict[tuple[str, str], str],
        owner: tuple[Any, ...],
    ) -> None:
        group, version, kind = (str(gvk.get(k, "")) for k in ("group", "version", "kind"))
        plural = plurals.get((group, kind)) or kind.lower() + "s"
        self.conn.execute(
            "INSERT OR IGNORE INTO api(group_name, version, kind, plural) VALUES (?, ?, ?, ?)",
            (group, version, kind, plural),
        )
        self.conn.execute(
            f"INSERT INTO {table}(group_name, version, kind, operatorbundle_name, "
            "operatorbundle_version, operatorbundle_path) VALUES (?, ?, ?, ?, ?, ?)",
            (group, version, kind, *owner),
        )

    def entry(self, channel: str, package: str, bundle: str, depth: int) -> int:
        cursor = self.conn.execute(
            "INSERT INTO channel_entry(channel_name, package_name, operatorbundle_name, depth) "
            "VALUES (?, ?, ?, ?)",
            (channel, package, bundle, depth),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def link(self, entry_id: int, replaced_id: int) -> None:
        self.conn.execute(
            "UPDATE channel_entry SET replaces = ? WHERE entry_id = ?", (replaced_id, entry_id)
        )


def _walk_replaces(
    writer: _Writer, package: str, channel: str, head: _Bundle, by_name: dict[str, _Bundle]
) -> set[str]:
    """opm's ``addPackageChannels`` walk; returns the names given a channel entry."""
    named = {head.name}
    current_id = writer.entry(channel, package, head.name, 0)
    current = head
    depth = 1
    seen = {head.name}
    while True:
        for skip in current.rendered.skips:
            skipped_id = writer.entry(channel, package, skip, depth)
            synthetic_id = writer.entry(channel, package, current.name, depth)
            writer.link(synthetic_id, skipped_id)
            named.add(skip)
            depth += 1
        replaced = current.rendered.replaces
        if not replaced or replaced not in by_name:
            return named
        if replaced in seen:
            raise CatalogError(
                f"package {package}, channel {channel}: cycle detected, {current.name} "
                f"replaces {replaced}"
            )
        seen.add(replaced)
        replaced_id = writer.entry(channel, package, replaced, depth)
        writer.link(current_id, replaced_id)
        named.add(replaced)
        current_id, current = replaced_id, by_name[replaced]
        depth += 1


def _walk_semver(writer: _Writer, package: str, channel: str, members: list[_Bundle]) -> set[str]:
    """Every member, highest version first, each replacing the next lower one."""
    ordered = sorted(members, key=lambda b: (b.version, b.name), reverse=True)
    previous: int | None = None
    for depth, bundle in enumerate(ordered):
        entry_id = writer.entry(channel, package, bundle.name, depth)
        if previous is not None:
            writer.link(previous, entry_id)
        previous = entry_id
    return {b.name for b in ordered}


def build_index_db(
    path: Path, bundles: Sequence[RenderedBundle], *, graph: GraphMode = "replaces"
) -> IndexDbSummary:
    """Write a legacy ``index.db`` (schema v13) holding ``bundles`` to ``path`` (replaced).

    See the module docstring for the rows and the two ``graph`` rules. An empty sequence
    gives the empty database opm creates. Raises ``CatalogError`` for duplicate CSV names,
    non-semver versions, bundles without channels and ``replaces`` cycles.
    """
    if graph not in ("replaces", "semver"):
        raise CatalogError(f"unsupported graph mode {graph!r} (use 'replaces' or 'semver')")
    seen: dict[str, RenderedBundle] = {}
    packages: dict[str, list[_Bundle]] = {}
    for rendered in bundles:
        other = seen.get(rendered.csv_name)
        if other is not None:
            raise CatalogError(
                f"bundle {rendered.csv_name} appears twice ({other.image} and {rendered.image})"
            )
        seen[rendered.csv_name] = rendered
        if not rendered.channels:
            raise CatalogError(
                f"bundle {rendered.csv_name} ({rendered.image}) has no channels annotation"
            )
        packages.setdefault(rendered.package, []).append(_Bundle(rendered, _version_of(rendered)))

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    summary = IndexDbSummary()
    conn = sqlite3.connect(tmp)
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        conn.executescript(INDEX_DB_SCHEMA)
        with conn:
            conn.execute(
                "INSERT INTO schema_migrations(version, timestamp) VALUES (?, ?)",
                (SCHEMA_VERSION, _MIGRATION_TIMESTAMP),
            )
            writer = _Writer(conn)
            for package in sorted(packages):
                members = sorted(packages[package], key=lambda b: (b.version, b.name))
                for bundle in members:
                    writer.bundle(bundle)
                summary.bundles[package] = _write_channels(writer, package, members, graph, summary)
            problems = conn.execute("PRAGMA foreign_key_check").fetchall()
            if problems:
                raise CatalogError(f"{path}: foreign key violations: {problems[:5]}")
        conn.close()
        os.replace(tmp, path)
    except BaseException:
        conn.close()
        tmp.unlink(missing_ok=True)
        raise
    return summary


def _write_channels(
    writer: _Writer,
    package: str,
    members: list[_Bundle],
    graph: GraphMode,
    summary: IndexDbSummary,
) -> list[str]:
    by_name = {b.name: b for b in members}
    channels: dict[str, list[_Bundle]] = {}
    for bundle in members:
        for channel in bundle.rendered.channels:
            channels.setdefault(channel, []).append(bundle)
    heads = {channel: _highest(group).name for channel, group in channels.items()}
    top = _highest(members)
    default = top.rendered.default_channel
    if default not in channels:
        default = top.rendered.channels[0]
    for channel in sorted(channels):
        writer.conn.execute(
            "INSERT INTO channel(name, package_name, head_operatorbundle_name) VALUES (?, ?, ?)",
            (channel, package, heads[channel]),
        )
    writer.conn.execute(
        "INSERT INTO package(name, default_channel) VALUES (?, ?)", (package, default)
    )
    named: set[str] = set()
    for channel in sorted(channels):
        if graph == "semver":
            named |= _walk_semver(writer, package, channel, channels[channel])
        else:
            named |= _walk_replaces(writer, package, channel, by_name[heads[channel]], by_name)
    summary.default_channels[package] = default
    summary.heads[package] = dict(sorted(heads.items()))
    return sorted(n for n in named if n in by_name)
