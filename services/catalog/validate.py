"""``opm validate``: conversion checks and model validation, every problem collected.

opm converts the catalog to its model (``declcfg.ConvertToModel``), aborting at the first
conversion error, then validates the model and reports all model problems as a tree
(``invalid index:`` / ``└── invalid package "p":`` ...). Here both kinds of problem are
collected for every package, package by package, and reported in one tree: conversion
problems appear under the package they concern with opm's wording. Map iteration in opm is
unordered; here packages, channels and bundles are reported in name order.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from services.common.errors import CatalogValidationError
from services.common.reference import image_reference_error

from . import semver
from .codec import Doc
from .graph import replaces_chain_error
from .model import (
    PROP_BUNDLE_OBJECT,
    PROP_GVK,
    PROP_GVK_REQUIRED,
    PROP_PACKAGE,
    PROP_PACKAGE_REQUIRED,
    SCHEMA_BUNDLE,
    SCHEMA_CHANNEL,
    SCHEMA_PACKAGE,
    Bundle,
    ChannelEntry,
    PackageDocs,
)
from .views import CatalogView, iter_packages

__all__ = [
    "IndexProblems",
    "Problem",
    "ValidationOptions",
    "render_tree",
    "validate",
    "validate_package",
]

_DNS1123_MESSAGE = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)


@dataclass(slots=True)
class Problem:
    """A node of the problem tree: a message and its sub-problems (leaves have none)."""

    message: str
    children: list[Problem] = field(default_factory=list)

    def add(self, child: Problem | str) -> None:
        """Append a sub-problem (a string becomes a leaf)."""
        self.children.append(child if isinstance(child, Problem) else Problem(child))

    def or_none(self) -> Problem | None:
        """This node when it has sub-problems, else ``None`` (opm's ``orNil``)."""
        return self if self.children else None

    def leaves(self, prefix: str = "") -> list[str]:
        """Every leaf problem with its path (``invalid package "p": ...: message``)."""
        if not self.children:
            return [prefix + self.message]
        out: list[str] = []
        for child in self.children:
            out.extend(child.leaves(f"{prefix}{self.message}: "))
        return out


def _render(node: Problem, prefix: str, last: bool, out: list[str], seen: list[int]) -> None:
    if id(node) in seen:  # a node already on this path is left out, as opm does
        return
    seen = [*seen, id(node)]
    out.append(f"{prefix}{node.message}{':' if node.children else ''}\n")
    for i, child in enumerate(node.children):
        sub = prefix
        if len(sub) >= 4:
            sub = sub[:-4] + ("    " if last else "│   ")
        sub_last = i == len(node.children) - 1
        sub += "└── " if sub_last else "├── "
        _render(child, sub, sub_last, out, seen)


def render_tree(node: Problem) -> str:
    """Render a problem tree exactly as opm's ``validationError.Error()`` does."""
    out: list[str] = []
    _render(node, "", True, out, [])
    return "".join(out).strip()


@dataclass(frozen=True, slots=True)
class ValidationOptions:
    """Rules that depend on the opm version being emulated (all on = opm 1.47+)."""

    dns1123_package_names: bool = True
    duplicate_versions: bool = True
    image_references: bool = True


_RELEASE_MAX_LENGTH = 20

_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def _dns1123_errors(name: str) -> list[str]:
    """k8s.io/apimachinery ``validation.IsDNS1123Label``."""
    errs: list[str] = []
    if len(name) > 63:
        errs.append("must be no more than 63 characters")
    if not _DNS1123_LABEL.fullmatch(name):
        if _DNS1123_SUBDOMAIN.fullmatch(name):
            # A valid subdomain that is not a label: the length is checked, so it has dots.
            errs.append("must not contain dots")
        else:
            errs.append(_DNS1123_MESSAGE)
    return errs


def _go_list(items: Iterable[str]) -> str:
    return "[" + " ".join(items) + "]"


def _parse_property(index: int, prop_type: str, value: Any) -> str | None:
    """Error text of opm's ``property.Parse`` for one property, or ``None``."""

    def fail(msg: str) -> str:
        return f"parse property[{index}] of type {prop_type!r}: {msg}".replace("'", '"')

    if prop_type in (PROP_PACKAGE, PROP_PACKAGE_REQUIRED, PROP_GVK, PROP_GVK_REQUIRED):
        if value is None:
            return None
        if not isinstance(value, dict):
            return fail(f"json: cannot unmarshal {type(value).__name__} into Go value")
        for key, item in value.items():
            if key in (
                "packageName",
                "version",
                "release",
                "versionRange",
                "group",
                "kind",
            ) and not isinstance(item, (str, type(None))):
                return fail(f"json: cannot unmarshal into Go struct field .{key} of type string")
        return None
    if prop_type == PROP_BUNDLE_OBJECT:
        if not isinstance(value, dict):
            return fail("json: cannot unmarshal into Go value of type property.BundleObject")
        data = value.get("data")
        if data is None:
            return None
        if not isinstance(data, str):
            return fail("json: cannot unmarshal into Go struct field BundleObject.data")
        try:
            base64.b64decode(data.replace("\n", "").replace("\r", ""), validate=True)
        except (binascii.Error, ValueError) as exc:
            return fail(f"illegal base64 data: {exc}")
        return None
    return None


def _reference_repr(schema: str, name: str) -> str:
    return f'declcfg.PackageScopedReference{{Schema:"{schema}", Name:"{name}"}}'


def validate_package(docs: PackageDocs, options: ValidationOptions | None = None) -> Problem | None:
    """Validate one package; the ``invalid package "p"`` node, or ``None`` when valid."""
    opts = options or ValidationOptions()
    name = docs.name
    node = Problem(f'invalid package "{name}"')

    # -- conversion (declcfg.ConvertToModel) ----------------------------------------------
    if not docs.packages:
        for channel in docs.channels:
            node.add(f'unknown package "{name}" for channel "{channel.name}"')
        for bundle in docs.bundles:
            node.add(f'unknown package "{name}" for bundle "{bundle.name}"')
        for _ in docs.deprecations:
            node.add(f'cannot apply deprecations to an unknown package "{name}"')
        return node.or_none()
    if len(docs.packages) > 1:
        node.add(f'duplicate package "{name}"')
    if opts.dns1123_package_names:
        errs = _dns1123_errors(name)
        if errs:
            node.add(f'invalid package name "{name}": {_go_list(errs)}')
    pkg = docs.packages[0]

    channels: dict[str, dict[str, ChannelEntry]] = {}
    for channel in docs.channels:
        if not channel.name:
            node.add(f'package "{name}" contains channel with no name')
            continue
        if channel.name in channels:
            node.add(f'package "{name}" has duplicate channel "{channel.name}"')
            continue
        entries: dict[str, ChannelEntry] = {}
        for entry in channel.entries:
            if entry.name in entries:
                node.add(
                    f'invalid package "{name}", channel "{channel.name}": duplicate entry '
                    f'"{entry.name}"'
                )
                continue
            entries[entry.name] = entry
        channels[channel.name] = entries

    bundles: dict[str, Bundle] = {}
    versions: dict[str, semver.Version] = {}
    releases: dict[str, str] = {}
    for bundle in docs.bundles:
        if bundle.name in bundles:
            node.add(f'package "{name}" has duplicate bundle "{bundle.name}"')
            continue
        bundles[bundle.name] = bundle
        parse_errors = [
            err
            for i, prop in enumerate(bundle.properties)
            if (err := _parse_property(i, prop.type, prop.value)) is not None
        ]
        if parse_errors:
            node.add(f'parse properties for bundle "{bundle.name}": {parse_errors[0]}')
            continue
        pkg_props = [p.value for p in bundle.properties if p.type == PROP_PACKAGE]
        if len(pkg_props) != 1:
            node.add(
                f'package "{name}" bundle "{bundle.name}" must have exactly 1 "olm.package" '
                f"property, found {len(pkg_props)}"
            )
            continue
        value = pkg_props[0] if isinstance(pkg_props[0], dict) else {}
        if value.get("packageName", "") != name:
            node.add(
                f'package "{name}" does not match "olm.package" property '
                f'"{value.get("packageName", "")}"'
            )
            continue
        if opts.image_references:
            problem = bundle.image and image_reference_error(bundle.image)
            if problem:
                node.add(
                    f'package "{name}" bundle "{bundle.name}" image: invalid image pull spec '
                    f'"{bundle.image}": {problem}'
                )
            for i, related in enumerate(bundle.related_images):
                problem = related.image and image_reference_error(related.image)
                if problem:
                    node.add(
                        f'package "{name}" bundle "{bundle.name}" relatedImages[{i}].image: '
                        f'invalid image pull spec "{related.image}": {problem}'
                    )
        raw_version = value.get("version") or ""
        try:
            versions[bundle.name] = semver.parse(raw_version)
        except semver.SemverError as exc:
            node.add(f'error parsing bundle "{bundle.name}" version "{raw_version}": {exc}')
        raw_release = value.get("release") or ""
        if raw_release:
            try:
                releases[bundle.name] = _parse_release(raw_release)
            except semver.SemverError as exc:
                node.add(
                    f'error parsing bundle "{bundle.name}" release version "{raw_release}": {exc}'
                )
        if not any(bundle.name in entries for entries in channels.values()):
            node.add(f'package "{name}", bundle "{bundle.name}" not found in any channel entries')

    missing = sorted({e for entries in channels.values() for e in entries} - set(bundles))
    if missing:
        node.add(
            f'no olm.bundle blobs found in package "{name}" for olm.channel entries '
            f"{_go_list(missing)}"
        )

    deprecation_messages: dict[tuple[str, str], str] = {}
    if len(docs.deprecations) > 1:
        node.add(f'expected a maximum of one deprecation per package: "{name}"')
    for deprecation in docs.deprecations[:1]:
        seen: set[tuple[str, str]] = set()
        for j, dep in enumerate(deprecation.entries):
            ref = (dep.schema, dep.name)
            if not dep.schema:
                node.add(f'schema must be set for deprecation entry [{j}] for package "{name}"')
                continue
            if ref in seen:
                node.add(
                    f'duplicate deprecation entry {_reference_repr(*ref)} for package "{name}"'
                )
                continue
            seen.add(ref)
            if dep.schema == SCHEMA_BUNDLE:
                if dep.name not in bundles:
                    node.add(
                        f'cannot deprecate bundle "{dep.name}" for package "{name}": bundle '
                        "not found"
                    )
                    continue
            elif dep.schema == SCHEMA_CHANNEL:
                if dep.name not in channels and dep.name != pkg.default_channel:
                    node.add(
                        f'cannot deprecate channel "{dep.name}" for package "{name}": channel '
                        "not found"
                    )
                    continue
            elif dep.schema == SCHEMA_PACKAGE:
                if dep.name:
                    node.add(
                        f'package name must be empty for deprecated package "{name}" '
                        f'(specified "{dep.name}")'
                    )
                    continue
            else:
                node.add(
                    f"cannot deprecate object {_reference_repr(*ref)} referenced by entry {j} "
                    f'for package "{name}": object schema unknown'
                )
                continue
            deprecation_messages[ref] = dep.message

    # -- model validation (model.Package.Validate) ----------------------------------------
    if pkg.default_channel and pkg.default_channel not in channels:
        channels[pkg.default_channel] = {}
    if not name:
        node.add("package name must not be empty")
    if not pkg.default_channel:
        node.add("default channel must be set")
    if not channels:
        node.add("package must contain at least one channel")
    for channel_name in sorted(channels):
        entries = channels[channel_name]
        ch_node = Problem(f'invalid channel "{channel_name}"')
        if not entries:
            ch_node.add("channel must contain at least one bundle")
        else:
            chain_error = replaces_chain_error(entries)
            if chain_error:
                ch_node.add(chain_error)
        for entry_name in sorted(entries):
            member = bundles.get(entry_name)
            if member is None:
                continue
            b_node = _validate_bundle(
                member,
                entries[entry_name],
                deprecation_messages,
                name,
                versions.get(entry_name),
                releases.get(entry_name, ""),
            )
            if b_node is not None:
                ch_node.add(b_node)
        message = deprecation_messages.get((SCHEMA_CHANNEL, channel_name))
        if message == "":
            ch_node.add("invalid deprecation: message must be set")
        if ch_node.children:
            node.add(ch_node)
    if opts.duplicate_versions:
        by_version: dict[str, set[str]] = {}
        for entries in channels.values():
            for entry_name in entries:
                if entry_name in versions:
                    text = _version_string(versions[entry_name], releases.get(entry_name, ""))
                    by_version.setdefault(text, set()).add(entry_name)
        dups = [
            f"{{{v}: [{', '.join(sorted(by_version[v]))}]}}"
            for v in sorted(by_version)
            if len(by_version[v]) > 1
        ]
        if dups:
            node.add(f"duplicate versions found in bundles: [{' '.join(dups)}]")
    if deprecation_messages.get((SCHEMA_PACKAGE, "")) == "":
        node.add("invalid deprecation: message must be set")
    return node.or_none()


def _parse_release(text: str) -> str:
    """opm's ``model.NewRelease``: dot-separated semver prerelease identifiers, at most 20
    characters; returns the release as opm prints it."""
    if len(text.encode("utf-8")) > _RELEASE_MAX_LENGTH:
        raise semver.SemverError(
            f'invalid release "{text}": exceeds maximum length of {_RELEASE_MAX_LENGTH} characters'
        )
    errors: list[str] = []
    parts: list[str] = []
    for i, segment in enumerate(text.split(".")):
        try:
            parts.append(semver.parse_prerelease(segment))
        except semver.SemverError as exc:
            errors.append(f"segment {i}: {exc}")
    if errors:
        raise semver.SemverError(f'invalid release "{text}": ' + "\n".join(errors))
    return ".".join(parts)


def _version_string(version: semver.Version, release: str) -> str:
    """opm's ``Bundle.VersionString``: the version, then ``-<release>`` when there is one."""
    return f"{version}-{release}" if release else str(version)


def _validate_bundle(
    bundle: Bundle,
    entry: ChannelEntry,
    deprecations: dict[tuple[str, str], str],
    package: str,
    version: semver.Version | None,
    release: str,
) -> Problem | None:
    node = Problem(f'invalid bundle "{bundle.name}"')
    if not bundle.name:
        node.add("name must be set")
    if release and version is not None:
        normalized = f"{package}-v{_version_string(version, release)}"
        if bundle.name != normalized:
            node.add(f'name "{bundle.name}" does not match normalized name "{normalized}"')
    for i, skip in enumerate(entry.skips):
        if not skip:
            node.add(f"skip[{i}] is empty")
    if entry.skip_range:
        try:
            semver.parse_range(entry.skip_range)
        except semver.SemverError as exc:
            node.add(f'invalid skipRange "{entry.skip_range}": {exc}')
    if sum(1 for p in bundle.properties if p.type == PROP_PACKAGE) != 1:
        node.add('must be exactly one property with type "olm.package"')
    if not bundle.image and not any(p.type == PROP_BUNDLE_OBJECT for p in bundle.properties):
        node.add("bundle image must be set")
    if deprecations.get((SCHEMA_BUNDLE, bundle.name)) == "":
        node.add("invalid deprecation: message must be set")
    if release and version is not None and version.build:
        node.add("cannot use build metadata in version with a release version")
    return node.or_none()


def _validate_orphans(docs: PackageDocs, node: Problem) -> None:
    """Documents with an empty package name (they cannot belong to any package)."""
    for pkg in docs.packages:
        node.add("config contains package with no name")
        del pkg
    for channel in docs.channels:
        node.add(f'unknown package "" for channel "{channel.name}"')
    for bundle in docs.bundles:
        node.add(f'package name must be set for bundle "{bundle.name}"')
    for i, _ in enumerate(docs.deprecations):
        node.add(f"package name must be set for deprecation item {i}")


def validate(view: CatalogView, options: ValidationOptions | None = None) -> None:
    """Validate a whole catalog, one package at a time.

    Raises :class:`~services.common.errors.CatalogValidationError` whose message is the
    problem tree and whose ``problems`` lists every leaf with its path.
    """
    root_docs = getattr(view, "root_documents", None)
    problems = IndexProblems(root_docs() if root_docs is not None else ())
    for docs in iter_packages(view):
        problems.check(docs, options)
    problems.raise_if_any()


class IndexProblems:
    """The problem tree of a whole catalog, collected package by package (as :func:`validate`
    reports it: the documents outside any package first, then the packages in name order,
    whatever order they were checked in), so a pass that reads every package for another
    purpose (the serving cache) validates the catalog on the way."""

    def __init__(self, root_documents: Iterable[Doc] = ()) -> None:
        self._root = Problem("invalid index")
        orphans = PackageDocs("")
        from .directory import _add_doc

        for doc in root_documents:
            _add_doc(orphans, doc)
        _validate_orphans(orphans, self._root)
        self._packages: list[tuple[str, Problem]] = []

    def check(self, docs: PackageDocs, options: ValidationOptions | None = None) -> bool:
        """Validate one package; ``True`` if it is valid (its problems are kept otherwise)."""
        problem = validate_package(docs, options)
        if problem is None:
            return True
        self._packages.append((docs.name, problem))
        return False

    def raise_if_any(self) -> None:
        """Raise :class:`~services.common.errors.CatalogValidationError` if anything was
        found."""
        for _, problem in sorted(self._packages, key=lambda item: item[0]):
            self._root.add(problem)
        self._packages.clear()
        if self._root.children:
            raise CatalogValidationError(render_tree(self._root), self._root.leaves())


def validate_changed(updates: dict[str, object], options: ValidationOptions | None = None) -> None:
    """Validate the packages of a change set (as IIB's migration validates each package).

    ``updates`` maps package names to new :class:`~.model.PackageDocs` (``None`` = removed).
    """
    root = Problem("invalid index")
    for name in sorted(updates):
        docs = updates[name]
        docs = getattr(docs, "docs", docs)
        if isinstance(docs, PackageDocs) and not docs.is_empty():
            problem = validate_package(docs, options)
            if problem is not None:
                root.add(problem)
    if root.children:
        raise CatalogValidationError(render_tree(root), root.leaves())
