"""Property-based checks: random add/remove/deprecate sequences never leave an invalid catalog.

Every operation either raises :class:`CatalogError` with a message (and the catalog is left
as it was) or returns a catalog that passes ``opm validate`` rules.
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.catalog import (
    Bundle,
    MemoryCatalog,
    Property,
    RenderedBundle,
    add_bundles,
    deprecate_truncate,
    present_bundle_images,
    remove_packages,
    validate,
)
from services.catalog.write import encode_package
from services.common.errors import CatalogError

PACKAGES = ["foo", "bar"]
VERSIONS = ["0.1.0", "0.2.0", "0.2.1", "1.0.0", "1.1.0", "2.0.0", "2.0.1-rc.1", "3.0.0"]
CHANNELS = ["stable", "fast", "candidate"]


def _name(package: str, version: str) -> str:
    return f"{package}.v{version}"


def _rendered(
    package: str, version: str, channels: list[str], default: str, replaces: str, skips: list[str]
) -> RenderedBundle:
    name = _name(package, version)
    image = f"quay.io/ns/{package}@sha256:" + hashlib.sha256(name.encode()).hexdigest()
    bundle = Bundle(
        name=name,
        package=package,
        image=image,
        properties=[Property("olm.package", {"packageName": package, "version": version})],
    )
    return RenderedBundle(
        bundle=bundle,
        package=package,
        channels=channels,
        default_channel=default,
        version=version,
        replaces=replaces,
        skips=skips,
        skip_range="",
        substitutes_for="",
        csv_name=name,
        annotations={},
        csv={},
        objects=[],
        uses_removed_1_22_apis=False,
    )


@st.composite
def _add_op(draw: st.DrawFn) -> tuple[str, Any]:
    package = draw(st.sampled_from(PACKAGES))
    version = draw(st.sampled_from(VERSIONS))
    channels = draw(st.lists(st.sampled_from(CHANNELS), min_size=1, max_size=2, unique=True))
    default = draw(st.sampled_from(["", *channels]))
    others = [v for v in VERSIONS if v != version]
    replaces = draw(st.sampled_from(["", "ghost.v9", *[_name(package, v) for v in others]]))
    skips = draw(
        st.lists(st.sampled_from([_name(package, v) for v in others]), max_size=2, unique=True)
    )
    mode = draw(st.sampled_from(["replaces", "replaces", "semver", "semver-skippatch"]))
    overwrite = draw(st.booleans())
    return "add", (_rendered(package, version, channels, default, replaces, skips), mode, overwrite)


_OPS = st.one_of(
    _add_op(),
    st.tuples(st.just("deprecate"), st.integers(min_value=0, max_value=50)),
    st.tuples(st.just("remove"), st.sampled_from(PACKAGES)),
)


def _snapshot(catalog: MemoryCatalog) -> dict[str, bytes]:
    out = {}
    for name in catalog.package_names():
        docs = catalog.load_package(name)
        assert docs is not None
        out[name] = encode_package(docs)
    return out


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_OPS, min_size=1, max_size=12))
def test_random_operation_sequences_keep_the_catalog_valid(ops: list[tuple[str, Any]]) -> None:
    catalog = MemoryCatalog()
    for kind, arg in ops:
        before = _snapshot(catalog)
        try:
            if kind == "add":
                rendered, mode, overwrite = arg
                original = copy.deepcopy(rendered)
                result = add_bundles(catalog, [rendered], mode=mode, overwrite_latest=overwrite)
                assert rendered == original, "add_bundles mutated its input"
                changes = result.changes
            elif kind == "deprecate":
                images = [ref.image for ref in present_bundle_images(catalog)]
                if not images:
                    continue
                changes = deprecate_truncate(catalog, [images[arg % len(images)]]).changes
            else:
                changes = remove_packages(catalog, [arg], permissive=True).changes
        except CatalogError as exc:
            assert str(exc), "rejections must say why"
            assert _snapshot(catalog) == before, "a rejected operation changed the catalog"
            continue
        assert _snapshot(catalog) == before, "operations must not mutate the catalog they read"
        catalog.apply(changes)
        validate(catalog)
