"""A small renderer of the kustomize features deploy/kubernetes uses, so the manifests can be
checked where kustomize is not installed: ``resources`` (files and directories holding a
kustomization), ``namespace``, ``images`` (``name`` → ``newName``/``newTag``) and ``patches``
given by ``path`` (strategic merge, the patch naming its target by kind and name: maps merge,
lists of maps with a ``name`` merge by name, other lists are replaced, ``null`` deletes).

Where ``kubectl`` is installed, ``tests/deploy/test_manifests.py`` checks that this renders what
``kubectl kustomize`` renders.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

__all__ = ["render"]

#: Kinds that live in no namespace (the only ones deploy/ could hold).
_CLUSTER_KINDS = frozenset({"Namespace", "ClusterRole", "ClusterRoleBinding"})


def render(directory: Path) -> list[dict[str, Any]]:
    """The documents ``kustomize build directory`` would produce (in no particular order)."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    known = {"apiVersion", "kind", "resources", "namespace", "images", "patches"}
    unknown = set(kustomization) - known
    if unknown:
        raise ValueError(f"{directory}: kustomization fields this renderer lacks: {unknown}")
    documents: list[dict[str, Any]] = []
    for resource in kustomization.get("resources", []):
        path = directory / resource
        if path.is_dir():
            documents.extend(render(path))
        else:
            documents.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    for patch in kustomization.get("patches", []):
        if set(patch) != {"path"}:
            raise ValueError(f"{directory}: only path patches are rendered here: {patch}")
        for body in yaml.safe_load_all((directory / patch["path"]).read_text()):
            target = _find(documents, body["kind"], body["metadata"]["name"])
            documents[documents.index(target)] = _merge(target, body)
    for image in kustomization.get("images", []):
        for document in documents:
            for container in _containers(document):
                container["image"] = _retag(container["image"], image)
    namespace = kustomization.get("namespace")
    if namespace:
        for document in documents:
            if document["kind"] not in _CLUSTER_KINDS:
                document["metadata"]["namespace"] = namespace
    return documents


def _find(documents: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    for document in documents:
        if document["kind"] == kind and document["metadata"]["name"] == name:
            return document
    raise ValueError(f"patch target {kind}/{name} not found")


def _merge(base: Any, patch: Any) -> Any:
    if isinstance(base, dict) and isinstance(patch, dict):
        out = copy.deepcopy(base)
        for key, value in patch.items():
            if value is None:
                out.pop(key, None)
            elif key in out:
                out[key] = _merge(out[key], value)
            else:
                out[key] = copy.deepcopy(value)
        return out
    if (
        isinstance(base, list)
        and isinstance(patch, list)
        and all(isinstance(i, dict) and "name" in i for i in [*base, *patch])
    ):
        out_list = [copy.deepcopy(i) for i in base]
        for item in patch:
            names = [i["name"] for i in out_list]
            if item["name"] in names:
                at = names.index(item["name"])
                out_list[at] = _merge(out_list[at], item)
            else:
                out_list.append(copy.deepcopy(item))
        return out_list
    return copy.deepcopy(patch)


def _containers(document: dict[str, Any]) -> list[dict[str, Any]]:
    spec = document.get("spec", {})
    pod = spec.get("template", {}).get("spec", {})
    return [*pod.get("containers", []), *pod.get("initContainers", [])]


def _retag(image: str, rule: dict[str, str]) -> str:
    name, _, tag = image.partition(":")
    if name != rule["name"]:
        return image
    name = rule.get("newName", name)
    tag = rule.get("newTag", tag)
    return f"{name}:{tag}" if tag else name
