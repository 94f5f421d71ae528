"""The model's validation rules and the problem tree, from opm's ``alpha/model`` tests.

Sources: ``alpha/model/model_test.go`` (``TestChannelHead``, ``TestValidReplacesChain``,
``TestValidators``) and ``error_test.go`` (``TestValidationError_Error``). opm validates its
in-memory model; here each case is built as the File-Based Catalog that converts to that model
and checked with ``validate``/``validate_package`` (or the graph functions the model's
``Head``/``validateReplacesChain`` correspond to). Model-only cases (map keys that differ from
names, parent links, property JSON that does not parse) cannot be expressed in FBC and are
listed as not applicable in ``README.md``.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest

from services.catalog import ChannelEntry, Icon, PackageDocs, Property, validate_package
from services.catalog.graph import channel_head, replaces_chain_error
from services.catalog.validate import Problem, render_tree

from ._support import case, helper_channel, prop_bundle_object, prop_gvk, prop_package

SVG_DATA = "PHN2ZyB2aWV3Qm94PTAgMCAxMDAgMTAwPjxjaXJjbGUgY3g9MjUgY3k9MjUgcj0yNS8+PC9zdmc+"
PNG_DATA = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABAQMAAAAl21bKAAAAA1BMVEUAAACnej3aAAAAAXRSTlMAQObYZgAAAApJREFUCNdjYAAAAAIAAeIhvDMAAAAASUVORK5CYII="
JPEG_DATA = "/9j/4AAQSkZJRgABAQEAYABgAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHRofHh0aHBwgJC4nICIsIxwcKDcpLDAxNDQ0Hyc5PTgyPC4zNDL/2wBDAQkJCQwLDBgNDRgyIRwhMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjL/wAARCAABAAEDASIAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/8QAHwEAAwEBAQEBAQEBAQAAAAAAAAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAECAxEEBSExBhJBUQdhcRMiMoEIFEKRobHBCSMzUvAVYnLRChYkNOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6goOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk5ebn6Onq8vP09fb3+Pn6/9oADAMBAAIRAxEAPwD3+iiigD//2Q=="

MODEL = "alpha/model/model_test.go"


def _entries(*entries: ChannelEntry) -> dict[str, ChannelEntry]:
    return {e.name: e for e in entries}


HEAD = ChannelEntry("anakin.v0.0.3", replaces="anakin.v0.0.1", skips=["anakin.v0.0.2"])


@pytest.mark.parametrize(
    ("entries", "head", "error"),
    [
        case(
            f'{MODEL} TestChannelHead/"Success/Valid"',
            _entries(ChannelEntry("anakin.v0.0.1"), ChannelEntry("anakin.v0.0.2"), HEAD),
            "anakin.v0.0.3",
            None,
        ),
        case(
            f'{MODEL} TestChannelHead/"Error/NoChannelHead"',
            _entries(ChannelEntry("anakin.v0.0.1", replaces="anakin.v0.0.3"), HEAD),
            None,
            "no channel head found in graph",
        ),
        case(
            f'{MODEL} TestChannelHead/"Error/MultipleChannelHeads"',
            _entries(
                ChannelEntry("anakin.v0.0.1"),
                HEAD,
                ChannelEntry("anakin.v0.0.4", replaces="anakin.v0.0.1"),
            ),
            None,
            "multiple channel heads found in graph: anakin.v0.0.3, anakin.v0.0.4",
        ),
    ],
)
def test_channel_head(
    entries: dict[str, ChannelEntry], head: str | None, error: str | None
) -> None:
    assert channel_head(entries) == (head, error)


@pytest.mark.parametrize(
    ("entries", "error"),
    [
        case(
            f'{MODEL} TestValidReplacesChain/"Success/Valid"',
            _entries(
                ChannelEntry("anakin.v0.0.1"),
                ChannelEntry("anakin.v0.0.2", skips=["anakin.v0.0.1"]),
                ChannelEntry("anakin.v0.0.3", skips=["anakin.v0.0.2"]),
                ChannelEntry("anakin.v0.0.4", replaces="anakin.v0.0.3"),
            ),
            None,
        ),
        case(
            f'{MODEL} TestValidReplacesChain/"Error/CycleNoHops"',
            _entries(
                ChannelEntry("anakin.v0.0.4", replaces="anakin.v0.0.4"),
                ChannelEntry("anakin.v0.0.5", replaces="anakin.v0.0.4"),
            ),
            "detected cycle in replaces chain of upgrade graph: anakin.v0.0.4 -> anakin.v0.0.4",
        ),
        case(
            f'{MODEL} TestValidReplacesChain/"Error/CycleMultipleHops"',
            _entries(
                ChannelEntry("anakin.v0.0.1", replaces="anakin.v0.0.3"),
                ChannelEntry("anakin.v0.0.2", replaces="anakin.v0.0.1"),
                ChannelEntry("anakin.v0.0.3", replaces="anakin.v0.0.2"),
                ChannelEntry("anakin.v0.0.4", replaces="anakin.v0.0.3"),
            ),
            "detected cycle in replaces chain of upgrade graph: anakin.v0.0.3 -> anakin.v0.0.2 "
            "-> anakin.v0.0.1 -> anakin.v0.0.3",
        ),
        case(
            f'{MODEL} TestValidReplacesChain/"Error/Stranded"',
            _entries(
                ChannelEntry("anakin.v0.0.1"),
                ChannelEntry("anakin.v0.0.2", replaces="anakin.v0.0.1"),
                ChannelEntry("anakin.v0.0.3", skips=["anakin.v0.0.2"]),
            ),
            "channel contains one or more stranded bundles: anakin.v0.0.1",
        ),
        case(
            f'{MODEL} TestValidReplacesChain/"Error/SkippedReplacesStranded"',
            _entries(
                ChannelEntry("anakin.v0.0.1"),
                ChannelEntry("anakin.v0.0.2", replaces="anakin.v0.0.1"),
                ChannelEntry("anakin.v0.0.3", replaces="anakin.v0.0.2", skips=["anakin.v0.0.2"]),
            ),
            "channel contains one or more stranded bundles: anakin.v0.0.1",
        ),
    ],
)
def test_replaces_chain(entries: dict[str, ChannelEntry], error: str | None) -> None:
    assert replaces_chain_error(entries) == error


# -- TestValidators, as FBC packages ---------------------------------------------------------


def _bundle(
    name: str,
    version: str = "",
    *,
    image: str = "",
    props: list[tuple[str, Any]] | None = None,
    release: str = "",
) -> Any:
    from services.catalog import Bundle

    if props is None:
        props = [prop_package("anakin", version, release)]
    return Bundle(
        name=name,
        package="anakin",
        image=image,
        properties=[Property(t, v) for t, v in props],
    )


def _anakin(
    entries: list[ChannelEntry],
    bundles: list[Any],
    *,
    default: str = "light",
    channel: str = "light",
    icon: Icon | None = None,
) -> PackageDocs:
    from services.catalog import Package

    docs = PackageDocs("anakin")
    docs.packages.append(Package(name="anakin", default_channel=default, icon=icon))
    if entries or channel:
        docs.channels.append(helper_channel("anakin", channel, *entries))
    docs.bundles.extend(bundles)
    return docs


def _pcb() -> PackageDocs:
    """``makePackageChannelBundle``: anakin, channel light, v0.0.2 replaces v0.0.1."""
    gvk = prop_gvk("skywalker.me", "v1alpha1", "PodRacer")
    return _anakin(
        [ChannelEntry("anakin.v0.0.1"), ChannelEntry("anakin.v0.0.2", replaces="anakin.v0.0.1")],
        [
            _bundle(
                "anakin.v0.0.1",
                image="anakin-operator:v0.0.1",
                props=[prop_package("anakin", "0.0.1"), gvk],
            ),
            _bundle(
                "anakin.v0.0.2",
                image="anakin-operator:v0.0.2",
                props=[prop_package("anakin", "0.0.2"), gvk],
            ),
        ],
    )


def _leaves(docs: PackageDocs) -> list[str]:
    problem = validate_package(docs)
    return problem.leaves() if problem is not None else []


def _has(docs: PackageDocs, message: str) -> bool:
    problem = validate_package(docs)
    if problem is None:
        return False
    stack = [problem]
    while stack:
        node = stack.pop()
        if node.message == message:
            return True
        stack.extend(node.children)
    return False


def _single(entry: ChannelEntry, bundle: Any) -> PackageDocs:
    return _anakin([entry], [bundle])


V = f"{MODEL} TestValidators"
GVK = prop_gvk("skywalker.me", "v1alpha1", "PodRacer")

VALIDATOR_ERRORS = [
    case(
        f'{V}/"Package/Error/NoChannels"',
        lambda: _anakin([], [], default="", channel="", icon=Icon(SVG_DATA, "image/svg+xml")),
        "package must contain at least one channel",
    ),
    case(
        f'{V}/"Package/Error/DuplicateBundleVersions"',
        lambda: _anakin(
            [
                ChannelEntry(n)
                for n in ("anakin.v0.0.1", "anakin.v0.0.2", "anakin.v1.0.1", "anakin.v1.0.2")
            ],
            [
                _bundle("anakin.v0.0.1", "0.0.1", image="i"),
                _bundle("anakin.v0.0.2", "0.0.1", image="i"),
                _bundle("anakin.v1.0.1", "1.0.1", image="i"),
                _bundle("anakin.v1.0.2", "1.0.1", image="i"),
            ],
        ),
        "duplicate versions found in bundles: [{0.0.1: [anakin.v0.0.1, anakin.v0.0.2]} "
        "{1.0.1: [anakin.v1.0.1, anakin.v1.0.2]}]",
    ),
    # Adapted: the model test keys two bundles by release names but names them alike; in FBC a
    # bundle's name is its key, so the release bundles carry their normalized names.
    case(
        f'{V}/"Package/Error/DuplicateBundleVersionsReleases"',
        lambda: _anakin(
            [
                ChannelEntry(n)
                for n in (
                    "anakin.v0.0.1",
                    "anakin.v0.0.2",
                    "anakin-v0.0.1-100",
                    "anakin-v0.0.2-100",
                )
            ],
            [
                _bundle("anakin.v0.0.1", "0.0.1", image="i"),
                _bundle("anakin.v0.0.2", "0.0.1", image="i"),
                _bundle("anakin-v0.0.1-100", "0.0.1", image="i", release="100"),
                _bundle("anakin-v0.0.2-100", "0.0.1", image="i", release="100"),
            ],
        ),
        "duplicate versions found in bundles: [{0.0.1: [anakin.v0.0.1, anakin.v0.0.2]} "
        "{0.0.1-100: [anakin-v0.0.1-100, anakin-v0.0.2-100]}]",
    ),
    case(
        f'{V}/"Package/Error/BundleReleaseNormalizedName"',
        lambda: _single(
            ChannelEntry("anakin.v0.0.1.alpha1"),
            _bundle("anakin.v0.0.1.alpha1", "0.0.1", image="i", release="alpha1"),
        ),
        'name "anakin.v0.0.1.alpha1" does not match normalized name "anakin-v0.0.1-alpha1"',
    ),
    case(
        f'{V}/"Package/Error/NoDefaultChannel"',
        lambda: _anakin(
            [ChannelEntry("anakin.v0.0.1")],
            [_bundle("anakin.v0.0.1", "0.0.1", image="i")],
            default="",
            icon=Icon(SVG_DATA, "image/svg+xml"),
        ),
        "default channel must be set",
    ),
    case(
        f'{V}/"Package/Error/InvalidChannel"',
        lambda: _anakin([], [], icon=Icon(SVG_DATA, "image/svg+xml")),
        'invalid channel "light"',
    ),
    case(
        f'{V}/"Channel/Error/NoBundles"',
        lambda: _anakin([], []),
        "channel must contain at least one bundle",
    ),
    case(
        f'{V}/"Channel/Error/InvalidHead"',
        lambda: _anakin(
            [ChannelEntry("anakin.v0.0.0"), ChannelEntry("anakin.v0.0.1")],
            [
                _bundle("anakin.v0.0.0", "0.0.0", image="i"),
                _bundle("anakin.v0.0.1", "0.0.1", image="i"),
            ],
        ),
        "multiple channel heads found in graph: anakin.v0.0.0, anakin.v0.0.1",
    ),
    case(
        f'{V}/"Channel/Error/InvalidBundle"',
        lambda: _single(ChannelEntry("anakin.v0.0.0"), _bundle("anakin.v0.0.0", "0.0.0")),
        'invalid bundle "anakin.v0.0.0"',
    ),
    case(
        f'{V}/"Bundle/Error/NoBundleImage"',
        lambda: _single(
            ChannelEntry("anakin.v0.1.0"),
            _bundle("anakin.v0.1.0", props=[prop_package("anakin", "0.1.0"), GVK]),
        ),
        "bundle image must be set",
    ),
    case(
        f'{V}/"Bundle/Error/NoName"',
        lambda: _single(ChannelEntry(""), _bundle("", "0.1.0", image="i")),
        "name must be set",
    ),
    case(
        f'{V}/"Bundle/Error/EmptySkipsValue"',
        lambda: _single(
            ChannelEntry("anakin.v0.1.0", replaces="anakin.v0.0.1", skips=[""]),
            _bundle(
                "anakin.v0.1.0",
                "0.1.0",
                image="i",
                props=[prop_package("anakin", "0.1.0"), ("custom", {})],
            ),
        ),
        "skip[0] is empty",
    ),
    case(
        f'{V}/"Bundle/Error/InvalidSkipRange/LeadingV"',
        lambda: _single(
            ChannelEntry("anakin.v0.1.0", replaces="anakin.v0.0.1", skip_range=">v0.1.0"),
            _bundle("anakin.v0.1.0", "0.1.0", image="registry.io/image"),
        ),
        'invalid skipRange ">v0.1.0": Could not parse Range ">v0.1.0": Could not parse '
        'comparator ">v" in ">v0.1.0"',
    ),
    case(
        f'{V}/"Bundle/Error/InvalidSkipRange/LeadingZero"',
        lambda: _single(
            ChannelEntry("anakin.v0.1.0", replaces="anakin.v0.0.1", skip_range=">1.00.1"),
            _bundle("anakin.v0.1.0", "0.1.0", image="registry.io/image"),
        ),
        'invalid skipRange ">1.00.1": Could not parse Range ">1.00.1": Could not parse version '
        '"1.00.1" in ">1.00.1": Minor number must not contain leading zeroes "00"',
    ),
    # The model rule "must be exactly one property with type olm.package" cannot be reached
    # from FBC: conversion refuses such a bundle first, with this message.
    case(
        f'{V}/"Bundle/Error/MissingPackage" (FBC: declcfg_to_model.go conversion message)',
        lambda: _single(
            ChannelEntry("anakin.v0.1.0", replaces="anakin.v0.0.1", skips=["anakin.v0.0.2"]),
            _bundle("anakin.v0.1.0", props=[]),
        ),
        'package "anakin" bundle "anakin.v0.1.0" must have exactly 1 "olm.package" property, found 0',
    ),
    case(
        f'{V}/"Bundle/Error/MultiplePackages" (FBC: declcfg_to_model.go conversion message)',
        lambda: _single(
            ChannelEntry("anakin.v0.1.0", replaces="anakin.v0.0.1", skips=["anakin.v0.0.2"]),
            _bundle(
                "anakin.v0.1.0",
                props=[prop_package("anakin", "0.1.0"), prop_package("anakin", "0.2.0")],
            ),
        ),
        'package "anakin" bundle "anakin.v0.1.0" must have exactly 1 "olm.package" property, found 2',
    ),
]


@pytest.mark.parametrize(("build", "message"), VALIDATOR_ERRORS)
def test_validators_report(build: Any, message: str) -> None:
    docs = build()
    assert _has(docs, message), _leaves(docs)


VALIDATOR_OK = [
    case(f'{V}/"Model/Success/Valid"', _pcb),
    case(f'{V}/"Package/Success/Valid"', _pcb),
    case(f'{V}/"Channel/Success/Valid"', _pcb),
    case(
        f'{V}/"Icon/Success/ValidSVG"',
        lambda: _with_icon(Icon(SVG_DATA, "image/svg+xml")),
    ),
    case(f'{V}/"Icon/Success/ValidPNG"', lambda: _with_icon(Icon(PNG_DATA, "image/png"))),
    case(f'{V}/"Icon/Success/ValidJPEG"', lambda: _with_icon(Icon(JPEG_DATA, "image/jpeg"))),
    case(f'{V}/"Icon/Success/Nil"', lambda: _with_icon(None)),
    case(
        f'{V}/"Bundle/Success/Valid"',
        lambda: _single(
            ChannelEntry("anakin.v0.1.0", replaces="anakin.v0.0.1", skips=["anakin.v0.0.2"]),
            _bundle(
                "anakin.v0.1.0",
                image="registry.io/image",
                props=[prop_package("anakin", "0.1.0"), GVK],
            ),
        ),
    ),
    case(
        f'{V}/"Bundle/Success/ReplacesNotInChannel"',
        lambda: _single(
            ChannelEntry("anakin.v0.1.0", replaces="anakin.v0.0.0"),
            _bundle("anakin.v0.1.0", "0.1.0", image="registry.io/image"),
        ),
    ),
    case(
        f'{V}/"Bundle/Success/NoBundleImage/HaveBundleData"',
        lambda: _single(
            ChannelEntry("anakin.v0.1.0"),
            _bundle(
                "anakin.v0.1.0",
                props=[prop_package("anakin", "0.1.0"), GVK, prop_bundle_object("testdata")],
            ),
        ),
    ),
    case(
        f'{V}/"Bundle/Success/EmptySkipRange"',
        lambda: _single(
            ChannelEntry("anakin.v0.1.0", replaces="anakin.v0.0.1"),
            _bundle("anakin.v0.1.0", "0.1.0", image="registry.io/image"),
        ),
    ),
    case(
        f'{V}/"Bundle/Success/ValidSkipRange"',
        lambda: _single(
            ChannelEntry("anakin.v0.1.0", replaces="anakin.v0.0.1", skip_range=">=1.0.0 <2.0.0"),
            _bundle("anakin.v0.1.0", "0.1.0", image="registry.io/image"),
        ),
    ),
]


def _with_icon(icon: Icon | None) -> PackageDocs:
    docs = _pcb()
    docs.packages[0].icon = (
        Icon(base64.b64encode(base64.b64decode(icon.base64data)).decode(), icon.mediatype)
        if icon
        else None
    )
    return docs


@pytest.mark.parametrize("build", VALIDATOR_OK)
def test_validators_accept(build: Any) -> None:
    assert _leaves(build()) == []


# -- alpha/model/error_test.go TestValidationError_Error ------------------------------------


def _tree(message: str, *children: Problem | str) -> Problem:
    node = Problem(message)
    for child in children:
        node.add(child)
    return node


def _recursive() -> Problem:
    l1 = Problem("l1")
    l1.children = [Problem("err1"), _tree("l2", "err3", l1, "err4"), Problem("err2")]
    return l1


ERR = "alpha/model/error_test.go TestValidationError_Error"


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        case(f'{ERR}/"Empty"', lambda: Problem(""), ""),
        case(
            f'{ERR}/"RecursiveError"',
            _recursive,
            "l1:\n├── err1\n├── l2:\n│   ├── err3\n│   └── err4\n└── err2",
        ),
        case(f'{ERR}/"MessageOnly"', lambda: Problem("hello"), "hello"),
        case(
            f'{ERR}/"WithSubErrors"',
            lambda: _tree("hello", "world", "foobar"),
            "hello:\n├── world\n└── foobar",
        ),
        case(
            f'{ERR}/"WithEmptyLeafSubErrors"',
            lambda: _tree("hello", Problem("foo"), _tree("bar", "bar1", "bar2")),
            "hello:\n├── foo\n└── bar:\n    ├── bar1\n    └── bar2",
        ),
        case(
            f'{ERR}/"WithSubSubErrors"',
            lambda: _tree("hello", _tree("foo", "foo1", "foo2"), _tree("bar", "bar1", "bar2")),
            "hello:\n├── foo:\n│   ├── foo1\n│   └── foo2\n└── bar:\n    ├── bar1\n    └── bar2",
        ),
    ],
)
def test_problem_tree_renders_like_opm(build: Any, expected: str) -> None:
    assert render_tree(build()) == expected
