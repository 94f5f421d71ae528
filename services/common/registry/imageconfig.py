"""The image configuration blob (``config.Labels``, ``rootfs.diff_ids``, ``history`` …)."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.common.registry.errors import UnsupportedManifestError
from services.common.registry.manifest import Platform, encode_json

__all__ = ["EPOCH", "ConfigChanges", "ImageConfig"]

# The creation time written when the caller gives none: keeps rebuilt images byte-identical.
EPOCH = "1970-01-01T00:00:00Z"


@dataclass(frozen=True)
class ConfigChanges:
    """What a build changes in the runtime config (the non-layer Dockerfile instructions).

    ``entrypoint`` set without ``cmd`` clears an inherited Cmd, as ``ENTRYPOINT`` does in a
    Dockerfile. ``None`` means "keep the base's value"; an empty list clears it.
    """

    labels: Mapping[str, str] = field(default_factory=dict)
    entrypoint: Sequence[str] | None = None
    cmd: Sequence[str] | None = None
    exposed_ports: Sequence[str] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    user: str | None = None
    working_dir: str | None = None

    @property
    def empty(self) -> bool:
        """True when nothing in the runtime config changes."""
        return not (
            self.labels
            or self.entrypoint is not None
            or self.cmd is not None
            or self.exposed_ports
            or self.env
            or self.user is not None
            or self.working_dir is not None
        )

    def describe(self) -> str:
        """A Dockerfile-like one-liner for the history entry of a config-only step."""
        parts: list[str] = []
        if self.labels:
            parts.append("LABEL " + " ".join(f"{k}={v}" for k, v in self.labels.items()))
        if self.exposed_ports:
            parts.append("EXPOSE " + " ".join(self.exposed_ports))
        if self.env:
            parts.append("ENV " + " ".join(f"{k}={v}" for k, v in self.env.items()))
        if self.user is not None:
            parts.append(f"USER {self.user}")
        if self.working_dir is not None:
            parts.append(f"WORKDIR {self.working_dir}")
        if self.entrypoint is not None:
            parts.append("ENTRYPOINT " + json.dumps(list(self.entrypoint)))
        if self.cmd is not None:
            parts.append("CMD " + json.dumps(list(self.cmd)))
        return "; ".join(parts)


class ImageConfig:
    """A parsed image config; unknown keys are kept as they are."""

    def __init__(self, document: Mapping[str, Any], raw: bytes | None = None) -> None:
        self._doc: dict[str, Any] = copy.deepcopy(dict(document))
        self.raw = raw if raw is not None else encode_json(self._doc)

    @classmethod
    def parse(cls, raw: bytes) -> ImageConfig:
        """Parse config bytes as fetched from the registry."""
        try:
            document = json.loads(raw)
        except ValueError as exc:
            raise UnsupportedManifestError(f"The image config is not valid JSON: {exc}") from exc
        if not isinstance(document, dict):
            raise UnsupportedManifestError("The image config is not a JSON object")
        return cls(document, raw)

    @classmethod
    def scratch(cls, platform: Platform | None) -> ImageConfig:
        """The config of an empty image (``FROM scratch``); no os/arch when ``platform`` is None."""
        document: dict[str, Any] = {}
        if platform is not None:
            document["architecture"] = platform.architecture
            document["os"] = platform.os
            if platform.variant:
                document["variant"] = platform.variant
        document["config"] = {}
        document["rootfs"] = {"type": "layers", "diff_ids": []}
        document["history"] = []
        return cls(document)

    @property
    def document(self) -> dict[str, Any]:
        """A deep copy of the whole document."""
        return copy.deepcopy(self._doc)

    @property
    def architecture(self) -> str:
        """``architecture`` ('' when absent)."""
        return str(self._doc.get("architecture") or "")

    @property
    def os(self) -> str:
        """``os`` ('' when absent)."""
        return str(self._doc.get("os") or "")

    @property
    def platform(self) -> Platform:
        """os / architecture / variant of the image."""
        return Platform(self.os, self.architecture, self._doc.get("variant") or None)

    @property
    def labels(self) -> dict[str, str]:
        """``config.Labels`` (empty when absent or null)."""
        runtime = self._doc.get("config") or {}
        return dict(runtime.get("Labels") or {})

    @property
    def runtime(self) -> dict[str, Any]:
        """A copy of the ``config`` object (Entrypoint, Cmd, Env, Labels …)."""
        return copy.deepcopy(dict(self._doc.get("config") or {}))

    @property
    def diff_ids(self) -> list[str]:
        """``rootfs.diff_ids``, base layer first."""
        return list((self._doc.get("rootfs") or {}).get("diff_ids") or [])

    @property
    def history(self) -> list[dict[str, Any]]:
        """``history`` entries."""
        return copy.deepcopy(list(self._doc.get("history") or []))

    def derive(
        self,
        changes: ConfigChanges,
        layers: Sequence[tuple[str, str]],
        *,
        created: str = EPOCH,
        author: str | None = None,
    ) -> ImageConfig:
        """A new config with ``changes`` applied and ``layers`` (``(diff_id, created_by)``) appended.

        Every added layer gets one history entry; config-only changes get one ``empty_layer``
        entry. ``created`` becomes the image's creation time.
        """
        doc = copy.deepcopy(self._doc)
        runtime: dict[str, Any] = dict(doc.get("config") or {})
        if changes.labels:
            labels = dict(runtime.get("Labels") or {})
            labels.update(changes.labels)
            runtime["Labels"] = labels
        if changes.env:
            env = list(runtime.get("Env") or [])
            for key, value in changes.env.items():
                env = [item for item in env if item.split("=", 1)[0] != key]
                env.append(f"{key}={value}")
            runtime["Env"] = env
        if changes.exposed_ports:
            ports = dict(runtime.get("ExposedPorts") or {})
            for port in changes.exposed_ports:
                ports[port if "/" in port else f"{port}/tcp"] = {}
            runtime["ExposedPorts"] = ports
        if changes.user is not None:
            runtime["User"] = changes.user
        if changes.working_dir is not None:
            runtime["WorkingDir"] = changes.working_dir
        if changes.entrypoint is not None:
            runtime["Entrypoint"] = list(changes.entrypoint) or None
            if changes.cmd is None:
                runtime["Cmd"] = None
        if changes.cmd is not None:
            runtime["Cmd"] = list(changes.cmd) or None
        doc["config"] = runtime

        rootfs = dict(doc.get("rootfs") or {"type": "layers"})
        rootfs["type"] = "layers"
        rootfs["diff_ids"] = list(rootfs.get("diff_ids") or []) + [d for d, _ in layers]
        doc["rootfs"] = rootfs

        history = list(doc.get("history") or [])
        for _, created_by in layers:
            entry: dict[str, Any] = {"created": created, "created_by": created_by}
            if author:
                entry["author"] = author
            history.append(entry)
        if not changes.empty:
            entry = {"created": created, "created_by": changes.describe(), "empty_layer": True}
            if author:
                entry["author"] = author
            history.append(entry)
        doc["history"] = history
        doc["created"] = created
        if author:
            doc["author"] = author
        # Fields that described the base's build, not this one.
        doc.pop("container", None)
        doc.pop("container_config", None)
        return ImageConfig(doc)
