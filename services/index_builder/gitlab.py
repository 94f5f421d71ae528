"""GitLab push of an index's ``/configs`` (IIB's ``IIB_INDEX_TO_GITLAB_PUSH_MAP``).

For an add or rm request with ``overwrite_from_index`` whose from_index is a File-Based
Catalog index listed in the map (by ``registry/namespace/repo``; the request store's map, sent
with each job as IIB's REST API sends it with each task, else the index builder's own), IIB
pushes the built catalog
to the mapped Git repository before it overwrites from_index, on the branch named by
from_index's tag (``v4.15``), and reverts that commit if the overwrite fails. As IIB:

* the branch must exist (``Remote branch '<branch>' not found for repo <url>``); the token is
  ``iib_index_configs_gitlab_tokens_map[<url>]`` = ``token_name:token_value`` (HTTP basic auth);
* the operators the request removes (rm's operators, an add's deprecated packages) are deleted
  from the repository's ``configs/``, then every package directory of the built catalog is
  copied over; nothing changed: no commit;
* the commit is ``IIB: Update for request id <id> (overwrite_from_index)`` by
  ``IIB Worker <iib-worker@redhat.com>``.

Differences, on purpose: the token never appears in a URL, a command line or a log (git gets
it as an ``http.<url>.extraHeader`` through its environment, so it is sent to that URL only);
the revert moves the branch back only if it still points at the commit this request pushed
(IIB resets whatever the last commit is, even one it did not push); every git command is
bounded in time.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.catalog.labels import BUNDLE_PACKAGE
from services.common.config import Settings
from services.common.errors import IIBError
from services.common.reference import name_without_tag_or_digest, parse_reference
from services.index_builder.index_image import index_kind

__all__ = [
    "COMMIT_MESSAGE",
    "ConfigsRepository",
    "GitPush",
    "PushedCommit",
    "git_repository_for",
    "push_configs_to_git",
]

log = logging.getLogger(__name__)

COMMIT_MESSAGE = "IIB: Update for request id {request_id} (overwrite_from_index)"
GIT_USER = ("IIB Worker", "iib-worker@redhat.com")
#: seconds one git command may take (a clone of a large catalog repository included)
GIT_TIMEOUT = 600.0
_OUTPUT_LIMIT = 2000


@dataclass(frozen=True)
class PushedCommit:
    """A commit pushed for a request: enough to revert exactly it."""

    repository: str
    branch: str
    commit: str
    parent: str
    clone: Path


def git_repository_for(push_map: Mapping[str, str], from_index: str) -> str | None:
    """The Git repository the index's configs go to, or None when it is not in the map."""
    return push_map.get(name_without_tag_or_digest(from_index))


class ConfigsRepository:
    """One Git repository and branch the configs of an index are pushed to."""

    def __init__(self, settings: Settings, repository: str, branch: str) -> None:
        token = settings.index_configs_gitlab_tokens_map.get(repository)
        if token is None:
            raise IIBError(f"Missing key '{repository}' in 'iib_index_configs_gitlab_tokens_map'")
        name, _, value = token.partition(":")
        self.repository = repository
        self.branch = branch
        basic = base64.b64encode(f"{name}:{value.split(':')[0]}".encode()).decode()
        # the credentials reach git through its environment only, for this URL only
        self._env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/nonexistent"),
            "LANG": "C.UTF-8",
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_CONFIG_COUNT": "3",
            "GIT_CONFIG_KEY_0": f"http.{repository}.extraHeader",
            "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
            # give up on a stalled transfer (below 1 KB/s for a minute)
            "GIT_CONFIG_KEY_1": "http.lowSpeedLimit",
            "GIT_CONFIG_VALUE_1": "1000",
            "GIT_CONFIG_KEY_2": "http.lowSpeedTime",
            "GIT_CONFIG_VALUE_2": "60",
        }

    @classmethod
    def for_index(
        cls, settings: Settings, from_index: str, push_map: Mapping[str, str] | None = None
    ) -> ConfigsRepository | None:
        """The repository of ``from_index`` (branch: its tag) in ``push_map`` (default:
        IIB_INDEX_TO_GITLAB_PUSH_MAP), or None when it is not mapped."""
        mapping = settings.index_to_gitlab_push_map if push_map is None else push_map
        repository = git_repository_for(mapping, from_index)
        if repository is None:
            log.info("no Git repository is set for %s: its configs are not pushed", from_index)
            return None
        tag = parse_reference(from_index).tag
        if not tag:
            raise IIBError(f"The from_index {from_index} has no tag naming the Git branch")
        return cls(settings, repository, tag)

    # --- git -------------------------------------------------------------------------------

    def _git(self, *args: str, cwd: Path | None = None, what: str) -> str:
        try:
            done = subprocess.run(
                ["git", *args],
                cwd=cwd,
                env=self._env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=GIT_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise IIBError(f"{what}: git did not finish within {GIT_TIMEOUT:.0f} s") from None
        if done.returncode != 0:
            error = done.stderr.decode(errors="replace").strip()[-_OUTPUT_LIMIT:]
            raise IIBError(f"{what}: {error}")
        return done.stdout.decode(errors="replace")

    def _check_branch(self) -> None:
        heads = self._git(
            "ls-remote",
            "--heads",
            self.repository,
            self.branch,
            what=f"Error reading the branches of {self.repository}",
        )
        if not heads.strip():
            raise IIBError(f"Remote branch '{self.branch}' not found for repo {self.repository}")

    def _clone(self, dest: Path) -> None:
        if dest.exists():
            shutil.rmtree(dest)
        self._git(
            "clone",
            "--quiet",
            "--depth",
            "1",
            "--branch",
            self.branch,
            "--single-branch",
            self.repository,
            str(dest),
            what=f"Error cloning remote repository for {self.repository}",
        )
        for key, value in (("user.name", GIT_USER[0]), ("user.email", GIT_USER[1])):
            self._git("config", "--local", key, value, cwd=dest, what="Error configuring git")

    # --- push and revert ----------------------------------------------------------------------

    def push_configs(
        self, request_id: int, configs: Path, removed: Iterable[str], clone: Path
    ) -> PushedCommit | None:
        """Commit ``configs`` (the built catalog) to the branch and push it; None when nothing
        changed. ``removed``: packages deleted from the repository first. ``clone``: where the
        repository is cloned (kept for the revert)."""
        self._check_branch()
        if not configs.is_dir():
            raise IIBError(f"Catalog configs directory does not exist: {configs}")
        self._clone(clone)
        target = clone / "configs"
        for package in sorted(set(removed)):
            path = target / package
            if _inside(target, path) and path.is_dir():
                shutil.rmtree(path)
            else:
                log.warning("Operator directory not found for removal: %s", path)
        target.mkdir(exist_ok=True)
        for entry in sorted(configs.iterdir()):
            if entry.is_dir() and not entry.is_symlink():
                shutil.copytree(entry, target / entry.name, dirs_exist_ok=True, symlinks=True)
            elif entry.is_file() and not entry.is_symlink():
                shutil.copy2(entry, target / entry.name)
        self._git("add", "--all", ".", cwd=clone, what="Error staging changes to git")
        status = self._git("status", "--porcelain", cwd=clone, what="Error getting git status")
        if not status.strip():
            log.warning("No changes to commit to %s (%s)", self.repository, self.branch)
            return None
        parent = self._git("rev-parse", "HEAD", cwd=clone, what="Error reading HEAD").strip()
        message = COMMIT_MESSAGE.format(request_id=request_id)
        self._git("commit", "--quiet", "-m", message, cwd=clone, what="Error committing changes")
        commit = self._git("rev-parse", "HEAD", cwd=clone, what="Error reading HEAD").strip()
        log.info("Pushing changes to %s branch of %s", self.branch, self.repository)
        self._git(
            "push",
            "--quiet",
            "origin",
            f"HEAD:refs/heads/{self.branch}",
            cwd=clone,
            what=f"Error pushing changes to git repo {self.repository}",
        )
        log.info("pushed %s to %s (%s)", commit, self.repository, self.branch)
        return PushedCommit(self.repository, self.branch, commit, parent, clone)

    def revert(self, pushed: PushedCommit) -> bool:
        """Move the branch back to the parent of the pushed commit, unless it moved on since
        (then it is left alone and False is returned). Never raises: the caller is failing the
        request already with the overwrite's error."""
        log.info("Reverting last commit to %s branch of %s", pushed.branch, pushed.repository)
        try:
            self._git(
                "push",
                "--quiet",
                f"--force-with-lease=refs/heads/{pushed.branch}:{pushed.commit}",
                "origin",
                f"{pushed.parent}:refs/heads/{pushed.branch}",
                cwd=pushed.clone,
                what=f"Error pushing changes to git repo {pushed.repository}",
            )
        except IIBError as exc:
            log.error(
                "the commit %s was not reverted on %s (%s): %s",
                pushed.commit,
                pushed.repository,
                pushed.branch,
                exc,
            )
            return False
        return True


def _inside(root: Path, path: Path) -> bool:
    """``path`` is below ``root`` (package names come from requests)."""
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return path.resolve() != root.resolve()


@dataclass(frozen=True)
class GitPush:
    """A push done for a request, to revert when from_index cannot be overwritten."""

    repository: ConfigsRepository
    pushed: PushedCommit

    def revert(self) -> bool:
        return self.repository.revert(self.pushed)


def push_configs_to_git(settings: Settings, build: Any, expected: str | None) -> GitPush | None:
    """The index builder's step before it overwrites from_index: for an add or rm request
    whose from_index (``expected``: its digest when the build began) is an FBC index in
    ``IIB_INDEX_TO_GITLAB_PUSH_MAP``, push the built ``/configs`` (IIB's
    ``push_configs_to_git``). None when nothing was pushed. ``build`` is the builder's
    ``_Build`` (its request, registry access, result, workdir and timer)."""
    request = build.ctx.request
    kind = request.WhichOneof("params")
    push_map = _push_map(settings, request.index_to_gitlab_push_map_json)
    if not push_map or kind not in ("add", "rm") or build.result is None:
        return None
    params = request.add if kind == "add" else request.rm
    from_index = params.index.from_index
    if not from_index or git_repository_for(push_map, from_index) is None:
        return None
    if not expected or index_kind(build.images.get_image_labels(expected)) != "fbc":
        log.info("%s is not a File-Based Catalog index: its configs are not pushed", from_index)
        return None
    repository = ConfigsRepository.for_index(settings, from_index, push_map)
    if repository is None:
        return None
    if kind == "rm":
        removed = list(request.rm.operators)
    else:  # an add's deprecated packages (IIB: get_operator_packages_from_deprecation_list)
        removed = []
        for bundle in request.add.deprecation_list:
            package = build.images.get_image_labels(bundle).get(BUNDLE_PACKAGE)
            if package:
                removed.append(package)
    with build.timer.step("git push"):
        pushed = repository.push_configs(
            build.ctx.request_id, build.result.catalog.root, removed, build.workdir / "git"
        )
    return GitPush(repository, pushed) if pushed is not None else None


def _push_map(settings: Settings, from_job: str) -> dict[str, str]:
    """The request store's IIB_INDEX_TO_GITLAB_PUSH_MAP, sent with the job (in IIB the REST API's
    setting travels with each task), else the index builder's own."""
    try:
        sent = json.loads(from_job) if from_job else {}
    except ValueError:
        sent = {}
    if isinstance(sent, dict) and sent:
        return {str(k): str(v) for k, v in sent.items()}
    return dict(settings.index_to_gitlab_push_map)
