"""Finding the bundles of a community-operators tree, converting package manifests to bundles.

The tree is ``<root>/<package>/<version>/...`` (``upstream-community-operators/`` of
operator-framework/community-operators). A package with a ``*.package.yaml`` uses the older
package-manifest layout: each version directory holds the manifests directly. Such versions
are converted the way ``opm alpha bundle generate --directory <version> --output-dir <out>``
does when channels and package are not given (operator-registry ``pkg/lib/bundle/generate.go``
and ``interpreter.go``, ``pkg/registry/directoryGraphLoader.go``):

* ``manifests/`` = the regular files of the version directory (sub-directories are not part of
  the bundle: the bundle parser skips them);
* the package manifest is the first file of the package directory (name order) that decodes
  to a ``PackageManifest`` with a ``packageName``;
* every version directory must hold exactly one CSV (``ReadCSVFromBundleDirectory``: the first
  document of each file; more than one CSV is an error for the whole package);
* a channel contains a CSV when the CSV is reachable from the channel's ``currentCSV`` over
  ``replaces`` and ``skips`` (``olm.skipRange`` does not count); a version in no channel cannot
  be converted (``error interpreting channels``);
* ``metadata/annotations.yaml`` = mediatype ``registry+v1``, ``manifests/``, ``metadata/``,
  the package name, the sorted channel names joined by ``,`` and the default channel (the
  package manifest's ``defaultChannel``, or its only channel), keys sorted.

This is test tooling: it shares nothing with ``services.catalog`` (it reads YAML with the
oracle's loader).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .oracle import load_first_document

__all__ = [
    "CorpusBundle",
    "ConversionProblem",
    "collect_bundles",
    "convert_package",
    "extract_corpus",
    "packages_root",
    "semver_key",
]

#: The community-operators mirror (``$IIB_CORPUS_MIRROR`` overrides) and its corpus directory.
DEFAULT_MIRROR = Path(
    os.environ.get("IIB_CORPUS_MIRROR", "/work/.mirror/operator-framework+community-operators/repo")
)
CORPUS_DIR = "upstream-community-operators"

LAYOUT_BUNDLE = "bundle"
LAYOUT_PACKAGE_MANIFEST = "package-manifest"


@dataclass(frozen=True, slots=True)
class CorpusBundle:
    """One bundle of the corpus: where it came from and the directory to render."""

    package: str
    source: str  # "<package>/<version>" relative to the packages root
    root: Path  # a directory with manifests/ and metadata/
    layout: str  # LAYOUT_BUNDLE or LAYOUT_PACKAGE_MANIFEST


@dataclass(frozen=True, slots=True)
class ConversionProblem:
    """A package-manifest version that ``opm alpha bundle generate`` could not convert."""

    source: str
    reason: str


def extract_corpus(mirror: Path, dest: Path) -> str:
    """``git archive HEAD upstream-community-operators`` of a mirror into ``dest``; the commit."""
    commit = subprocess.run(
        ["git", "-C", str(mirror), "rev-parse", "HEAD"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    archive = subprocess.run(
        ["git", "-C", str(mirror), "archive", "--format=tar", commit, CORPUS_DIR],
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")
    return commit


def packages_root(path: Path) -> Path:
    """The directory holding the packages: ``path/upstream-community-operators`` or ``path``."""
    nested = path / "upstream-community-operators"
    return nested if nested.is_dir() else path


def _sorted_entries(directory: Path) -> list[os.DirEntry[str]]:
    return sorted(os.scandir(directory), key=lambda e: e.name.encode("utf-8"))


def is_package_manifest_package(package_dir: Path) -> bool:
    """Whether a package directory uses the package-manifest layout."""
    return any(
        e.is_file() and e.name.endswith((".package.yaml", ".package.yml"))
        for e in os.scandir(package_dir)
    )


def _csv_of_version_dir(version_dir: Path) -> dict[str, Any]:
    """``ReadCSVFromBundleDirectory``: the one CSV among the first documents of the files."""
    found: dict[str, Any] | None = None
    for entry in _sorted_entries(version_dir):
        if entry.is_dir():
            continue
        try:
            doc = load_first_document(Path(entry.path))
        except Exception:
            continue
        if not isinstance(doc, dict) or doc.get("kind") != "ClusterServiceVersion":
            continue
        if found is not None:
            raise ValueError("more than one ClusterServiceVersion is found in bundle")
        found = doc
    if found is None:
        raise ValueError(f"no ClusterServiceVersion object found in {version_dir.name}")
    return found


def _package_manifest(package_dir: Path) -> dict[str, Any]:
    """The first file of the package directory that decodes to a ``PackageManifest``."""
    for entry in _sorted_entries(package_dir):
        if entry.is_dir():
            continue
        try:
            doc = load_first_document(Path(entry.path))
        except Exception:
            continue
        if not isinstance(doc, dict):
            continue
        name = doc.get("packageName")
        channels = doc.get("channels")
        if not isinstance(name, str) or not name:
            continue
        if channels is not None and not isinstance(channels, list):
            continue
        return doc
    raise ValueError(f"valid PackageManifest YAML file not found in {package_dir.name}")


def _edges(csv: dict[str, Any]) -> list[str]:
    spec = csv.get("spec") if isinstance(csv.get("spec"), dict) else {}
    assert isinstance(spec, dict)
    out: list[str] = []
    skips = spec.get("skips")
    if isinstance(skips, list) and all(isinstance(s, str) for s in skips):
        out.extend(skips)
    replaces = spec.get("replaces")
    if isinstance(replaces, str) and replaces:
        out.append(replaces)
    return out


def _channel_members(head: str, edges: dict[str, list[str]]) -> set[str]:
    members = {head}
    todo = [head]
    while todo:
        for target in edges.get(todo.pop(), []):
            if target not in members:
                members.add(target)
                todo.append(target)
    return members


def _annotations_yaml(package: str, channels: str, default: str) -> str:
    annotations = {
        "operators.operatorframework.io.bundle.channels.v1": channels,
        "operators.operatorframework.io.bundle.manifests.v1": "manifests/",
        "operators.operatorframework.io.bundle.mediatype.v1": "registry+v1",
        "operators.operatorframework.io.bundle.metadata.v1": "metadata/",
        "operators.operatorframework.io.bundle.package.v1": package,
    }
    if default:
        annotations["operators.operatorframework.io.bundle.channel.default.v1"] = default
    return yaml.safe_dump({"annotations": annotations}, sort_keys=True, default_flow_style=False)


def convert_package(
    package_dir: Path, out_dir: Path
) -> tuple[list[CorpusBundle], list[ConversionProblem]]:
    """Convert every version of a package-manifest package into ``out_dir/<version>/``."""
    package = package_dir.name
    versions = [Path(e.path) for e in _sorted_entries(package_dir) if e.is_dir()]
    try:
        csvs = {v.name: _csv_of_version_dir(v) for v in versions}
        manifest = _package_manifest(package_dir)
    except ValueError as exc:
        return [], [ConversionProblem(f"{package}/{v.name}", str(exc)) for v in versions]
    edges: dict[str, list[str]] = {}
    for csv in csvs.values():
        name = (csv.get("metadata") or {}).get("name")
        if isinstance(name, str):
            edges[name] = _edges(csv)
    channel_members: dict[str, set[str]] = {}
    for channel in manifest.get("channels") or []:
        if isinstance(channel, dict) and isinstance(channel.get("name"), str):
            head = channel.get("currentCSV")
            channel_members[channel["name"]] = _channel_members(
                head if isinstance(head, str) else "", edges
            )
    default = manifest.get("defaultChannel")
    if not isinstance(default, str) or not default:
        default = next(iter(channel_members)) if len(channel_members) == 1 else ""
    package_name = str(manifest["packageName"])

    bundles: list[CorpusBundle] = []
    problems: list[ConversionProblem] = []
    for version_dir in versions:
        source = f"{package}/{version_dir.name}"
        csv_name = (csvs[version_dir.name].get("metadata") or {}).get("name")
        channels = sorted(
            (c for c, members in channel_members.items() if csv_name in members),
            key=lambda c: c.encode("utf-8"),
        )
        if not channels:
            problems.append(
                ConversionProblem(
                    source,
                    "error interpreting channels (the CSV is in no channel of the package "
                    "manifest)",
                )
            )
            continue
        target = out_dir / version_dir.name
        (target / "manifests").mkdir(parents=True, exist_ok=True)
        (target / "metadata").mkdir(exist_ok=True)
        for entry in _sorted_entries(version_dir):
            if entry.is_file():
                shutil.copyfile(entry.path, target / "manifests" / entry.name)
        (target / "metadata" / "annotations.yaml").write_text(
            _annotations_yaml(package_name, ",".join(channels), default), encoding="utf-8"
        )
        bundles.append(CorpusBundle(package, source, target, LAYOUT_PACKAGE_MANIFEST))
    return bundles, problems


def collect_bundles(
    root: Path, scratch: Path
) -> tuple[list[CorpusBundle], list[ConversionProblem]]:
    """Every bundle under ``root`` (packages in name order), converting into ``scratch``."""
    bundles: list[CorpusBundle] = []
    problems: list[ConversionProblem] = []
    for entry in _sorted_entries(root):
        if not entry.is_dir() or entry.name.startswith("."):
            continue
        package_dir = Path(entry.path)
        if is_package_manifest_package(package_dir):
            found, failed = convert_package(package_dir, scratch / entry.name)
            bundles.extend(found)
            problems.extend(failed)
            continue
        for version in _sorted_entries(package_dir):
            if version.is_dir():
                bundles.append(
                    CorpusBundle(
                        entry.name,
                        f"{entry.name}/{version.name}",
                        Path(version.path),
                        LAYOUT_BUNDLE,
                    )
                )
    return bundles, problems


_SEMVER = re.compile(
    r"^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$"
)


def semver_key(version: str) -> tuple[Any, ...]:
    """Semantic-version order (pre-releases before releases); unparsable versions last."""
    match = _SEMVER.match(version)
    if not match:
        return (1, version)
    pre = match.group(4)
    pre_key: tuple[Any, ...] = (1,)
    if pre:
        pre_key = (0, *((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split(".")))
    return (0, int(match.group(1)), int(match.group(2)), int(match.group(3)), pre_key)
