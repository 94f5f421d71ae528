"""Reading a legacy SQLite ``index.db`` as a File-Based Catalog (``opm migrate``, §4.8).

The database is opened read-only (``mode=ro`` URI) and never written. Packages are
converted one at a time, as opm's ``ToModel`` + ``ConvertFromModel`` would:

* one bundle per (bundle, channel) with a channel entry, a bundle path and a version;
  bundles carrying ``olm.deprecated`` are left out;
* ``replaces`` follows the chain of entry pointers from the channel heads (the entries of
  minimal depth); every other pointer of the bundle's entries becomes a ``skips`` name;
* properties: the ``properties`` rows (``olm.gvk`` rebuilt as ``{group, kind, version}``),
  ``dependencies`` rows as ``olm.gvk.required`` / ``olm.package.required`` (other types
  dropped), a synthesized ``olm.package`` when absent, one ``olm.bundle.object`` per object
  of the ``bundle`` column; de-duplicated and sorted by (type, value);
* related images from the CSV's ``spec.relatedImages`` plus the ``related_image`` rows,
  sorted by image; the package icon from the default channel head's CSV.

Each converted package is validated like ``opm validate``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.common.errors import CatalogError, CatalogValidationError

from . import limits
from .documents import loads_bounded, too_many_json_values
from .model import (
    PROP_BUNDLE_OBJECT,
    PROP_DEPRECATED,
    PROP_GVK,
    PROP_GVK_REQUIRED,
    PROP_PACKAGE,
    PROP_PACKAGE_REQUIRED,
    Bundle,
    Channel,
    ChannelEntry,
    Icon,
    Package,
    PackageDocs,
    PackageSummary,
    Property,
    RelatedImage,
)
from .properties import canonical_properties, convert_to_csv_metadata, gvk_value
from .validate import Problem, ValidationOptions, render_tree, validate_package

__all__ = ["SqliteCatalog", "load_sqlite_index"]

_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


@dataclass(slots=True)
class _Entry:
    entry_id: int
    channel: str
    package: str
    bundle: str
    replaces: int | None
    depth: int | None


#: The tables (and optional tables) a conversion reads.
_READ_TABLES = {
    "package",
    "channel",
    "channel_entry",
    "operatorbundle",
    "properties",
    "dependencies",
    "related_image",
}


def _bound(db: sqlite3.Connection, owner: SqliteCatalog) -> None:
    """Limits of a connection to an untrusted database: no value longer than
    ``MAX_SQLITE_VALUE_BYTES``, no SQL function of its schema that is not innocuous, every
    query interrupted at ``owner._deadline``."""
    db.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, limits.MAX_SQLITE_VALUE_BYTES)
    db.execute("PRAGMA trusted_schema = OFF")
    db.execute("PRAGMA query_only = ON")
    db.set_progress_handler(lambda: int(time.monotonic() > owner._deadline), 10_000)


def _split_objects(text: str, bundle: str) -> list[str]:
    """The raw JSON text of each object of a ``bundle`` column (concatenated JSON values)."""
    if too_many_json_values(text):
        raise CatalogError(
            f"index.db: bundle {bundle!r}: more than {limits.MAX_JSON_VALUES} JSON values"
        )
    out: list[str] = []
    idx = 0
    while True:
        match = _WS.match(text, idx)
        idx = match.end() if match else idx
        if idx >= len(text):
            return out
        try:
            _, end = _DECODER.raw_decode(text, idx)
        except RecursionError:
            raise CatalogError(f"index.db: bundle {bundle!r}: JSON nested too deeply") from None
        except ValueError as exc:
            raise CatalogError(
                f"index.db: bundle {bundle!r}: invalid bundle column: {exc}"
            ) from None
        out.append(text[idx:end])
        idx = end


def _loads(text: str, what: str) -> Any:
    try:
        return loads_bounded(text)
    except ValueError as exc:
        raise CatalogError(f"index.db: {what} is not valid JSON: {exc}") from None


class SqliteCatalog:
    """A read-only :class:`~.views.CatalogView` over a legacy ``index.db``."""

    def __init__(
        self,
        db_path: Path,
        *,
        csv_metadata: bool = False,
        validate: bool = True,
        options: ValidationOptions | None = None,
    ) -> None:
        self.db_path = Path(db_path)
        self.csv_metadata = csv_metadata
        self.validate = validate
        self.options = options
        if not self.db_path.is_file():
            raise CatalogError(f"index.db {db_path} does not exist")
        uri = self.db_path.resolve().as_uri() + "?mode=ro"
        self._deadline = 0.0
        try:
            self._db = sqlite3.connect(uri, uri=True, check_same_thread=False)
            _bound(self._db, self)
            tables = {
                name: sql or ""
                for name, sql in self._db.execute(
                    "SELECT name, sql FROM sqlite_master WHERE type='table'"
                )
            }
        except sqlite3.DatabaseError as exc:
            raise CatalogError(f"{db_path}: not a readable SQLite index database: {exc}") from None
        required = {"package", "channel", "channel_entry", "operatorbundle"}
        if not required <= tables.keys():
            raise CatalogError(
                f"{db_path}: not an operator-registry index database (missing tables "
                f"{', '.join(sorted(required - tables.keys()))})"
            )
        for table in sorted(_READ_TABLES & tables.keys()):
            self._refuse_computed(table, tables[table])
        self._tables = set(tables)
        self._summaries: dict[str, PackageSummary] = {}
        self._load_graph()

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()

    def _refuse_computed(self, table: str, sql: str) -> None:
        """A table this reads must hold data only: no virtual table, no generated column
        (an expression evaluated on every read: ``hex(zeroblob(1e8))`` took 1.4 GiB)."""
        if re.match(r"\s*CREATE\s+VIRTUAL\b", sql, re.IGNORECASE):
            raise CatalogError(f"{self.db_path}: table {table} is a virtual table (refused)")
        generated = [
            str(row[1])
            for row in self._rows(f'SELECT * FROM pragma_table_xinfo("{table}")')
            if row[6] in (2, 3)
        ]
        if generated:
            raise CatalogError(
                f"{self.db_path}: table {table} has generated columns (refused): "
                f"{', '.join(generated[:5])}"
            )

    def _rows(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        self._deadline = time.monotonic() + limits.MAX_SQLITE_QUERY_SECONDS
        try:
            return list(self._db.execute(sql, args))
        except sqlite3.DatabaseError as exc:
            if time.monotonic() > self._deadline:
                raise CatalogError(
                    f"{self.db_path}: a query took longer than "
                    f"{limits.MAX_SQLITE_QUERY_SECONDS} seconds (refused)"
                ) from None
            raise CatalogError(f"{self.db_path}: query failed: {exc}") from None

    def _load_graph(self) -> None:
        self._packages: dict[str, str | None] = {
            name: default
            for name, default in self._rows("SELECT name, default_channel FROM package")
            if name is not None
        }
        self._channels: dict[str, dict[str, str | None]] = {}
        for name, package, head in self._rows(
            "SELECT name, package_name, head_operatorbundle_name FROM channel"
        ):
            self._channels.setdefault(package, {})[name] = head
        entries = [
            _Entry(*row)
            for row in self._rows(
                "SELECT entry_id, channel_name, package_name, operatorbundle_name, replaces, depth "
                "FROM channel_entry ORDER BY entry_id"
            )
        ]
        self._entries = {e.entry_id: e for e in entries}
        depths = [e.depth for e in entries if e.depth is not None]
        chain: set[int] = set()
        if depths:
            tip = min(depths)
            frontier = [e.entry_id for e in entries if e.depth == tip]
            while frontier:
                entry_id = frontier.pop()
                if entry_id in chain:
                    continue
                chain.add(entry_id)
                replaced = self._entries[entry_id].replaces if entry_id in self._entries else None
                if replaced is not None:
                    frontier.append(replaced)
        self._chain = chain
        self._by_package: dict[str, list[_Entry]] = {}
        for entry in entries:
            self._by_package.setdefault(entry.package, []).append(entry)

    def package_names(self) -> list[str]:
        """Packages of the database (``package`` rows), sorted."""
        return sorted(self._packages)

    def summary(self, name: str) -> PackageSummary | None:
        """Summary of a package (computed by converting it once)."""
        if name not in self._summaries:
            docs = self.load_package(name)
            if docs is None:
                return None
        return self._summaries.get(name)

    def iter_packages(self) -> Iterator[PackageDocs]:
        """Every package, converted one at a time."""
        for name in self.package_names():
            docs = self.load_package(name)
            if docs is not None:
                yield docs

    def _bundle_rows(self, names: set[str]) -> dict[str, tuple[Any, ...]]:
        out: dict[str, tuple[Any, ...]] = {}
        ordered = sorted(names)
        for i in range(0, len(ordered), 500):
            chunk = ordered[i : i + 500]
            marks = ",".join("?" * len(chunk))
            for row in self._rows(
                "SELECT name, csv, bundle, bundlepath, version, skiprange FROM operatorbundle "
                f"WHERE name IN ({marks})",
                *chunk,
            ):
                out.setdefault(row[0], row)
        return out

    def _typed_rows(self, table: str, names: set[str]) -> dict[str, list[tuple[str, str]]]:
        out: dict[str, list[tuple[str, str]]] = {}
        if table not in self._tables:
            return out
        ordered = sorted(names)
        for i in range(0, len(ordered), 500):
            chunk = ordered[i : i + 500]
            marks = ",".join("?" * len(chunk))
            for bundle, typ, value in self._rows(
                f"SELECT operatorbundle_name, type, value FROM {table} "
                f"WHERE operatorbundle_name IN ({marks}) ORDER BY rowid",
                *chunk,
            ):
                if typ is None or value is None:
                    continue
                rows = out.setdefault(bundle, [])
                if (str(typ), str(value)) not in rows:
                    rows.append((str(typ), str(value)))
        return out

    def _related_rows(self, names: set[str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        if "related_image" not in self._tables:
            return out
        ordered = sorted(names)
        for i in range(0, len(ordered), 500):
            chunk = ordered[i : i + 500]
            marks = ",".join("?" * len(chunk))
            for image, bundle in self._rows(
                f"SELECT image, operatorbundle_name FROM related_image "
                f"WHERE operatorbundle_name IN ({marks}) ORDER BY rowid",
                *chunk,
            ):
                if image is not None and bundle is not None:
                    out.setdefault(bundle, []).append(image)
        return out

    def load_package(self, name: str) -> PackageDocs | None:
        """Convert one package of the database to FBC documents (validated if enabled)."""
        if name not in self._packages:
            return None
        channels = self._channels.get(name, {})
        if not channels:
            raise CatalogError(f"package {name} not found")
        entries = self._by_package.get(name, [])
        names = {e.bundle for e in entries if e.bundle is not None}
        rows = self._bundle_rows(names)
        props = self._typed_rows("properties", names)
        deps = self._typed_rows("dependencies", names)
        related = self._related_rows(names)

        groups: dict[tuple[str, str], list[_Entry]] = {}
        for entry in entries:
            groups.setdefault((entry.bundle, entry.channel), []).append(entry)
        objects_cache: dict[str, tuple[list[str], str]] = {}
        model_channels: dict[str, dict[str, tuple[ChannelEntry, Bundle]]] = {
            ch: {} for ch in channels
        }
        for (bundle_name, channel_name), group in sorted(groups.items()):
            row = rows.get(bundle_name)
            if row is None or channel_name is None:
                continue
            _, csv_text, bundle_text, bundlepath, version, skiprange = row
            if version is None or bundlepath is None:
                continue
            bundle_props = props.get(bundle_name, [])
            if any(t == PROP_DEPRECATED for t, _ in bundle_props):
                continue
            if channel_name not in model_channels:
                raise CatalogError(f'unknown channel "{channel_name}" for bundle "{bundle_name}"')
            replaced_names = [
                self._entries[e.replaces].bundle
                for e in group
                if e.entry_id in self._chain
                and e.replaces is not None
                and e.replaces in self._entries
            ]
            skip_names = [
                self._entries[e.replaces].bundle
                for e in sorted(group, key=lambda g: g.entry_id)
                if e.entry_id not in self._chain
                and e.replaces is not None
                and e.replaces in self._entries
            ]
            if bundle_name not in objects_cache:
                objects: list[str] = []
                csv_json = ""
                if bundle_text:
                    objects = _split_objects(str(bundle_text), bundle_name)
                    for obj in objects:
                        parsed = _loads(obj, f"bundle {bundle_name!r} object")
                        if (
                            isinstance(parsed, dict)
                            and parsed.get("kind") == "ClusterServiceVersion"
                        ):
                            csv_json = obj
                            break
                    if not csv_json:
                        raise CatalogError(f"convert bundle {bundle_name!r}: no csv in bundle")
                objects_cache[bundle_name] = (objects, csv_json)
            objects, csv_json = objects_cache[bundle_name]
            bundle = self._model_bundle(
                name,
                bundle_name,
                str(bundlepath),
                str(version),
                bundle_props,
                deps.get(bundle_name, []),
                objects,
                csv_json,
                related.get(bundle_name, []),
            )
            fbc_entry = ChannelEntry(
                bundle_name,
                max((n for n in replaced_names if n is not None), default=""),
                [n for n in skip_names if n is not None],
                str(skiprange or ""),
            )
            model_channels[channel_name][bundle_name] = (fbc_entry, bundle)

        default = self._packages[name] or ""
        docs = PackageDocs(name)
        package = Package(name, default if default in channels else "")
        docs.packages = [package]
        seen_bundles: dict[str, Bundle] = {}
        for channel_name in sorted(model_channels):
            members = model_channels[channel_name]
            docs.channels.append(
                Channel(channel_name, name, [members[n][0] for n in sorted(members)])
            )
            for bundle_name, (_, bundle) in members.items():
                seen_bundles.setdefault(bundle_name, bundle)
        docs.bundles = [seen_bundles[n] for n in sorted(seen_bundles)]
        if default in channels:
            package.icon = self._icon(name, channels[default])
        elif default:
            package.default_channel = default
        if self.csv_metadata:
            for bundle in docs.bundles:
                csv_json = objects_cache.get(bundle.name, ([], ""))[1]
                if csv_json:
                    convert_to_csv_metadata(bundle, _loads(csv_json, f"CSV of {bundle.name!r}"))
        if self.validate:
            problem = validate_package(docs, self.options)
            if problem is not None:
                root = Problem("invalid index", [problem])
                raise CatalogValidationError(render_tree(root), root.leaves())
        self._summaries[name] = PackageSummary.of(docs)
        return docs

    def _model_bundle(
        self,
        package: str,
        name: str,
        image: str,
        version: str,
        props: list[tuple[str, str]],
        deps: list[tuple[str, str]],
        objects: list[str],
        csv_json: str,
        related_rows: list[str],
    ) -> Bundle:
        out: list[Property] = []
        provided: dict[tuple[str, str, str], None] = {}
        required: dict[tuple[str, str, str], None] = {}
        found_package = False
        for typ, raw in props:
            value = _loads(raw, f"property {typ!r} of bundle {name!r}")
            if typ == PROP_GVK:
                gvk = value if isinstance(value, dict) else {}
                provided[
                    (
                        str(gvk.get("group", "")),
                        str(gvk.get("kind", "")),
                        str(gvk.get("version", "")),
                    )
                ] = None
            elif typ == PROP_PACKAGE:
                found_package = True
                out.append(Property(PROP_PACKAGE, value))
            else:
                out.append(Property(typ, value))
        for typ, raw in deps:
            value = _loads(raw, f"dependency {typ!r} of bundle {name!r}")
            obj = value if isinstance(value, dict) else {}
            if typ == PROP_GVK:
                required[
                    (
                        str(obj.get("group", "")),
                        str(obj.get("kind", "")),
                        str(obj.get("version", "")),
                    )
                ] = None
            elif typ == PROP_PACKAGE:
                out.append(
                    Property(
                        PROP_PACKAGE_REQUIRED,
                        {
                            "packageName": str(obj.get("packageName", "")),
                            "versionRange": str(obj.get("version", "")),
                        },
                    )
                )
        if not found_package:
            out.append(Property(PROP_PACKAGE, {"packageName": package, "version": version}))
        out.extend(Property(PROP_GVK, gvk_value(g, v, k)) for g, k, v in provided)
        out.extend(Property(PROP_GVK_REQUIRED, gvk_value(g, v, k)) for g, k, v in required)
        out.extend(
            Property(
                PROP_BUNDLE_OBJECT, {"data": base64.b64encode(o.encode("utf-8")).decode("ascii")}
            )
            for o in objects
        )
        related: list[RelatedImage] = []
        if csv_json:
            csv = _loads(csv_json, f"CSV of bundle {name!r}")
            spec = csv.get("spec") if isinstance(csv, dict) else None
            for item in (spec or {}).get("relatedImages") or [] if isinstance(spec, dict) else []:
                if isinstance(item, dict):
                    related.append(
                        RelatedImage(str(item.get("name") or ""), str(item.get("image") or ""))
                    )
        listed = {r.image for r in related}
        for image_ref in dict.fromkeys(related_rows):
            if image_ref not in listed:
                related.append(RelatedImage("", image_ref))
                listed.add(image_ref)
        related.sort(key=lambda r: r.image.encode("utf-8"))
        return Bundle(
            name=name,
            package=package,
            image=image,
            properties=canonical_properties(out),
            related_images=related,
        )

    def _icon(self, package: str, head: str | None) -> Icon | None:
        if not head:
            return None
        rows = self._rows("SELECT csv FROM operatorbundle WHERE name = ?", head)
        csv_text = rows[0][0] if rows else None
        if not csv_text:
            raise CatalogError(
                f"populate package icons: unmarshal CSV json for bundle {head!r}: unexpected end "
                "of JSON input"
            )
        csv = _loads(str(csv_text), f"CSV of bundle {head!r}")
        spec = csv.get("spec") if isinstance(csv, dict) else None
        icons = spec.get("icon") if isinstance(spec, dict) else None
        if not isinstance(icons, list) or not icons or not isinstance(icons[0], dict):
            return None
        data = str(icons[0].get("base64data") or "")
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            try:
                raw = base64.b64decode(data.replace(" ", ""), validate=True)
            except (binascii.Error, ValueError):
                return None
        if not raw:
            return None
        del package
        return Icon(base64.b64encode(raw).decode("ascii"), str(icons[0].get("mediatype") or ""))


def load_sqlite_index(
    db_path: Path,
    *,
    csv_metadata: bool = False,
    validate: bool = True,
    options: ValidationOptions | None = None,
) -> SqliteCatalog:
    """Open a legacy ``index.db`` read-only as a catalog view (packages converted lazily).

    ``csv_metadata=True`` converts bundle objects to ``olm.csv.metadata`` as opm migrate does
    from 1.30 to 1.45 and with ``--migrate-level bundle-object-to-csv-metadata`` after 1.46.
    Write it out with :func:`~.directory.write_catalog`.
    """
    return SqliteCatalog(db_path, csv_metadata=csv_metadata, validate=validate, options=options)
