"""``iib db import-iib``: the import's progress and report on the terminal."""

from __future__ import annotations

import sys

from sqlalchemy import Engine

from services.request_store.iib_import import ImportReport, import_iib

__all__ = ["run_import"]


def _progress(report: ImportReport) -> None:
    done = report.imported + report.already_there + len(report.skipped)
    rate = report.imported / report.seconds if report.seconds else 0.0
    share = 100.0 * done / report.total if report.total else 100.0
    print(
        f"\r{done}/{report.total} requests ({share:.1f} %), {report.imported} imported, "
        f"{report.already_there} already there, {len(report.skipped)} not importable, "
        f"{rate:.0f} requests/s",
        end="",
        file=sys.stderr,
        flush=True,
    )


def run_import(source_url: str, target: Engine, chunk: int, fail_in_progress: bool = False) -> int:
    """Run the import with progress on stderr and the report on stdout; 1 when a request could
    not be imported."""
    report = import_iib(
        source_url,
        target,
        chunk=max(1, chunk),
        progress=_progress,
        fail_in_progress=fail_in_progress,
    )
    print(file=sys.stderr)
    print(
        f"imported {report.imported} requests ({report.already_there} were there already) in "
        f"{report.seconds:.1f} s; new requests continue after request {report.highest_id} and "
        f"batch {report.highest_batch}"
    )
    if report.in_progress:
        shown = ", ".join(str(i) for i in report.in_progress[:20])
        more = " ..." if len(report.in_progress) > 20 else ""
        fate = (
            "are now failed"
            if fail_in_progress
            else "stay so (nothing will build them; --fail-in-progress fails them)"
        )
        print(
            f"{len(report.in_progress)} imported requests were in progress in IIB and {fate}; "
            f"resubmit them: {shown}{more}"
        )
    for rid, reason in sorted(report.skipped.items()):
        print(f"request {rid} was not imported: {reason}")
    return 1 if report.skipped else 0
