"""`make bench`: run every benchmark part, or the ones named on the command line.

Each part is a module of this package with a ``main(argv: list[str]) -> None`` that prints its
figures and the sizes it ran at. ``python -m tests.bench catalog registry`` runs two parts.
"""

from __future__ import annotations

import importlib
import sys

PARTS = [
    "api",
    "total",
    "dispatch",
    "catalog",
    "state",
    "registry",
    "e2e",
    "corpus",
    "hostile",
    "scale",
]
#: parts run only when named: they compare with a revision given on the command line
EXTRA = ["store_cpu"]


def main(argv: list[str]) -> int:
    names = [a for a in argv if not a.startswith("-")] or PARTS
    options = [a for a in argv if a.startswith("-")]
    for name in names:
        if name not in PARTS + EXTRA:
            known = ", ".join(PARTS + EXTRA)
            print(f"unknown benchmark part {name!r}; known: {known}", file=sys.stderr)
            return 2
    for name in names:
        print(f"\n=== bench: {name} ===", flush=True)
        module = importlib.import_module(f"tests.bench.{name}")
        module.main(options)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
