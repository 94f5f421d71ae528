"""``iib db import-iib``: an IIB 9.5 database (PostgreSQL with IIB's schema, ``iib_9_5/schema.sql``
written from IIB's Alembic migrations, seeded with every request type by ``iib_9_5/seed.sql``)
is copied into the request store, and every request's REST JSON is what IIB answered
(``iib_9_5/builds.json``, written by hand from IIB's models' ``to_json``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine

from services.common.config import Settings, load_settings
from services.common.errors import IIBError
from services.common.secrets import generate_key
from services.request_store.db import upgrade
from services.request_store.iib_import import FAILED_ON_IMPORT, ImportReport, import_iib
from services.request_store.server import build_core
from services.request_store.service import CallContext, RequestStoreCore
from services.request_store.store import make_engine
from services.tooling.servers.postgres import PostgresServer, start_postgres

pytestmark = [pytest.mark.db]

HERE = Path(__file__).parent / "iib_9_5"
EXPECTED: dict[str, Any] = json.loads((HERE / "builds.json").read_text())
BASE_URL = "http://iib.example.com"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def iib_postgres(postgres_server: PostgresServer | None) -> Iterator[PostgresServer]:
    """IIB's database is PostgreSQL whatever database the suite runs on."""
    if postgres_server is not None:
        yield postgres_server
        return
    base = Path(tempfile.mkdtemp(prefix="iib-import-pg-"))
    server = start_postgres(base)
    yield server
    server.stop()
    shutil.rmtree(base, ignore_errors=True)


_sources = iter(range(1, 1000))


@pytest.fixture
def iib_database(iib_postgres: PostgresServer) -> Callable[..., str]:
    """A factory of IIB databases (schema and seed, then ``extra`` SQL); returns the URL."""

    def make(extra: str = "") -> str:
        url = iib_postgres.create_database(f"iib_source_{next(_sources)}")
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.exec_driver_sql((HERE / "schema.sql").read_text())
            conn.exec_driver_sql((HERE / "seed.sql").read_text())
            if extra:
                conn.exec_driver_sql(extra)
        engine.dispose()
        return url

    return make


def _env(target: str, tmp_path: Path) -> dict[str, str]:
    return {
        "SQLALCHEMY_DATABASE_URI": target,
        "IIB_SECRETS_KEY": generate_key(),
        "IIB_REQUEST_LOGS_DIR": str(tmp_path / "logs"),
        "IIB_REQUEST_RELATED_BUNDLES_DIR": str(tmp_path / "related"),
        "IIB_REQUEST_RECURSIVE_RELATED_BUNDLES_DIR": str(tmp_path / "nested"),
    }


def _core(target: str, tmp_path: Path) -> RequestStoreCore:
    settings: Settings = load_settings(environ=_env(target, tmp_path), iib_settings_file=None)
    return build_core(settings)


def _rest(core: RequestStoreCore, request_id: str) -> Any:
    return json.loads(core.get_build(request_id, CallContext(user=None, base_url=BASE_URL)))


def _assert_same_as_iib(core: RequestStoreCore) -> None:
    for request_id, expected in EXPECTED.items():
        assert _rest(core, request_id) == expected, f"request {request_id}"


def test_every_request_reads_as_iib_answered_and_new_ids_follow(
    iib_database: Callable[..., str], new_database_url: Callable[[], str], tmp_path: Path
) -> None:
    source, target = iib_database(), new_database_url()
    done = subprocess.run(
        [sys.executable, "-m", "services.tooling.cli", "db", "import-iib", "--from", source],
        env={"PATH": os.environ["PATH"], **_env(target, tmp_path)},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    assert "imported 13 requests" in done.stdout
    assert "after request 4242 and batch 4000" in done.stdout
    assert "2 imported requests were in progress in IIB" in done.stdout
    assert "13/13 requests (100.0 %)" in done.stderr  # progress

    core = _core(target, tmp_path)
    _assert_same_as_iib(core)
    schema = core.deprecation_schema("60")
    assert json.loads(schema)["package"] == "keda"
    listed = json.loads(
        core.list_builds({"user": ["release-bot@REDHAT.COM"]}, CallContext(None, BASE_URL))
    )
    assert [item["id"] for item in listed["items"]] == [60, 40, 13, 12]
    # a new request continues after IIB's highest request and batch
    created = json.loads(
        core.submit(
            "add",
            json.dumps(
                {
                    "bundles": ["quay.example.com/ns/keda-bundle:1.6.0"],
                    "binary_image": "b:1",
                    "add_arches": ["amd64"],
                }
            ).encode(),
            "application/json",
            CallContext(user="tbrady@DOMAIN.LOCAL", base_url=BASE_URL),
            "",
        )
    )
    assert (created["id"], created["batch"]) == (4243, 4001)
    # the imported bundle images kept their package: a new add's mapping uses it
    again = json.loads(
        core.submit(
            "add",
            json.dumps(
                {
                    "bundles": [EXPECTED["7"]["bundles"][0]],
                    "binary_image": "b:1",
                    "add_arches": ["amd64"],
                }
            ).encode(),
            "application/json",
            CallContext(user="tbrady@DOMAIN.LOCAL", base_url=BASE_URL),
            "",
        )
    )
    assert again["bundle_mapping"] == {"keda": [EXPECTED["7"]["bundles"][0]]}


def test_an_interrupted_import_resumes_and_a_repeated_one_changes_nothing(
    iib_database: Callable[..., str], new_database_url: Callable[[], str], tmp_path: Path
) -> None:
    source, target = iib_database(), new_database_url()
    engine = make_engine(target)
    upgrade(engine)

    def interrupt(report: ImportReport) -> None:
        raise KeyboardInterrupt  # the operator's ^C after the first chunk

    with pytest.raises(KeyboardInterrupt):
        import_iib(source, engine, chunk=4, progress=interrupt)
    resumed = import_iib(source, engine, chunk=4)
    assert (resumed.already_there, resumed.imported, resumed.skipped) == (4, 9, {})
    repeated = import_iib(source, engine, chunk=100)
    assert (repeated.already_there, repeated.imported) == (13, 0)
    _assert_same_as_iib(_core(target, tmp_path))


def test_requests_the_service_took_before_the_import_stop_it(
    iib_database: Callable[..., str], new_database_url: Callable[[], str], tmp_path: Path
) -> None:
    source, target = iib_database(), new_database_url()
    core = _core(target, tmp_path)
    body = json.dumps({"bundles": ["q/b:1"], "binary_image": "b:1", "add_arches": ["amd64"]})
    for _ in range(7):
        core.submit("add", body.encode(), "application/json", CallContext("u", BASE_URL), "")
    with pytest.raises(IIBError, match="already holds a request 7"):
        import_iib(source, core.store.engine)


def test_values_out_of_bounds_are_reported_not_imported(
    iib_database: Callable[..., str], new_database_url: Callable[[], str], tmp_path: Path
) -> None:
    source = iib_database(
        "UPDATE request_state SET state = 9 WHERE id = 181;"
        'UPDATE request_create_empty_index SET labels = \'["not", "an object"]\' WHERE id = 31;'
        f"UPDATE request_state SET state_reason = repeat('x', {70_000}) WHERE id = 150;"
    )
    engine = make_engine(new_database_url())
    upgrade(engine)
    report = import_iib(source, engine)
    assert report.skipped == {
        31: "labels is not a JSON object",
        40: "a state reason is longer than 65536 characters",
        52: "a state 9 is not one of IIB's states",
    }
    assert report.imported == 10


def test_fail_in_progress_fails_what_iib_had_not_finished(
    iib_database: Callable[..., str], new_database_url: Callable[[], str], tmp_path: Path
) -> None:
    source, target = iib_database(), new_database_url()
    engine = make_engine(target)
    upgrade(engine)
    report = import_iib(source, engine, fail_in_progress=True)
    assert sorted(report.in_progress) == [21, 4242]
    core = _core(target, tmp_path)
    for request_id in ("21", "4242"):
        build = _rest(core, request_id)
        assert build["state"] == "failed"
        assert build["state_reason"] == FAILED_ON_IMPORT
        # IIB's history is kept under the new last state
        assert build["state_history"][1:] == EXPECTED[request_id]["state_history"]
    assert _rest(core, "7") == EXPECTED["7"]
