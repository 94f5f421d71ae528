"""Loading catalog directories (opm rules) and writing packages byte-stably."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from services.catalog import (
    CatalogChanges,
    CatalogDir,
    Other,
    PackageDocs,
    list_catalog_files,
    write_catalog,
)
from services.catalog.indexignore import IgnoreMatcher
from services.catalog.write import encode_package
from services.common.errors import CatalogError

from .conftest import assert_golden, catalog_of, digest

IMG = "quay.io/ns/foo-bundle@" + digest("foo")

PACKAGE = {"schema": "olm.package", "name": "foo", "defaultChannel": "stable"}
CHANNEL = {
    "schema": "olm.channel",
    "name": "stable",
    "package": "foo",
    "entries": [{"name": "foo.v0.2.0", "replaces": "foo.v0.1.0"}, {"name": "foo.v0.1.0"}],
}


def _bundle(name: str, version: str) -> dict[str, object]:
    return {
        "schema": "olm.bundle",
        "name": name,
        "package": "foo",
        "image": IMG.replace(digest("foo"), digest(name)),
        "properties": [
            {"type": "olm.package", "value": {"packageName": "foo", "version": version}},
            {"type": "olm.custom", "value": {"z": 1, "a": [1.5, "<&>"]}},
        ],
    }


def _write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def yaml_catalog(tmp_path: Path) -> Path:
    root = tmp_path / "configs"
    _write(root, "foo/package.yaml", "schema: olm.package\nname: foo\ndefaultChannel: stable\n")
    _write(
        root,
        "foo/channels.yaml",
        "---\nschema: olm.channel\nname: stable\npackage: foo\nentries:\n"
        "  - name: foo.v0.2.0\n    replaces: foo.v0.1.0\n  - name: foo.v0.1.0\n",
    )
    _write(
        root,
        "foo/bundles.json",
        json.dumps(_bundle("foo.v0.1.0", "0.1.0"))
        + "\n"
        + json.dumps(_bundle("foo.v0.2.0", "0.2.0")),
    )
    _write(root, "foo/notes.json", '{"schema": "acme.note", "package": "foo", "text": "b", "a": 1}')
    _write(
        root,
        "bar/catalog.json",
        json.dumps({"schema": "olm.package", "name": "bar", "defaultChannel": "x"}),
    )
    _write(root, "README.md", "not a catalog\n")
    _write(root, ".indexignore", "*.md\n")
    return root


def test_open_indexes_packages_without_loading_them(yaml_catalog: Path) -> None:
    catalog = CatalogDir.open(yaml_catalog)
    assert catalog.package_names() == ["bar", "foo"]
    assert catalog.files_of("foo") == [
        "foo/bundles.json",
        "foo/channels.yaml",
        "foo/notes.json",
        "foo/package.yaml",
    ]
    summary = catalog.summary("foo")
    assert summary is not None
    assert [(b.name, b.version) for b in summary.bundles] == [
        ("foo.v0.1.0", "0.1.0"),
        ("foo.v0.2.0", "0.2.0"),
    ]
    assert summary.edge_names == {"foo.v0.1.0", "foo.v0.2.0"}


def test_indexignore_skips_matching_files(yaml_catalog: Path) -> None:
    assert "README.md" not in list_catalog_files(yaml_catalog)


def test_writing_a_package_produces_opm_json_golden(yaml_catalog: Path) -> None:
    catalog = CatalogDir.open(yaml_catalog)
    docs = catalog.load_package("foo")
    assert docs is not None
    catalog.write_package(docs)
    written = (yaml_catalog / "foo" / "catalog.json").read_bytes()
    assert_golden("write/foo-catalog.json", written)
    # The YAML/JSON source files of the package were replaced by the canonical file.
    assert sorted(p.name for p in (yaml_catalog / "foo").iterdir()) == ["catalog.json"]


def test_written_form_is_indented_unescaped_and_ordered(yaml_catalog: Path) -> None:
    catalog = CatalogDir.open(yaml_catalog)
    docs = catalog.load_package("foo")
    assert docs is not None
    text = encode_package(docs).decode()
    assert '"value": "<&>"' not in text  # the value is a list element
    assert '"<&>"' in text and "\\u003c" not in text
    assert text.startswith('{\n    "schema": "olm.package",\n    "name": "foo",\n')
    schemas = [
        json.loads(chunk)["schema"] for chunk in text.split("\n}\n")[:-1] for chunk in [chunk + "}"]
    ]
    assert schemas == ["olm.package", "olm.channel", "olm.bundle", "olm.bundle", "acme.note"]


def test_unknown_schema_is_written_back_verbatim(yaml_catalog: Path) -> None:
    catalog = CatalogDir.open(yaml_catalog)
    docs = catalog.load_package("foo")
    assert docs is not None
    notes = [o for o in docs.others if isinstance(o, Other)]
    assert notes[0].blob == {"schema": "acme.note", "package": "foo", "text": "b", "a": 1}
    catalog.write_package(docs)
    reloaded = CatalogDir.open(yaml_catalog).load_package("foo")
    assert reloaded is not None
    assert reloaded.others[0].blob == notes[0].blob


def test_untouched_packages_keep_their_bytes(yaml_catalog: Path) -> None:
    before = (yaml_catalog / "bar" / "catalog.json").read_bytes()
    catalog = CatalogDir.open(yaml_catalog)
    docs = catalog.load_package("foo")
    assert docs is not None
    catalog.write_package(docs)
    assert (yaml_catalog / "bar" / "catalog.json").read_bytes() == before


def test_rewriting_is_idempotent(yaml_catalog: Path, tmp_path: Path) -> None:
    first = tmp_path / "first"
    second = tmp_path / "second"
    write_catalog(CatalogDir.open(yaml_catalog), first)
    write_catalog(CatalogDir.open(first), second)
    for rel in ["foo/catalog.json", "bar/catalog.json"]:
        assert (first / rel).read_bytes() == (second / rel).read_bytes()


def test_mixed_file_is_rewritten_without_the_changed_package(tmp_path: Path) -> None:
    root = tmp_path / "configs"
    docs = [PACKAGE, {"schema": "olm.package", "name": "bar", "defaultChannel": "x"}]
    _write(root, "index.json", "\n".join(json.dumps(d) for d in docs))
    catalog = CatalogDir.open(root)
    catalog.remove_package("foo")
    remaining = [
        json.loads(line)
        for line in (root / "index.json").read_text().split("\n}\n")
        if line.strip()
        for line in [line if line.endswith("}") else line + "}"]
    ]
    assert [d["name"] for d in remaining] == ["bar"]
    assert CatalogDir.open(root).package_names() == ["bar"]


def test_removing_a_package_deletes_its_directory_and_deprecations(tmp_path: Path) -> None:
    root = tmp_path / "configs"
    _write(root, "foo/catalog.json", json.dumps(PACKAGE))
    _write(root, "foo/extra.txt.ignored", "kept?")
    _write(root, ".indexignore", "*.ignored\n")
    _write(
        root,
        "_operator-deprecations-content/foo/foo.json",
        json.dumps({"schema": "olm.deprecations", "package": "foo", "entries": []}),
    )
    _write(
        root,
        "_operator-deprecations-content/bar/bar.json",
        json.dumps({"schema": "olm.deprecations", "package": "bar", "entries": []}),
    )
    catalog = CatalogDir.open(root)
    catalog.remove_package("foo")
    assert not (root / "foo").exists()
    assert not (root / "_operator-deprecations-content" / "foo").exists()
    assert (root / "_operator-deprecations-content" / "bar" / "bar.json").exists()


def test_deprecation_files_are_kept_verbatim_when_package_changes(tmp_path: Path) -> None:
    root = tmp_path / "configs"
    _write(root, "foo/catalog.json", json.dumps(PACKAGE) + json.dumps(CHANNEL))
    content = '{"schema": "olm.deprecations", "package": "foo", "entries": []}'
    _write(root, "_operator-deprecations-content/foo/foo.json", content)
    catalog = CatalogDir.open(root)
    docs = catalog.load_package("foo")
    assert docs is not None
    assert docs.deprecations[0].origin == "_operator-deprecations-content/foo/foo.json"
    catalog.write_package(docs)
    assert (root / "_operator-deprecations-content/foo/foo.json").read_text() == content
    assert "olm.deprecations" not in (root / "foo/catalog.json").read_text()


def test_missing_schema_is_an_error_naming_the_file(tmp_path: Path) -> None:
    root = tmp_path / "configs"
    _write(root, "foo/catalog.json", '{"name": "foo"}')
    with pytest.raises(
        CatalogError,
        match=r"foo/catalog\.json \(document 1\): object .* is missing root schema field",
    ):
        CatalogDir.open(root)


def test_wrong_field_type_is_an_error_naming_file_and_field(tmp_path: Path) -> None:
    root = tmp_path / "configs"
    _write(root, "foo/catalog.json", json.dumps({**PACKAGE, "defaultChannel": 3}))
    catalog = CatalogDir.open(root)
    with pytest.raises(
        CatalogError,
        match=r"foo/catalog\.json \(document 1\): olm\.package field 'defaultChannel' must be a string",
    ):
        catalog.load_package("foo")


def test_oversized_catalog_file_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "configs"
    _write(root, "foo/catalog.json", json.dumps(PACKAGE) + " " * 5000)
    with pytest.raises(CatalogError, match="larger than the 1024-byte limit"):
        CatalogDir.open(root, max_file_bytes=1024)


def test_symlinks_are_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "secret.json"
    outside.write_text(json.dumps(PACKAGE))
    root = tmp_path / "configs"
    root.mkdir()
    (root / "link.json").symlink_to(outside)
    assert CatalogDir.open(root).package_names() == []


def test_apply_writes_only_changed_packages(tmp_path: Path) -> None:
    source = catalog_of("keda", "redis-operator")
    root = tmp_path / "configs"
    write_catalog(source, root)
    before = (root / "redis-operator/catalog.json").stat().st_mtime_ns
    catalog = CatalogDir.open(root)
    docs = catalog.load_package("keda")
    assert docs is not None
    docs.packages[0].description = "changed"
    changes = CatalogChanges()
    changes.set("keda", docs)
    catalog.apply(changes)
    assert (root / "redis-operator/catalog.json").stat().st_mtime_ns == before
    reloaded = CatalogDir.open(root).load_package("keda")
    assert reloaded is not None and reloaded.packages[0].description == "changed"


def test_invalid_package_name_cannot_escape_the_catalog(tmp_path: Path) -> None:
    catalog = CatalogDir.open(tmp_path)
    with pytest.raises(CatalogError, match="must be a single local path element"):
        catalog.write_package(PackageDocs("../evil"))


@pytest.mark.parametrize(
    ("patterns", "path", "ignored"),
    [
        ("*.md", "a/b/README.md", True),
        ("*.md\n!keep.md", "keep.md", False),
        ("/top.json", "top.json", True),
        ("/top.json", "sub/top.json", False),
        ("docs/", "docs/x.json", True),
        ("docs/", "docs", False),
        ("a/**/z.json", "a/b/c/z.json", True),
        ("[^x]*.yaml", "y.yaml", True),
        ("[^x]*.yaml", "x.yaml", False),
        ("# comment", "# comment", False),
    ],
)
def test_indexignore_patterns_follow_gitignore_rules(
    patterns: str, path: str, ignored: bool
) -> None:
    matcher = IgnoreMatcher()
    matcher.add_file("", patterns)
    assert matcher.ignored(path) is ignored


def test_nested_indexignore_is_scoped_to_its_directory() -> None:
    matcher = IgnoreMatcher()
    matcher.add_file("sub", "*.json")
    assert matcher.ignored("sub/a.json")
    assert not matcher.ignored("a.json")
    assert matcher.ignored("x/.indexignore")


def test_single_file_catalog_is_parsed_once_per_iteration(tmp_path: Path) -> None:
    root = tmp_path / "configs"
    docs: list[dict[str, object]] = []
    for i in range(5):
        docs.append({"schema": "olm.package", "name": f"p{i}", "defaultChannel": "c"})
        docs.append(
            {
                "schema": "olm.channel",
                "name": "c",
                "package": f"p{i}",
                "entries": [{"name": f"p{i}.v1"}],
            }
        )
    _write(root, "index.json", "\n".join(json.dumps(d) for d in docs))
    catalog = CatalogDir.open(root)
    names = []
    for package in catalog.iter_packages():
        names.append(package.name)
        # Were the shared file read again for the next package, this would fail.
        (root / "index.json").unlink(missing_ok=True)
    assert sorted(names) == [f"p{i}" for i in range(5)]


def _index_of(catalog: CatalogDir) -> list[object]:
    names = catalog.package_names()
    return [names, catalog.files(), [(n, catalog.files_of(n), catalog.summary(n)) for n in names]]


def _linked_copy(source: Path, dest: Path) -> None:
    for path in sorted(source.rglob("*")):
        target = dest / path.relative_to(source)
        if path.is_dir():
            target.mkdir(parents=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(path, target)


def test_remembered_open_of_a_linked_copy_matches_a_fresh_scan(
    yaml_catalog: Path, tmp_path: Path
) -> None:
    # the index builder opens hard-linked copies of its states with remember=True; the index
    # must be the one a plain scan of the same files gives (the oracle: open without memory)
    write_catalog(catalog_of("keda", "redis-operator"), tmp_path / "more")
    for path in (tmp_path / "more").iterdir():
        shutil.copytree(path, yaml_catalog / path.name)
    first = CatalogDir.open(yaml_catalog, remember=True)
    _linked_copy(yaml_catalog, tmp_path / "linked")
    recalled = CatalogDir.open(tmp_path / "linked", remember=True)
    shutil.copytree(yaml_catalog, tmp_path / "copied")
    fresh = CatalogDir.open(tmp_path / "copied")
    assert _index_of(recalled) == _index_of(fresh) == _index_of(first)
    assert recalled.load_package("keda") == fresh.load_package("keda")


def test_remembered_open_sees_replaced_files_and_keeps_the_size_bound(tmp_path: Path) -> None:
    root = tmp_path / "configs"
    _write(root, "foo/catalog.json", json.dumps(PACKAGE))
    assert CatalogDir.open(root, remember=True).package_names() == ["foo"]
    # replaced (a new file, same size, same path), as CatalogDir.apply replaces files
    replacement = root / "foo/.catalog.json.tmp"
    replacement.write_text(json.dumps({**PACKAGE, "name": "bar"}))
    os.replace(replacement, root / "foo/catalog.json")
    assert CatalogDir.open(root, remember=True).package_names() == ["bar"]
    with pytest.raises(CatalogError, match="larger than the 16-byte limit"):
        CatalogDir.open(root, max_file_bytes=16, remember=True)
