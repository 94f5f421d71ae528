"""A token server that grants each user actions on some repositories only, as Quay grants a robot
account access to the repositories it was given: a token request for anything else gets a
token without that access (the distribution token spec), and the registry then answers 401."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from pathlib import Path

from services.tooling.servers.registry import TLSFiles
from tests.common.registry.tokenserver import TokenRequest, TokenServer

#: user -> [(repository pattern, actions)]; a user not listed gets nothing, nor does anonymous.
Policy = Mapping[str, Sequence[tuple[str, Sequence[str]]]]


class ScopedTokenServer(TokenServer):
    """:class:`TokenServer` whose grants follow ``policy``."""

    def __init__(
        self, directory: Path, users: Mapping[str, str], *, tls: TLSFiles, policy: Policy
    ) -> None:
        super().__init__(directory, users, tls=tls)
        self.policy = policy

    def _issue(self, user: str | None, scopes: list[str]) -> tuple[str, tuple[str, ...]]:
        allowed: list[str] = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions_text = rest.rpartition(":")
            granted = [
                action
                for action in actions_text.split(",")
                if kind == "repository"
                and any(
                    fnmatch.fnmatchcase(name, pattern) and action in actions
                    for pattern, actions in self.policy.get(user or "", ())
                )
            ]
            if granted:
                allowed.append(f"{kind}:{name}:{','.join(granted)}")
        return super()._issue(user, allowed)

    def repositories_of(self, user: str) -> set[str]:
        """The repositories ``user`` asked tokens for (every recorded request)."""
        with self._lock:
            requests: list[TokenRequest] = [r for r in self.requests if r.user == user]
        return {scope.split(":")[1] for r in requests for scope in r.scopes}

    def granted_of(self, user: str, action: str | None = None) -> set[str]:
        """The repositories ``user`` was granted ``action`` on (any action when None)."""
        with self._lock:
            requests = [r for r in self.requests if r.user == user]
        return {
            scope.split(":")[1]
            for r in requests
            for scope in r.granted
            if action is None or action in scope.rpartition(":")[2].split(",")
        }

    def pushes_of(self, user: str) -> set[str]:
        """The repositories ``user`` was granted push on."""
        return self.granted_of(user, "push")
