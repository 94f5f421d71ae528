"""Pull specifications: ``[registry[:port]/]repository[:tag][@digest]``, one grammar.

The grammar is the Docker reference grammar of distribution/containers-image (path components,
tags, digests, registry hosts). Two readings use it: :func:`parse_reference` (what the registry
client talks to) and :func:`image_reference_error` (``opm validate``'s check of related images,
containers/image ``reference.ParseNormalizedNamed`` with its messages).

Parsing follows the Docker reference grammar: the first path component is a registry when it
contains ``.`` or ``:`` or is ``localhost``; otherwise the image lives on Docker Hub
(``docker.io``, API host ``registry-1.docker.io``) and a one-component name gets ``library/``.

``name_without_tag_or_digest`` works on the *string* exactly like IIB's ``get_resolved_image``
builds ``<name>@<digest>`` (no normalisation, so ``ubuntu:22.04`` resolves to ``ubuntu@sha256:…``
and ``quay.io:443/ns/image:8`` to ``quay.io:443/ns/image@sha256:…``). Unlike IIB's
``rsplit(':', 1)`` it does not cut a port off a tag-less ``host:port/ns/image``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from services.common.errors import ValidationError

__all__ = [
    "DOCKER_HUB",
    "DOCKER_HUB_API_HOST",
    "ImageReference",
    "InvalidReferenceError",
    "image_reference_error",
    "name_without_tag_or_digest",
    "parse_reference",
    "registry_of",
]

DOCKER_HUB = "docker.io"
DOCKER_HUB_API_HOST = "registry-1.docker.io"
_DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})

# The grammar (distribution/reference ``regexp.go``).
_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|{_IPV6})(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"

_COMPONENT_RE = re.compile(rf"^{_PATH_COMPONENT}$")
_TAG_RE = re.compile(rf"^{_TAG}$")
_HOST_RE = re.compile(rf"^{_DOMAIN}$")
_REFERENCE_RE = re.compile(rf"^({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?$")
_ANCHORED_ID_RE = re.compile(r"^[a-f0-9]{64}$")
#: The digest algorithms registries accept, with the length of their hex part.
DIGEST_HEX_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}
_DIGEST_RE = re.compile(r"^(sha256|sha384|sha512):([a-f0-9]+)$")


class InvalidReferenceError(ValidationError):
    """A pull specification that cannot be parsed (HTTP 400)."""


def is_valid_digest(digest: str) -> bool:
    """True for ``sha256:``/``sha384:``/``sha512:`` digests with the right number of hex digits."""
    match = _DIGEST_RE.match(digest)
    if match is None:
        return False
    return len(match.group(2)) == DIGEST_HEX_LENGTHS[match.group(1)]


def image_reference_error(ref: str) -> str | None:
    """``None`` when ``ref`` parses as a normalized image reference, else containers/image's
    reason (``reference.ParseNormalizedNamed``), as ``opm validate`` reports it."""
    if _ANCHORED_ID_RE.match(ref):
        return f"invalid repository name ({ref}), cannot specify 64-byte hexadecimal strings"
    match = _REFERENCE_RE.match(ref)
    if match is None:
        if ref == "":
            return "repository name must have at least one component"
        if _REFERENCE_RE.match(ref.lower()):
            return "repository name must be lowercase"
        return "invalid reference format"
    if len(match.group(1)) > 255:
        return "repository name must not be more than 255 characters"
    digest = match.group(3)
    if digest:
        algorithm, _, encoded = digest.partition(":")
        expected = DIGEST_HEX_LENGTHS.get(algorithm)
        if expected is None:
            return "unsupported digest algorithm"
        if len(encoded) != expected:
            return "invalid checksum digest length"
    return None


@dataclass(frozen=True)
class ImageReference:
    """A parsed pull specification. ``registry`` is normalised (``docker.io`` for Docker Hub)."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def api_host(self) -> str:
        """The ``host[:port]`` to talk to (``registry-1.docker.io`` for Docker Hub)."""
        return DOCKER_HUB_API_HOST if self.registry == DOCKER_HUB else self.registry

    @property
    def name(self) -> str:
        """``registry/repository`` without tag or digest."""
        return f"{self.registry}/{self.repository}"

    @property
    def reference(self) -> str:
        """What goes after ``/manifests/``: the digest if there is one, else the tag (``latest``)."""
        return self.digest or self.tag or "latest"

    def with_digest(self, digest: str) -> ImageReference:
        """The same repository pinned to ``digest`` (the tag is dropped)."""
        return ImageReference(self.registry, self.repository, None, digest)

    def with_tag(self, tag: str) -> ImageReference:
        """The same repository at ``tag`` (any digest is dropped)."""
        return ImageReference(self.registry, self.repository, tag, None)

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse_reference(spec: str) -> ImageReference:
    """Parse a pull specification; ``InvalidReferenceError`` names what is wrong with it."""
    if not spec or spec != spec.strip():
        raise InvalidReferenceError(
            f"Invalid image reference {spec!r}: empty or surrounded by spaces"
        )
    remainder, digest = spec, None
    if "@" in spec:
        remainder, digest = spec.split("@", 1)
        if not is_valid_digest(digest):
            raise InvalidReferenceError(f"Invalid image reference {spec!r}: bad digest {digest!r}")
    tag = None
    last_colon, last_slash = remainder.rfind(":"), remainder.rfind("/")
    if last_colon > last_slash:
        remainder, tag = remainder[:last_colon], remainder[last_colon + 1 :]
        if not _TAG_RE.match(tag):
            raise InvalidReferenceError(f"Invalid image reference {spec!r}: bad tag {tag!r}")
    parts = remainder.split("/")
    first = parts[0]
    if len(parts) > 1 and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, parts[1:]
        if not _HOST_RE.match(registry):
            raise InvalidReferenceError(
                f"Invalid image reference {spec!r}: bad registry {registry!r}"
            )
        if registry.lower() in _DOCKER_HUB_ALIASES:
            registry = DOCKER_HUB
    else:
        registry, path = DOCKER_HUB, parts
    if registry == DOCKER_HUB and len(path) == 1:
        path = ["library", *path]
    for component in path:
        if not _COMPONENT_RE.match(component):
            raise InvalidReferenceError(
                f"Invalid image reference {spec!r}: bad repository component {component!r}"
            )
    return ImageReference(registry, "/".join(path), tag, digest)


def name_without_tag_or_digest(spec: str) -> str:
    """The pull spec minus ``@digest``, or minus a trailing ``:tag`` (IIB's image *name*)."""
    if "@" in spec:
        return spec.split("@", 1)[0]
    last_colon, last_slash = spec.rfind(":"), spec.rfind("/")
    return spec[:last_colon] if last_colon > last_slash else spec


def registry_of(spec: str) -> str:
    """The normalised registry of a pull spec (``docker.io`` when none is written)."""
    return parse_reference(spec).registry
