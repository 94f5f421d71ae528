"""GitLab push of an index's /configs against a real Git server over HTTP (git http-backend
behind basic auth, as GitLab takes a project access token).

Expected behaviour comes from IIB's ``iib/workers/tasks/git_utils.py`` (branch = from_index's
tag, which must exist; the token map's ``token_name:token_value``; removed operators deleted,
built packages copied over; the commit message; the revert of the pushed commit) and its
messages.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.common.config import Settings, load_settings
from services.common.errors import IIBError
from services.index_builder.gitlab import ConfigsRepository
from services.tooling.servers.git_http import GitHttpServer, start_git_http

TOKEN_NAME, TOKEN = "iib-bot", "glpat-s3cret"
INDEX = "quay.example.com/ns/index"


@pytest.fixture(scope="module")
def git_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitHttpServer]:
    server = start_git_http(tmp_path_factory.mktemp("git"), TOKEN_NAME, TOKEN)
    yield server
    server.stop()


def _settings(repository: str, token: str = f"{TOKEN_NAME}:{TOKEN}") -> Settings:
    return load_settings(
        environ={"IIB_REQUEST_RECURSIVE_RELATED_BUNDLES_DIR": "/n"},
        overrides={
            "IIB_INDEX_TO_GITLAB_PUSH_MAP": {INDEX: repository},
            "iib_index_configs_gitlab_tokens_map": {repository: token},
        },
        iib_settings_file=None,
    )


def _remote(server: GitHttpServer, name: str, *args: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(server.bare(name)), *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def _catalog(root: Path, packages: dict[str, str]) -> Path:
    for package, text in packages.items():
        (root / package).mkdir(parents=True)
        (root / package / "catalog.json").write_text(text)
    return root


def _new_repo(server: GitHttpServer, name: str) -> None:
    server.create_repository(
        name,
        "v4.15",
        {
            "configs/removed-op/catalog.json": '{"schema": "olm.package", "name": "removed-op"}',
            "configs/kept-op/catalog.json": '{"old": true}',
            "configs/other-op/catalog.json": '{"other": true}',
            "README.md": "index configs\n",
        },
    )


def test_built_configs_are_pushed_with_iibs_commit(
    git_server: GitHttpServer, tmp_path: Path
) -> None:
    _new_repo(git_server, "push")
    configs = _catalog(
        tmp_path / "configs", {"kept-op": '{"new": true}', "added-op": '{"added": true}'}
    )
    repo = ConfigsRepository.for_index(_settings(git_server.url("push")), f"{INDEX}:v4.15")
    assert repo is not None
    pushed = repo.push_configs(7, configs, ["removed-op"], tmp_path / "clone")
    assert pushed is not None
    assert _remote(git_server, "push", "log", "-1", "--format=%s|%an|%ae", "v4.15").strip() == (
        "IIB: Update for request id 7 (overwrite_from_index)|IIB Worker|iib-worker@redhat.com"
    )
    files = _remote(git_server, "push", "ls-tree", "-r", "--name-only", "v4.15").split()
    assert sorted(files) == [
        "README.md",
        "configs/added-op/catalog.json",
        "configs/kept-op/catalog.json",
        "configs/other-op/catalog.json",  # not in the built catalog: IIB leaves it
    ]
    kept = _remote(git_server, "push", "show", "v4.15:configs/kept-op/catalog.json")
    assert json.loads(kept) == {"new": True}
    assert _remote(git_server, "push", "rev-parse", "v4.15").strip() == pushed.commit
    # nothing changed: no commit
    again = repo.push_configs(8, configs, ["removed-op"], tmp_path / "clone2")
    assert again is None
    assert _remote(git_server, "push", "rev-parse", "v4.15").strip() == pushed.commit


def test_the_revert_restores_the_branch(git_server: GitHttpServer, tmp_path: Path) -> None:
    _new_repo(git_server, "revert")
    before = _remote(git_server, "revert", "rev-parse", "v4.15").strip()
    repo = ConfigsRepository.for_index(_settings(git_server.url("revert")), f"{INDEX}:v4.15")
    assert repo is not None
    pushed = repo.push_configs(9, _catalog(tmp_path / "c", {"x": "{}"}), [], tmp_path / "clone")
    assert pushed is not None and pushed.parent == before
    assert repo.revert(pushed) is True
    assert _remote(git_server, "revert", "rev-parse", "v4.15").strip() == before
    # a branch that moved on after the push is left alone (IIB would drop that commit)
    pushed = repo.push_configs(10, _catalog(tmp_path / "d", {"y": "{}"}), [], tmp_path / "c2")
    assert pushed is not None
    later = repo.push_configs(11, _catalog(tmp_path / "e", {"z": "{}"}), [], tmp_path / "c3")
    assert later is not None
    assert repo.revert(pushed) is False
    assert _remote(git_server, "revert", "rev-parse", "v4.15").strip() == later.commit


def test_iibs_errors_for_a_missing_branch_token_or_a_wrong_token(
    git_server: GitHttpServer, tmp_path: Path
) -> None:
    _new_repo(git_server, "errors")
    url = git_server.url("errors")
    configs = _catalog(tmp_path / "configs", {"a": "{}"})
    repo = ConfigsRepository.for_index(_settings(url), f"{INDEX}:v4.99")
    assert repo is not None
    with pytest.raises(IIBError, match=f"Remote branch 'v4.99' not found for repo {url}"):
        repo.push_configs(1, configs, [], tmp_path / "clone")
    settings = _settings(url)
    with pytest.raises(
        IIBError, match="Missing key 'https://elsewhere/x' in 'iib_index_configs_gitlab_tokens_map'"
    ):
        ConfigsRepository(settings, "https://elsewhere/x", "v4.15")
    wrong = ConfigsRepository.for_index(_settings(url, f"{TOKEN_NAME}:wrong"), f"{INDEX}:v4.15")
    assert wrong is not None
    with pytest.raises(IIBError) as exc:
        wrong.push_configs(1, configs, [], tmp_path / "clone")
    assert "wrong" not in str(exc.value) and TOKEN not in str(exc.value)
    assert ConfigsRepository.for_index(_settings(url), "quay.example.com/ns/other:v4.15") is None


def test_the_request_stores_map_travels_with_the_job(tmp_path: Path) -> None:
    """IIB_INDEX_TO_GITLAB_PUSH_MAP is a REST API setting in IIB, passed with each task: here the
    request store puts its map in every job, and the index builder prefers it to its own."""
    from services.common.secrets import SecretBox, generate_key
    from services.index_builder.gitlab import _push_map
    from services.request_store.db import upgrade
    from services.request_store.service import job_message
    from services.request_store.store import Store, make_engine

    store_settings = load_settings(
        environ={"IIB_REQUEST_RECURSIVE_RELATED_BUNDLES_DIR": "/n"},
        overrides={"IIB_INDEX_TO_GITLAB_PUSH_MAP": {INDEX: "https://git.example.com/c"}},
        iib_settings_file=None,
    )
    builder_settings = load_settings(
        environ={"IIB_REQUEST_RECURSIVE_RELATED_BUNDLES_DIR": "/n"}, iib_settings_file=None
    )
    engine = make_engine(f"sqlite:///{tmp_path}/db.sqlite")
    upgrade(engine)
    store = Store(engine, SecretBox([generate_key()]))
    store.outbox_builder = lambda *_: []
    from services.request_store.domain import NewRequest, RequestType

    rid = store.create([NewRequest(RequestType.RM)], user=None, queues=[None]).request_ids[0]
    job = job_message(store.stored_request(rid), store_settings)
    assert _push_map(builder_settings, job.index_to_gitlab_push_map_json) == {
        INDEX: "https://git.example.com/c"
    }
    # a request store without a map: the index builder's own applies
    empty = job_message(store.stored_request(rid), builder_settings)
    assert _push_map(store_settings, empty.index_to_gitlab_push_map_json) == {
        INDEX: "https://git.example.com/c"
    }
