"""`make bench BENCH_ARGS="corpus --path=<dir>"`: the community-operators corpus sweep.

Every bundle of operator-framework/community-operators (``upstream-community-operators/``) is
rendered by the catalog engine (``render_bundle``, ``csv_metadata`` off and on) and compared
field by field with an independent reading of the same directory written from opm's rules
(``tests/catalog/corpus/oracle.py``). Package-manifest versions are converted to bundles first,
as ``opm alpha bundle generate`` does (``tests/catalog/corpus/convert.py``). Then each package's
bundles are added in version order onto an empty catalog, one ``add_bundles`` (replaces mode)
+ ``validate`` at a time, as IIB adds them; a package is built when every add passes, else
refused at its first failure.

Options:

* ``--path=DIR``  - a community-operators checkout (or its ``upstream-community-operators/``, or
  ``tests/fixtures/corpus-sample``); default: ``git archive`` of the mirror below into a
  temporary directory;
* ``--mirror=DIR`` - the bare git mirror to extract from (default
  ``/work/.mirror/operator-framework+community-operators/repo``, or ``$IIB_CORPUS_MIRROR``);
* ``--show=N``    - list at most N mismatches (default 50).

It prints the bundles checked, the mismatches by field (each listed with bundle path, field,
ours vs oracle), the refusals both sides agree on, the time, and the packages built or
refused with the refusals grouped by reason.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

from services.catalog import RenderedBundle
from tests.catalog.corpus.compare import (
    BundleOutcome,
    build_packages,
    compare_bundle,
    group_reason,
)
from tests.catalog.corpus.convert import (
    CORPUS_DIR,
    DEFAULT_MIRROR,
    LAYOUT_BUNDLE,
    collect_bundles,
    extract_corpus,
    packages_root,
)


def _option(argv: list[str], name: str, default: str | None = None) -> str | None:
    for arg in argv:
        if arg.startswith(f"--{name}="):
            return arg.split("=", 1)[1]
    return default


def _commit_of(path: Path) -> str:
    """The corpus commit: named in the sample's README.md, or HEAD of a checkout at ``path``."""
    readme = path / "README.md"
    if readme.is_file():
        found = re.search(r"commit `([0-9a-f]{40})`", readme.read_text(encoding="utf-8"))
        if found:
            return found.group(1)
    top = subprocess.run(
        ["git", "-C", str(path), "rev-parse", "--show-toplevel", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    lines = top.stdout.split()
    if top.returncode == 0 and len(lines) == 2 and Path(lines[0]).resolve() == path.resolve():
        return lines[1]
    return "unknown"


def _sweep(root: Path, commit: str, show: int) -> None:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="corpus-convert-") as scratch:
        bundles, problems = collect_bundles(root, Path(scratch))
        converted_at = time.perf_counter()
        outcomes: list[BundleOutcome] = [compare_bundle(b) for b in bundles]
        compared_at = time.perf_counter()

    layouts = Counter(b.layout for b in bundles)
    print(f"corpus: {root}")
    print(f"commit: {commit}")
    print(
        f"bundles checked: {len(bundles)} ({layouts[LAYOUT_BUNDLE]} bundle layout, "
        f"{len(bundles) - layouts[LAYOUT_BUNDLE]} converted from package manifests; "
        f"{len(problems)} package-manifest versions not convertible)"
    )
    for problem in problems:
        print(f"  not convertible: {problem.source}: {problem.reason}")

    mismatches = [m for o in outcomes for m in o.mismatches]
    by_field = Counter(
        m.field.split("[")[0] if "object[" in m.field else m.field for m in mismatches
    )
    bad_bundles = sum(1 for o in outcomes if o.mismatches)
    print(f"mismatches: {len(mismatches)} in {bad_bundles} bundles")
    for name, count in sorted(by_field.items(), key=lambda item: (-item[1], item[0])):
        print(f"  {count:5d}  {name}")
    for mismatch in mismatches[:show]:
        print(f"  - {mismatch}")
    if len(mismatches) > show:
        print(f"  ... {len(mismatches) - show} more (--show=N)")
    both = Counter(o.both_failed for o in outcomes if o.both_failed)
    print(f"refused by both opm (oracle) and the engine: {sum(both.values())}")
    for reason, count in both.most_common():
        print(f"  {count:5d}  {reason}")
    deliberate = Counter(o.deliberate for o in outcomes if o.deliberate)
    print(f"deliberate engine differences: {sum(deliberate.values())}")
    for reason, count in deliberate.most_common():
        print(f"  {count:5d}  {reason}")
    print(
        f"time: {compared_at - started:.1f} s "
        f"(collect/convert {converted_at - started:.1f} s, render+oracle {compared_at - converted_at:.1f} s)"
    )

    # Per-package add sweep.
    sweep_started = time.perf_counter()
    rendered: dict[str, list[RenderedBundle]] = defaultdict(list)
    failed: dict[str, str] = {}
    names: dict[str, set[str]] = defaultdict(set)
    for outcome in outcomes:
        if outcome.rendered is not None:
            rendered[outcome.package].append(outcome.rendered)
            names[outcome.package].add(outcome.rendered.csv_name)
        elif outcome.package not in failed:
            failed[outcome.package] = (
                outcome.engine_error or f"opm refuses: {outcome.both_failed or 'see mismatches'}"
            )
    results = build_packages(rendered, failed)
    built = [r for r in results if r.built]
    refused = [r for r in results if not r.built]
    print(
        f"packages: {len(results)}; built: {len(built)} "
        f"({sum(r.added for r in built)} bundles); refused: {len(refused)}"
    )
    grouped: dict[str, list[str]] = defaultdict(list)
    for result in refused:
        assert result.reason is not None
        grouped[group_reason(result.reason, names[result.package], result.package)].append(
            f"{result.package} ({result.added}/{result.bundles} added)"
        )
    for reason, packages in sorted(grouped.items(), key=lambda item: (-len(item[1]), item[0])):
        examples = ", ".join(packages[:4]) + (", ..." if len(packages) > 4 else "")
        print(f"  {len(packages):4d}  {reason}")
        print(f"        e.g. {examples}")
    print(f"time (add sweep): {time.perf_counter() - sweep_started:.1f} s")


def main(argv: list[str]) -> None:
    """Run the corpus sweep (see the module docstring for the options)."""
    show = int(_option(argv, "show", "50") or "50")
    path = _option(argv, "path")
    if path:
        root = Path(path).resolve()
        _sweep(packages_root(root), _commit_of(root), show)
        return
    mirror = Path(_option(argv, "mirror") or DEFAULT_MIRROR)
    if not mirror.exists():
        print(f"no corpus: {mirror} does not exist; pass --path=<community-operators checkout>")
        return
    with tempfile.TemporaryDirectory(prefix="corpus-") as tmp:
        commit = extract_corpus(mirror, Path(tmp))
        print(f"extracted {CORPUS_DIR} of {mirror} at {commit} into {tmp}")
        _sweep(Path(tmp) / CORPUS_DIR, commit, show)
