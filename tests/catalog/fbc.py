"""FBC documents written out by hand for tests: a package whose channel lists bundles without
``replaces`` (so two or more are several channel heads, which ``opm validate`` refuses)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def package_docs(
    package: str,
    bundles: Sequence[str] = ("x", "y"),
    *,
    default: str = "stable",
    properties: Sequence[dict[str, Any]] = (),
) -> list[dict[str, Any]]:
    """``package`` (default channel ``default``), its channel ``stable`` listing
    ``<package>.<b>`` for each of ``bundles`` with no ``replaces``, and those bundles (version
    ``<n>.0.0``, ``properties`` added to each)."""
    names = [f"{package}.{b}" for b in bundles]
    return [
        {"schema": "olm.package", "name": package, "defaultChannel": default},
        {
            "schema": "olm.channel",
            "package": package,
            "name": "stable",
            "entries": [{"name": name} for name in names],
        },
        *(
            {
                "schema": "olm.bundle",
                "package": package,
                "name": name,
                "image": f"quay.io/ns/{package}@sha256:{n:064x}",
                "properties": [
                    {
                        "type": "olm.package",
                        "value": {"packageName": package, "version": f"{n}.0.0"},
                    },
                    *properties,
                ],
            }
            for n, name in enumerate(names, start=1)
        ),
    ]


def write_doc_files(root: Path, files: dict[str, list[dict[str, Any]]]) -> None:
    """Each of ``files`` (path under ``root`` -> documents) as one JSON document per line."""
    for rel, docs in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("\n".join(json.dumps(d) for d in docs))
