#!/usr/bin/env python3
"""Generate the Python stubs and Envoy's descriptor set from ``protos/``.

``make protos`` runs this. The output is committed:

* ``services/common/pb/**`` — ``*_pb2.py``, ``*_pb2.pyi`` and ``*_pb2_grpc.py`` for every proto,
  with imports rewritten from ``iib.v1`` / ``envoy.service...`` to ``services.common.pb.…`` so the
  stubs live inside our package instead of claiming top-level module names;
* ``deploy/envoy/iib.pb`` — the descriptor set (with imports) that Envoy's gRPC-JSON transcoder
  reads.

``--check`` regenerates into a scratch directory and fails, listing the stale files, when the
committed output differs; the test suite runs it so stale stubs cannot land.
"""

from __future__ import annotations

import argparse
import filecmp
import re
import shutil
import site
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROTO_DIR = ROOT / "protos"
PB_DIR = ROOT / "services" / "common" / "pb"
DESCRIPTOR = ROOT / "deploy" / "envoy" / "iib.pb"
# The services whose REST mapping Envoy transcodes.
# google.rpc.ErrorInfo: the typed API's error details, which the transcoder renders for JSON clients.
TRANSCODED = [
    "iib/v1/builds.proto",
    "iib/builds/v1/build_service.proto",
    "google/rpc/error_details.proto",
]
_IMPORT_RE = re.compile(r"^(from|import) (iib|envoy)\.", re.MULTILINE)


def _include_dirs() -> list[str]:
    import grpc_tools

    dirs = [str(PROTO_DIR), str(Path(grpc_tools.__file__).parent / "_proto")]
    # googleapis-common-protos ships google/api/*.proto and google/rpc/*.proto in site-packages,
    # which grpc_tools does not put on the include path.
    for sp in site.getsitepackages():
        if (Path(sp) / "google" / "api" / "annotations.proto").exists():
            dirs.append(sp)
            break
    else:
        raise SystemExit("googleapis-common-protos is not installed (google/api/annotations.proto)")
    return dirs


def _protoc(args: list[str]) -> None:
    from grpc_tools import protoc

    if protoc.main(["protoc", *args]) != 0:
        raise SystemExit(f"protoc failed: {' '.join(args)}")


def generate(pb_dir: Path, descriptor: Path) -> None:
    """Write the stubs under ``pb_dir`` and the descriptor set at ``descriptor``."""
    protos = sorted(str(p.relative_to(PROTO_DIR)) for p in PROTO_DIR.rglob("*.proto"))
    includes = [f"-I{d}" for d in _include_dirs()]
    pb_dir.mkdir(parents=True, exist_ok=True)
    out = str(pb_dir)
    _protoc(
        [*includes, f"--python_out={out}", f"--pyi_out={out}", f"--grpc_python_out={out}", *protos]
    )
    for path in pb_dir.rglob("*.py*"):
        text = path.read_text()
        path.write_text(_IMPORT_RE.sub(r"\1 services.common.pb.\2.", text))
    for directory in [pb_dir, *[p for p in pb_dir.rglob("*") if p.is_dir()]]:
        (directory / "__init__.py").touch()
    descriptor.parent.mkdir(parents=True, exist_ok=True)
    _protoc([*includes, "--include_imports", f"--descriptor_set_out={descriptor}", *TRANSCODED])


def stale_files() -> list[str]:
    """Regenerate into a scratch directory and return the committed files that differ."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp_pb = Path(tmp) / "pb"
        tmp_desc = Path(tmp) / "iib.pb"
        generate(tmp_pb, tmp_desc)
        stale: list[str] = []
        fresh = {p.relative_to(tmp_pb) for p in tmp_pb.rglob("*") if p.is_file()}
        committed = {
            p.relative_to(PB_DIR)
            for p in PB_DIR.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts
        }
        for rel in sorted(fresh | committed):
            a, b = tmp_pb / rel, PB_DIR / rel
            if not (a.exists() and b.exists() and filecmp.cmp(a, b, shallow=False)):
                stale.append(str(PB_DIR.relative_to(ROOT) / rel))
        if not (DESCRIPTOR.exists() and filecmp.cmp(tmp_desc, DESCRIPTOR, shallow=False)):
            stale.append(str(DESCRIPTOR.relative_to(ROOT)))
        return stale


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if committed output is stale")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files()
        if stale:
            print("generated code is stale; run `make protos`:\n  " + "\n  ".join(stale))
            return 1
        print("generated code is up to date")
        return 0
    if PB_DIR.exists():
        shutil.rmtree(PB_DIR)
    generate(PB_DIR, DESCRIPTOR)
    print(f"wrote {PB_DIR.relative_to(ROOT)} and {DESCRIPTOR.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
