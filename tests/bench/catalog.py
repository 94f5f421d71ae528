"""`make bench` catalog part: the catalog engine at opm's benchmark size and at 10x.

opm's ``BenchmarkLoadFS`` uses 300 packages, 450 channels and 3,000 bundles (each bundle with
an ``olm.csv.metadata`` property, each package with a ~34 KB PNG icon); its published figure
is 746 ms to load them with one goroutine (operator-registry#1106). This part generates a
*valid* catalog of the same shape (linear channels, same property mix, icon of the same size)
and the same at 10x, then measures, each step in a **fresh Python process**:

* ``open``     - ``CatalogDir.open`` (walk + parse every file once, build the package index);
* ``load``     - ``open`` + load every package one at a time (the FBC load opm benchmarks);
* ``add``      - open + add one bundle to one package (replaces mode) + write it back;
* ``deprecate``- open + deprecate-truncate one mid-channel bundle + write it back;
* ``validate`` - open + ``opm validate`` rules over every package;
* ``write``    - open + re-emit the whole catalog to a new directory;
* ``cache``    - JSON serving cache + integrity digest (1x only unless ``--cache-10x``);
* ``render``   - render one real bundle (the largest fixture, both property forms).

Peak RSS is the step process's own ``ru_maxrss`` (so it includes the interpreter and imports;
the ``baseline`` line shows that floor). Linux keeps ``ru_maxrss`` across fork+exec, so the
parent that spawns the steps never loads a catalog itself (generation runs in a child too). Times are wall-clock inside the step process, after
imports. Options: ``--sizes=1,10`` (multipliers), ``--keep`` (keep the generated catalogs),
``--cache-10x``, ``--runs=N`` (fresh processes per step, 3 by default: the median is printed
with the min and max), ``--steps=cache,load`` (only those steps).
"""

from __future__ import annotations

import base64
import json
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
FIXTURE_BUNDLE = (
    REPO
    / ".."
    / "shared"
    / "fixtures"
    / "community-bundles"
    / "community-kubevirt-hyperconverged"
    / "1.3.0"
)

_ALM_EXAMPLES = json.dumps(
    [
        {
            "apiVersion": "example.com/v1alpha1",
            "kind": "Example",
            "metadata": {"name": "example-sample"},
            "spec": {
                "image": {
                    "repository": "example/example",
                    "tag": "v0.0.1",
                    "pullPolicy": "IfNotPresent",
                },
                "conf": {"log": {"enabled": False}, "port": 26257, "http-port": 8080},
                "statefulset": {"replicas": 3, "updateStrategy": {"type": "RollingUpdate"}},
                "storage": {"persistentVolume": {"enabled": True, "size": "100Gi"}},
            },
        }
    ],
    indent=2,
)


def _sha(seed: str) -> str:
    import hashlib

    return hashlib.sha256(seed.encode()).hexdigest()


def _csv_metadata(package: str, version: str) -> dict[str, Any]:
    return {
        "annotations": {
            "alm-examples": _ALM_EXAMPLES,
            "capabilities": "Basic Install",
            "categories": "Application",
            "certified": "false",
            "containerImage": "quay.io/example/example:v0.0.1",
            "createdAt": "1970-01-01T00-00-00Z",
            "description": "Example Operator",
            "olm.skipRange": "<0.0.1",
            "repository": "https://github.com/example/example",
            "support": "Example, Inc.",
        },
        "apiServiceDefinitions": {},
        "crdDescriptions": {
            "owned": [
                {
                    "name": "examples.example.com",
                    "version": "v1alpha1",
                    "kind": "Example",
                    "displayName": "Example",
                    "description": "Represents an Example instance",
                    "resources": [
                        {"name": "", "kind": kind, "version": v}
                        for kind, v in [
                            ("Deployment", "apps/v1"),
                            ("Service", "v1"),
                            ("ReplicaSet", "apps/v1"),
                            ("Pod", "v1"),
                            ("Secret", "v1"),
                            ("ConfigMap", "v1"),
                            ("PresistentVolumeClaim", "v1"),
                            ("StatefulSet", "apps/v1"),
                            ("Job", "batch/v1"),
                        ]
                    ],
                }
            ]
        },
        "description": f"{package} {version} is an example operator. " * 20,
        "displayName": "Example Operator",
        "installModes": [
            {"type": "OwnNamespace", "supported": False},
            {"type": "SingleNamespace", "supported": False},
            {"type": "MultiNamespace", "supported": False},
            {"type": "AllNamespaces", "supported": True},
        ],
        "keywords": ["example", "database"],
        "links": [{"name": "Example", "url": "https://example.com"}],
        "maintainers": [{"name": "Example", "email": "example@example.com"}],
        "maturity": "stable",
        "provider": {"name": "Example, Inc."},
    }


def generate(root: Path, multiplier: int) -> dict[str, Any]:
    """Write a valid catalog of 300*m packages, 450*m channels and 3,000*m bundles."""
    from services.catalog import (
        Bundle,
        Channel,
        ChannelEntry,
        Icon,
        Package,
        PackageDocs,
        Property,
        RelatedImage,
        write_catalog,
    )
    from services.catalog.views import MemoryCatalog

    rng = random.Random(multiplier)
    n_packages, n_channels, n_bundles = 300 * multiplier, 450 * multiplier, 3000 * multiplier
    icon = Icon(base64.b64encode(rng.randbytes(25_800)).decode(), "image/png")
    channel_pkgs = list(range(n_packages)) + [
        rng.randrange(n_packages) for _ in range(n_channels - n_packages)
    ]
    per_package: dict[int, list[str]] = {}
    for i, pkg in enumerate(channel_pkgs):
        per_package.setdefault(pkg, []).append(f"channel-{i}")
    bundle_pkgs = list(range(n_packages)) + [
        rng.randrange(n_packages) for _ in range(n_bundles - n_packages)
    ]
    bundles_of: dict[int, int] = {}
    for pkg in bundle_pkgs:
        bundles_of[pkg] = bundles_of.get(pkg, 0) + 1

    catalog = MemoryCatalog()
    mid_bundle = ""
    target_package = ""
    for pkg in range(n_packages):
        name = f"pkg-{pkg}"
        channels = per_package[pkg]
        count = bundles_of[pkg]
        docs = PackageDocs(name, packages=[Package(name, channels[0], icon, f"{name} description")])
        entries: dict[str, list[ChannelEntry]] = {c: [] for c in channels}
        previous = ""
        for b in range(count):
            version = f"0.{b}.0"
            bundle_name = f"{name}.v{version}"
            entries[channels[0]].append(ChannelEntry(bundle_name, previous))
            for extra in channels[1:]:
                entries[extra].append(ChannelEntry(bundle_name, previous))
            previous = bundle_name
            image = f"quay.io/bench/{name}-bundle@sha256:{_sha(bundle_name)}"
            docs.bundles.append(
                Bundle(
                    bundle_name,
                    name,
                    image,
                    [
                        Property(
                            "olm.gvk", {"group": "apps", "kind": "DaemonSet", "version": "v1"}
                        ),
                        Property(
                            "olm.gvk", {"group": "apps", "kind": "Deployment", "version": "v1"}
                        ),
                        Property(
                            "olm.gvk.required", {"group": "", "kind": "Service", "version": "v1"}
                        ),
                        Property("olm.package", {"packageName": name, "version": version}),
                        Property(
                            "olm.package.required", {"packageName": "foo", "versionRange": "0.0.1"}
                        ),
                        Property("olm.csv.metadata", _csv_metadata(name, version)),
                    ],
                    [
                        RelatedImage("", image),
                        RelatedImage(
                            "operator", f"quay.io/bench/{name}@sha256:{_sha(bundle_name + 'op')}"
                        ),
                    ],
                )
            )
            if count >= 3 and b == count // 2 and not mid_bundle:
                mid_bundle = image
                target_package = name
        docs.channels = [Channel(c, name, e) for c, e in entries.items()]
        catalog._packages[name] = docs
    start = time.perf_counter()
    write_catalog(catalog, root)
    written = time.perf_counter() - start
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    return {
        "packages": n_packages,
        "channels": n_channels,
        "bundles": n_bundles,
        "bytes": size,
        "deprecate_image": mid_bundle,
        "add_package": target_package,
        "generate_write_s": written,
    }


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_step(step: str, root: Path, info: dict[str, Any]) -> dict[str, Any]:
    """Run one measured step in this process; returns seconds and peak RSS."""
    from services.catalog import (
        Bundle,
        CatalogDir,
        Property,
        RenderedBundle,
        add_bundles,
        deprecate_truncate,
        directory_tree,
        render_bundle,
        validate,
        write_catalog,
        write_serving_cache,
    )

    extra: dict[str, Any] = {}
    start = time.perf_counter()
    if step == "baseline":
        pass
    elif step == "generate":
        extra = generate(root, int(info["multiplier"]))
    elif step == "open":
        catalog = CatalogDir.open(root)
        extra["packages"] = len(catalog.package_names())
    elif step == "load":
        catalog = CatalogDir.open(root)
        bundles = 0
        for docs in catalog.iter_packages():
            bundles += len(docs.bundles)
        extra["bundles_loaded"] = bundles
    elif step == "add":
        catalog = CatalogDir.open(root)
        package = info["add_package"]
        loaded = catalog.load_package(package)
        assert loaded is not None
        docs = loaded
        head = max(docs.bundles, key=lambda b: int(b.version().split(".")[1]))  # type: ignore[union-attr]
        minor = int(head.version().split(".")[1]) + 1  # type: ignore[union-attr]
        version = f"0.{minor}.0"
        name = f"{package}.v{version}"
        bundle = Bundle(
            name,
            package,
            f"quay.io/bench/{package}-bundle@sha256:{_sha(name)}",
            [Property("olm.package", {"packageName": package, "version": version})],
        )
        rendered = RenderedBundle(
            bundle,
            package,
            [docs.channels[0].name],
            "",
            version,
            head.name,
            [],
            "",
            "",
            name,
            {},
            {},
            [],
            False,
        )
        added = add_bundles(catalog, [rendered])
        catalog.apply(added.changes)
        extra["added"] = name
    elif step == "deprecate":
        catalog = CatalogDir.open(root)
        deprecated = deprecate_truncate(catalog, [info["deprecate_image"]])
        catalog.apply(deprecated.changes)
        extra["truncated"] = len(deprecated.report.truncated)
    elif step == "validate":
        validate(CatalogDir.open(root))
    elif step == "write":
        out = Path(tempfile.mkdtemp(prefix="bench-write-"))
        try:
            write_catalog(CatalogDir.open(root), out / "configs")
        finally:
            shutil.rmtree(out)
    elif step == "cache":
        out = Path(tempfile.mkdtemp(prefix="bench-cache-"))
        try:
            tree = directory_tree(root, dir_mode=0o755, file_mode=0o644)
            result_cache = write_serving_cache(CatalogDir.open(root), out, tree)
            extra["digest"] = result_cache.digest
        finally:
            shutil.rmtree(out)
    elif step in ("render", "render-csv-metadata"):
        rendered_bundle = render_bundle(
            FIXTURE_BUNDLE,
            "quay.io/bench/hco@sha256:" + "0" * 64,
            csv_metadata=step == "render-csv-metadata",
        )
        extra["properties"] = len(rendered_bundle.bundle.properties)
    else:
        raise SystemExit(f"unknown step {step}")
    seconds = time.perf_counter() - start
    return {"step": step, "seconds": seconds, "peak_rss_mb": _rss_mb(), **extra}


def _spawn(step: str, root: Path, info: dict[str, Any]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "tests.bench.catalog", step, str(root), json.dumps(info)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"bench step {step} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _print(label: str, results: list[dict[str, Any]]) -> None:
    """One line per step: the median time of its runs with (min-max), the largest peak RSS."""
    times = sorted(r["seconds"] * 1000 for r in results)
    result = results[0]
    details = {k: v for k, v in result.items() if k not in ("step", "seconds", "peak_rss_mb")}
    suffix = f"  {details}" if details else ""
    spread = f" ({times[0]:.0f}-{times[-1]:.0f}, {len(times)} runs)" if len(times) > 1 else ""
    rss = max(r["peak_rss_mb"] for r in results)
    print(
        f"  {label:<24} {statistics.median(times):10.0f} ms{spread}   peak RSS {rss:7.1f} MB{suffix}",
        flush=True,
    )


def _runs(step: str, root: Path, info: dict[str, Any], runs: int) -> list[dict[str, Any]]:
    """``runs`` fresh processes of ``step``; a step that changes its catalog gets a fresh copy
    of ``root`` each time."""
    results = []
    for n in range(runs):
        target = root
        if step in ("add", "deprecate"):
            target = root.parent / f"{step}-{n}"
            shutil.copytree(root, target)
        try:
            results.append(_spawn(step, target, info))
        finally:
            if target != root:
                shutil.rmtree(target, ignore_errors=True)
    return results


def main(argv: list[str]) -> None:
    """Generate the catalogs, run every step in a fresh process and print the figures."""
    # Options and figures are parsed and printed here rather than with tests.bench.api's
    # _option and _median: importing that module (SQLAlchemy, the request store) would raise
    # this process's peak RSS, which every step process inherits (86.7 MB against ~22 MB
    # measured for the baseline step when it did).
    sizes = [1, 10]
    runs = 3
    only: set[str] | None = None
    keep = "--keep" in argv
    cache_10x = "--cache-10x" in argv
    for arg in argv:
        if arg.startswith("--sizes="):
            sizes = [int(s) for s in arg.split("=", 1)[1].split(",") if s]
        elif arg.startswith("--runs="):
            runs = max(1, int(arg.split("=", 1)[1]))
        elif arg.startswith("--steps="):
            only = {s for s in arg.split("=", 1)[1].split(",") if s}
    workdir = Path(tempfile.mkdtemp(prefix="bench-catalog-"))
    try:
        print(f"catalog engine (python {sys.version.split()[0]}, one process per step)", flush=True)
        for step, label in (
            ("baseline", "baseline (imports only)"),
            ("render", "render 1 real bundle"),
            ("render-csv-metadata", "render (csv metadata)"),
        ):
            if only is None or step in only:
                _print(label, _runs(step, workdir, {}, runs))
        for multiplier in sizes:
            pristine = workdir / f"x{multiplier}" / "pristine"
            pristine.mkdir(parents=True)
            # Generated in a child too: ru_maxrss survives fork+exec, so the parent stays small.
            info = _spawn("generate", pristine, {"multiplier": multiplier})
            print(
                f"\n{info['packages']} packages, {info['channels']} channels, {info['bundles']} bundles "
                f"({info['bytes'] / 1e6:.1f} MB of JSON; generated and written in "
                f"{info['generate_write_s']:.1f} s)",
                flush=True,
            )
            steps = ["open", "load", "validate", "write", "add", "deprecate"]
            if multiplier == 1 or cache_10x:
                steps.append("cache")
            for step in steps:
                if only is None or step in only:
                    _print(step, _runs(step, pristine, info, runs))
        print(
            "\nopm reference: LoadFS of 300 packages / 3,000 bundles = 746 ms with 1 goroutine "
            "(operator-registry#1106, i7-11700K)",
            flush=True,
        )
    finally:
        if keep:
            print(f"catalogs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    step_name, step_root, step_info = sys.argv[1], Path(sys.argv[2]), json.loads(sys.argv[3])
    print(json.dumps(run_step(step_name, step_root, step_info)))
