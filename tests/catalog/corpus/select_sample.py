"""(Re)select the vendored corpus sample (``tests/fixtures/corpus-sample/``) from the mirror.

Not run by the tests. ``python -m tests.catalog.corpus.select_sample [--mirror=DIR] [--dest=DIR]
[--bundles=150]`` extracts ``upstream-community-operators/`` from the community-operators
mirror, tags every bundle with the features the oracle and the engine treat specially, and
copies whole packages (every version, so channels, replaces chains and package-manifest
conversion stay intact; files byte for byte) into the destination:

1. the packages named in ``REQUIRED`` (each one shows an engine difference the corpus sweep
   found, or an add refusal worth keeping);
2. for every feature not yet covered, the smallest package that has it;
3. the smallest remaining packages, alternating layouts, until about ``--bundles`` bundles.

It prints the table of packages, bundle counts and features that README.md shows.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from .convert import (
    CORPUS_DIR,
    DEFAULT_MIRROR,
    LAYOUT_PACKAGE_MANIFEST,
    collect_bundles,
    extract_corpus,
)
from .oracle import OracleError, load_first_document, read_bundle

REPO = Path(__file__).resolve().parents[3]
DEST = REPO / "tests" / "fixtures" / "corpus-sample"

#: Packages kept whatever their size, and why.
REQUIRED = {
    "hazelcast-operator": "CSV annotation without a value (createdAt:) - engine fix",
    "nfd-operator": "CSV annotations without a value - engine fix",
    "pmem-csi-operator": "annotations.yaml entry without a value - engine fix",
    "kubestone": "MinKubeVersion: spelled with a capital M (Go matches it) - engine fix",
    "iot-simulator": "required CRDs (olm.gvk.required order)",
    "node-healthcheck-operator": "metadata/dependencies.yaml",
    "aqua": "add refused: default channel not among the channel heads",
    "postgresql": "add refused: default channel not among the channel heads",
}

FEATURES = (
    "bundle-layout",
    "package-manifest",
    "required-crd",
    "required-apiservice",
    "owned-apiservice",
    "dependencies.yaml",
    "webhooks",
    "crd-several-versions",
    "crd-v1beta1",
    "crd-v1",
    "skipRange",
    "skips",
    "olm.properties",
    "relatedImages",
    "initContainers",
    "several-channels",
    "extra-objects",
    "multi-document-file",
)


def _features(bundle_root: Path, layout: str) -> set[str]:
    found = {"package-manifest" if layout == LAYOUT_PACKAGE_MANIFEST else "bundle-layout"}
    try:
        oracle = read_bundle(bundle_root, "quay.io/sample/bundle:v1")
    except OracleError:
        return found
    if len(oracle.channels) > 1:
        found.add("several-channels")
    if oracle.skip_range:
        found.add("skipRange")
    if oracle.skips:
        found.add("skips")
    if any(t == "olm.maxOpenShiftVersion" for t, _ in oracle.other_properties):
        found.add("olm.properties")
    if any("more than one document" in w for w in oracle.warnings):
        found.add("multi-document-file")
    if any(name for _, name in oracle.related_images):
        found.add("relatedImages")
    if (bundle_root / "metadata" / "dependencies.yaml").exists():
        found.add("dependencies.yaml")
    for path in sorted((bundle_root / "manifests").iterdir()):
        try:
            doc: Any = load_first_document(path)
        except Exception:  # features only: an undecodable file adds none
            continue
        if not isinstance(doc, dict):
            continue
        kind = doc.get("kind")
        if kind == "CustomResourceDefinition":
            api = str(doc.get("apiVersion", ""))
            found.add("crd-v1beta1" if api.endswith("v1beta1") else "crd-v1")
            if len((doc.get("spec") or {}).get("versions") or []) > 1:
                found.add("crd-several-versions")
        elif kind == "ClusterServiceVersion":
            spec = doc.get("spec") or {}
            crds = spec.get("customresourcedefinitions") or {}
            apis = spec.get("apiservicedefinitions") or {}
            if crds.get("required"):
                found.add("required-crd")
            if apis.get("required"):
                found.add("required-apiservice")
            if apis.get("owned"):
                found.add("owned-apiservice")
            if spec.get("webhookdefinitions"):
                found.add("webhooks")
            install = (spec.get("install") or {}).get("spec") or {}
            for dep in install.get("deployments") or []:
                pod = ((dep.get("spec") or {}).get("template") or {}).get("spec") or {}
                if pod.get("initContainers"):
                    found.add("initContainers")
        else:
            found.add("extra-objects")
    return found


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def select(
    root: Path, target_bundles: int
) -> tuple[list[str], dict[str, set[str]], dict[str, int]]:
    """The chosen packages, every package's features and bundle counts."""
    with tempfile.TemporaryDirectory() as scratch:
        bundles, _ = collect_bundles(root, Path(scratch))
        features: dict[str, set[str]] = defaultdict(set)
        counts: dict[str, int] = defaultdict(int)
        for bundle in bundles:
            features[bundle.package] |= _features(bundle.root, bundle.layout)
            counts[bundle.package] += 1
    sizes = {name: _size(root / name) for name in features}
    chosen = [name for name in REQUIRED if name in features]
    for feature in FEATURES:
        if any(feature in features[name] for name in chosen):
            continue
        candidates = sorted((n for n in features if feature in features[n]), key=sizes.__getitem__)
        if candidates:
            chosen.append(candidates[0])
    layouts = ("package-manifest", "bundle-layout")
    rest = {
        layout: sorted(
            (n for n in features if layout in features[n] and n not in chosen),
            key=lambda n: sizes[n] / counts[n],
        )
        for layout in layouts
    }
    turn = 0
    while sum(counts[n] for n in chosen) < target_bundles and any(rest.values()):
        queue = rest[layouts[turn % 2]] or rest[layouts[(turn + 1) % 2]]
        chosen.append(queue.pop(0))
        turn += 1
    return sorted(chosen), features, counts


def main(argv: list[str]) -> int:
    """Select and copy the sample; print what was chosen."""
    options = dict(a[2:].split("=", 1) for a in argv if a.startswith("--") and "=" in a)
    mirror = Path(options.get("mirror", str(DEFAULT_MIRROR)))
    dest = Path(options.get("dest", str(DEST)))
    target = int(options.get("bundles", "150"))
    with tempfile.TemporaryDirectory(prefix="corpus-") as tmp:
        commit = extract_corpus(mirror, Path(tmp))
        root = Path(tmp) / CORPUS_DIR
        chosen, features, counts = select(root, target)
        packages_dest = dest / CORPUS_DIR
        if packages_dest.exists():
            shutil.rmtree(packages_dest)
        packages_dest.mkdir(parents=True)
        for name in chosen:
            shutil.copytree(root / name, packages_dest / name, symlinks=True)
    size = subprocess.run(["du", "-sh", str(dest)], capture_output=True, text=True, check=False)
    print(f"commit {commit}: {len(chosen)} packages, {sum(counts[n] for n in chosen)} bundles")
    print(size.stdout.strip())
    for name in chosen:
        why = REQUIRED.get(name, "")
        print(f"| {name} | {counts[name]} | {', '.join(sorted(features[name]))} | {why} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
