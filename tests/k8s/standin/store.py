"""In-memory object storage of the stand-in API server: resourceVersions, finalizers, changes.

Like etcd behind a kube-apiserver: every write bumps one global resourceVersion and appends a
change that watches replay; an object with finalizers is only marked for deletion
(``deletionTimestamp``) and disappears once its last finalizer is removed::

    store = ObjectStore()
    store.create("pods", "ns", {"metadata": {"name": "p"}})
    changes, rv = store.changes_after(0, timeout_s=0)   # [Change(rv=1, type="ADDED", ...)], 1
"""

from __future__ import annotations

import copy
import datetime as dt
import threading
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Iterable


class ApiError(Exception):
    """An API failure answered with a Kubernetes ``Status`` body."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details or {}

    def status(self) -> dict[str, Any]:
        return {
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": self.message, "reason": self.reason, "details": self.details, "code": self.code,
        }


@dataclass(frozen=True)
class Change:
    """One write, as a watch event: ``type`` is ADDED, MODIFIED or DELETED."""

    rv: int
    type: str
    resource: str
    namespace: str
    obj: dict[str, Any]


def now_rfc3339() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class ObjectStore:
    """Thread-safe objects keyed by (resource, namespace, name)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._changes: list[Change] = []
        self._rv = 0
        self.closed = False

    @property
    def resource_version(self) -> int:
        with self._cond:
            return self._rv

    def _record(self, type_: str, resource: str, namespace: str, obj: dict[str, Any]) -> dict[str, Any]:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        self._changes.append(Change(self._rv, type_, resource, namespace, copy.deepcopy(obj)))
        self._cond.notify_all()
        return copy.deepcopy(obj)

    def create(self, resource: str, namespace: str, obj: dict[str, Any]) -> dict[str, Any]:
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        name = meta["name"]
        with self._cond:
            key = (resource, namespace, name)
            if key in self._objects:
                raise ApiError(409, "AlreadyExists", f'{resource} "{name}" already exists',
                               {"name": name, "kind": resource})
            meta.update(namespace=namespace, uid=str(uuid.uuid4()), creationTimestamp=now_rfc3339(), generation=1)
            meta.pop("deletionTimestamp", None)
            self._objects[key] = obj
            return self._record("ADDED", resource, namespace, obj)

    def get(self, resource: str, namespace: str, name: str) -> dict[str, Any]:
        with self._cond:
            obj = self._objects.get((resource, namespace, name))
            if obj is None:
                raise ApiError(404, "NotFound", f'{resource} "{name}" not found', {"name": name, "kind": resource})
            return copy.deepcopy(obj)

    def list(
        self, resource: str, namespace: str, keep: Callable[[dict[str, Any]], bool] = lambda _: True
    ) -> tuple[list[dict[str, Any]], int]:
        with self._cond:
            items = [
                copy.deepcopy(o) for (r, ns, _), o in sorted(self._objects.items())
                if r == resource and ns == namespace and keep(o)
            ]
            return items, self._rv

    def update(self, resource: str, namespace: str, name: str, mutate: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        """Apply ``mutate`` to a copy and store it; removes the object when it was being deleted
        and has no finalizer left (what the API server does on the finalizer's removal)."""
        with self._cond:
            current = self._objects.get((resource, namespace, name))
            if current is None:
                raise ApiError(404, "NotFound", f'{resource} "{name}" not found', {"name": name, "kind": resource})
            obj = copy.deepcopy(current)
            mutate(obj)
            if obj["metadata"].get("deletionTimestamp") and not obj["metadata"].get("finalizers"):
                del self._objects[(resource, namespace, name)]
                return self._record("DELETED", resource, namespace, obj)
            self._objects[(resource, namespace, name)] = obj
            return self._record("MODIFIED", resource, namespace, obj)

    def delete(self, resource: str, namespace: str, name: str) -> dict[str, Any]:
        with self._cond:
            obj = self._objects.get((resource, namespace, name))
            if obj is None:
                raise ApiError(404, "NotFound", f'{resource} "{name}" not found', {"name": name, "kind": resource})
            if obj["metadata"].get("finalizers"):
                if obj["metadata"].get("deletionTimestamp"):
                    return copy.deepcopy(obj)  # already being deleted: nothing changes
                obj["metadata"]["deletionTimestamp"] = now_rfc3339()
                return self._record("MODIFIED", resource, namespace, obj)
            del self._objects[(resource, namespace, name)]
            return self._record("DELETED", resource, namespace, obj)

    def changes_after(
        self, rv: int, timeout_s: float, resources: Iterable[str] | None = None
    ) -> tuple[list[Change], int]:
        """Changes newer than ``rv`` (of ``resources`` only) and the newest resourceVersion seen,
        which the caller passes next time; waits up to ``timeout_s`` for any write."""
        wanted = set(resources) if resources is not None else None
        with self._cond:
            self._cond.wait_for(lambda: self._rv > rv or self.closed, timeout=timeout_s)
            # Changes are appended in rv order starting at 1, so the newer ones are a slice.
            return [c for c in self._changes[rv:] if wanted is None or c.resource in wanted], self._rv

    def close(self) -> None:
        """Wake every waiting watch so that it ends."""
        with self._cond:
            self.closed = True
            self._cond.notify_all()
