"""Per-request artifact files (logs, related bundles, nested bundles, catalog diffs, step
durations): local directory or S3.

The API only reads them; workers write them (IIB_REQUEST_LOGS_DIR etc. or the S3 bucket).
``ArtifactStore.fetch`` returns the bytes or ``None`` when the file does not exist; the REST
rules about 404/410/500 (contract §1.1) live in the service, which knows the request's state.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Protocol

from services.common.config import Settings
from services.common.errors import ExternalServiceError

__all__ = [
    "ArtifactKind",
    "ArtifactStore",
    "LocalArtifactStore",
    "S3ArtifactStore",
    "artifact_store",
]


class ArtifactKind(enum.Enum):
    """The kinds of artifact: (S3 key prefix, file name template).

    Catalog diffs and step durations are not IIB's: they are kept where the logs are
    (``IIB_REQUEST_LOGS_DIR``, or their own prefix in the S3 bucket)."""

    LOGS = ("request_logs", "{id}.log")
    RELATED_BUNDLES = ("related_bundles", "{id}_related_bundles.json")
    NESTED_BUNDLES = ("recursive_related_bundles", "{id}_recursive_related_bundles.json")
    CATALOG_DIFF = ("catalog_diffs", "{id}_catalog_diff.json")
    STEPS = ("request_steps", "{id}_steps.json")

    def file_name(self, request_id: int) -> str:
        return self.value[1].format(id=request_id)

    @property
    def s3_prefix(self) -> str:
        return self.value[0]


class ArtifactStore(Protocol):
    """Where artifacts are read from."""

    def configured(self, kind: ArtifactKind) -> bool:
        """Whether this kind of artifact has a location at all."""

    def fetch(self, kind: ArtifactKind, request_id: int) -> bytes | None:
        """The artifact's bytes, or None when it does not exist."""

    def store(self, kind: ArtifactKind, request_id: int, data: bytes) -> None:
        """Write an artifact (used by workers)."""


class LocalArtifactStore:
    """Artifacts in local directories (IIB_REQUEST_LOGS_DIR and friends)."""

    def __init__(self, dirs: dict[ArtifactKind, Path | None]) -> None:
        self._dirs = dirs

    def configured(self, kind: ArtifactKind) -> bool:
        return self._dirs.get(kind) is not None

    def _path(self, kind: ArtifactKind, request_id: int) -> Path | None:
        directory = self._dirs.get(kind)
        return directory / kind.file_name(request_id) if directory is not None else None

    def fetch(self, kind: ArtifactKind, request_id: int) -> bytes | None:
        path = self._path(kind, request_id)
        if path is None:
            return None
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None

    def store(self, kind: ArtifactKind, request_id: int, data: bytes) -> None:
        path = self._path(kind, request_id)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)


class S3ArtifactStore:
    """Artifacts in an S3 bucket (IIB_AWS_S3_BUCKET_NAME), keys as IIB writes them."""

    def __init__(self, bucket: str, endpoint_url: str | None = None) -> None:
        import boto3

        self._bucket = bucket
        self._client = boto3.client("s3", endpoint_url=endpoint_url)

    def configured(self, kind: ArtifactKind) -> bool:
        return True

    def _key(self, kind: ArtifactKind, request_id: int) -> str:
        return f"{kind.s3_prefix}/{kind.file_name(request_id)}"

    def fetch(self, kind: ArtifactKind, request_id: int) -> bytes | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            obj = self._client.get_object(Bucket=self._bucket, Key=self._key(kind, request_id))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                return None
            raise ExternalServiceError(
                f"S3 bucket {self._bucket} refused the read: {exc}"
            ) from None
        except BotoCoreError as exc:
            raise ExternalServiceError(f"S3 bucket {self._bucket} is unreachable: {exc}") from None
        return bytes(obj["Body"].read())

    def store(self, kind: ArtifactKind, request_id: int, data: bytes) -> None:
        self._client.put_object(Bucket=self._bucket, Key=self._key(kind, request_id), Body=data)


def artifact_store(settings: Settings) -> ArtifactStore:
    """The configured artifact location: the S3 bucket, else the ``IIB_REQUEST_*_DIR``
    directories. The request store reads from it, the workers write to it."""
    if settings.aws_s3_bucket_name:
        return S3ArtifactStore(settings.aws_s3_bucket_name)
    return LocalArtifactStore(
        {
            ArtifactKind.LOGS: settings.request_logs_dir,
            ArtifactKind.RELATED_BUNDLES: settings.request_related_bundles_dir,
            ArtifactKind.NESTED_BUNDLES: settings.request_recursive_related_bundles_dir,
            ArtifactKind.CATALOG_DIFF: settings.request_logs_dir,
            ArtifactKind.STEPS: settings.request_logs_dir,
        }
    )
