"""Shared helpers for the catalog engine tests.

Golden files live in ``tests/catalog/golden/``. Their content comes from oracles, not from
the engine (``golden/README.md`` says which, per file, and ``test_goldens.py`` checks them);
a golden is changed by hand, never regenerated from the engine's output.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

from services.catalog import (
    MemoryCatalog,
    RenderedBundle,
    add_bundles,
    render_bundle,
)

REPO = Path(__file__).resolve().parents[2]
from services.tooling.demo.images import FIXTURES_ROOT  # noqa: E402

FIXTURES = FIXTURES_ROOT

GOLDEN = Path(__file__).resolve().parent / "golden"


def digest(text: str) -> str:
    """A valid sha256 digest derived from ``text``."""
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def image_for(package: str, version: str, repo: str = "quay.io/community") -> str:
    """A digest-pinned image reference for a fixture bundle."""
    return f"{repo}/{package}-bundle@{digest(package + version)}"


def versions_of(package: str) -> list[str]:
    """The fixture versions of a package, in semver order."""
    root = FIXTURES / package
    names = [p.name for p in root.iterdir() if p.is_dir()]
    return sorted(names, key=lambda v: [int(x) for x in v.split(".")])


@functools.lru_cache(maxsize=512)
def render_fixture(package: str, version: str, *, csv_metadata: bool = False) -> RenderedBundle:
    """Render one fixture bundle (memoized; operations never mutate their inputs)."""
    return render_bundle(
        FIXTURES / package / version, image_for(package, version), csv_metadata=csv_metadata
    )


def catalog_of(*packages: str, csv_metadata: bool = True) -> MemoryCatalog:
    """A catalog with every fixture version of each package added in one request.

    One add per package (as ``opm registry add --bundle-images a,b,...`` does): added one at a
    time, some fixture histories are refused by opm (a first bundle whose default channel is
    not among its channels, e.g. redis-operator 0.0.1 and cockroachdb 2.0.9).
    """
    catalog = MemoryCatalog()
    for package in packages:
        bundles = [
            render_fixture(package, v, csv_metadata=csv_metadata) for v in versions_of(package)
        ]
        result = add_bundles(catalog, bundles)
        catalog.apply(result.changes)
    return catalog


def assert_golden(name: str, actual: str | bytes) -> None:
    """Compare with ``golden/<name>``; a mismatch fails with a unified diff.

    A golden file is edited by hand from its oracle (golden/README.md), never rewritten here.
    """
    data = actual.encode("utf-8") if isinstance(actual, str) else actual
    path = GOLDEN / name
    assert path.exists(), f"golden file {name} missing (see tests/catalog/golden/README.md)"
    expected = path.read_bytes()
    if data != expected:
        diff = difflib.unified_diff(
            expected.decode("utf-8", "replace").splitlines(keepends=True),
            data.decode("utf-8", "replace").splitlines(keepends=True),
            fromfile=f"golden/{name}",
            tofile="engine output",
        )
        pytest.fail(f"output differs from golden file {name}:\n{''.join(diff)}", pytrace=False)


@pytest.fixture(scope="session")
def fixtures_root() -> Path:
    """The community bundle fixtures (services/tooling/demo/community-bundles)."""
    assert FIXTURES.is_dir(), f"missing fixtures: {FIXTURES}"
    return FIXTURES


@pytest.fixture
def render() -> Callable[..., RenderedBundle]:
    """Render a fixture bundle by package and version."""
    return render_fixture


def make_bundle(
    root: Path,
    package: str,
    name: str,
    version: str,
    channels: str,
    default: str = "",
    *,
    replaces: str = "",
    skips: tuple[str, ...] = (),
    skip_range: str = "",
    substitutes_for: str = "",
    extra_objects: tuple[str, ...] = (),
    csv_annotations: dict[str, str] | None = None,
    image: str | None = None,
    csv_metadata: bool = False,
) -> RenderedBundle:
    """Write a minimal bundle directory (CSV + annotations) and render it."""
    import json as _json

    bundle_dir = root / f"{name}-{digest(image or name)[7:15]}"
    (bundle_dir / "manifests").mkdir(parents=True)
    (bundle_dir / "metadata").mkdir()
    annotations = dict(csv_annotations or {})
    if skip_range:
        annotations["olm.skipRange"] = skip_range
    if substitutes_for:
        annotations["olm.substitutesFor"] = substitutes_for
    csv: dict[str, object] = {
        "apiVersion": "operators.coreos.com/v1alpha1",
        "kind": "ClusterServiceVersion",
        "metadata": {"name": name, "annotations": annotations},
        "spec": {
            "version": version,
            "displayName": name,
            "install": {
                "strategy": "deployment",
                "spec": {
                    "deployments": [
                        {
                            "name": package,
                            "spec": {
                                "template": {
                                    "spec": {
                                        "containers": [
                                            {
                                                "name": "op",
                                                "image": f"quay.io/ns/{package}-operator:{version.replace('+', '_')}",
                                            }
                                        ]
                                    }
                                }
                            },
                        }
                    ]
                },
            },
        },
    }
    spec = csv["spec"]
    assert isinstance(spec, dict)
    if replaces:
        spec["replaces"] = replaces
    if skips:
        spec["skips"] = list(skips)
    (bundle_dir / "manifests" / f"{name}.clusterserviceversion.json").write_text(_json.dumps(csv))
    for i, obj in enumerate(extra_objects):
        (bundle_dir / "manifests" / f"extra{i}.yaml").write_text(obj)
    lines = [
        "annotations:",
        f"  operators.operatorframework.io.bundle.package.v1: {package}",
        f"  operators.operatorframework.io.bundle.channels.v1: '{channels}'",
    ]
    if default:
        lines.append(f"  operators.operatorframework.io.bundle.channel.default.v1: {default}")
    (bundle_dir / "metadata" / "annotations.yaml").write_text("\n".join(lines) + "\n")
    return render_bundle(
        bundle_dir,
        image or f"quay.io/ns/{package}-bundle@{digest(name + version)}",
        csv_metadata=csv_metadata,
    )
