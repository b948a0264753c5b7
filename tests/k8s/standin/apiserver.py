"""A stand-in Kubernetes API server over real HTTP, for the calls the OME backend makes.

Serves ``ome.io/v1beta1`` InferenceServices and BenchmarkJobs (create, get, list, watch, patch,
delete; status subresource) and core ``v1`` pods and events (get, list, watch; pod logs), with
the real status codes and ``Status`` bodies (404, 409, 422, 400), resourceVersions, label and
field selectors and ``?watch=true`` streams. Custom objects are validated against the OME CRD
schemas recorded in ``autotuner/k8s/crd_facts.json`` (unknown fields pruned, or 400 under
``fieldValidation=Strict``; a declared field the recording leaves out is refused with 422).
Faults (500s, dropped connections) can be injected per verb and resource::

    server = FakeApiServer().start()
    kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig")
    server.inject_fault(status=500, times=2, verb="create", resource="inferenceservices")
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

import yaml

from autotuner.k8s.names import OME_NAME_RE
from autotuner.k8s.schema import CrdSchema, recorded_crd

from .selector_match import matches_fields, matches_labels
from .store import ApiError, ObjectStore


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    plural: str
    kind: str
    crd: CrdSchema | None = None  # custom resources: validated and writable over HTTP

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


@dataclass(frozen=True)
class RequestRecord:
    """One request as RBAC sees it: ``verb`` on ``resource`` (``pods/log``, ``inferenceservices``)."""

    verb: str
    resource: str
    namespace: str
    name: str | None
    code: int


@dataclass
class Fault:
    status: int
    times: int
    verb: str | None
    resource: str | None
    reset: bool  # drop the connection instead of answering


_CUSTOM_PATH = re.compile(r"^/apis/(?P<group>[^/]+)/(?P<version>[^/]+)/namespaces/(?P<ns>[^/]+)/(?P<plural>[^/]+)"
                          r"(?:/(?P<name>[^/]+))?(?:/(?P<sub>[^/]+))?$")
_CORE_PATH = re.compile(r"^/api/(?P<version>v1)/namespaces/(?P<ns>[^/]+)/(?P<plural>[^/]+)"
                        r"(?:/(?P<name>[^/]+))?(?:/(?P<sub>[^/]+))?$")


class FakeApiServer:
    """The HTTP stand-in; ``store`` holds the objects, ``requests`` every request served."""

    def __init__(self, watch_poll_s: float = 0.2):
        self.store = ObjectStore()
        self.requests: list[RequestRecord] = []
        self.pod_logs: dict[tuple[str, str], Callable[[], str]] = {}
        self.watch_poll_s = watch_poll_s
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._resources = {
            ("ome.io", "inferenceservices"): Resource("ome.io", "v1beta1", "inferenceservices", "InferenceService",
                                                      recorded_crd("InferenceService")),
            ("ome.io", "benchmarkjobs"): Resource("ome.io", "v1beta1", "benchmarkjobs", "BenchmarkJob",
                                                  recorded_crd("BenchmarkJob")),
            ("", "pods"): Resource("", "v1", "pods", "Pod"),
            ("", "events"): Resource("", "v1", "events", "Event"),
            ("", "secrets"): Resource("", "v1", "secrets", "Secret"),  # tests put them in the store
        }
        self._httpd: ThreadingHTTPServer | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> "FakeApiServer":
        handler = type("Handler", (_Handler,), {"api": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, args=(0.05,), name="fake-apiserver", daemon=True).start()
        return self

    def stop(self) -> None:
        self.store.close()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    @property
    def url(self) -> str:
        assert self._httpd is not None, "start() first"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def write_kubeconfig(self, path: Path, namespace: str = "default") -> Path:
        """A kubeconfig file whose current context points the real client at this server."""
        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": "standin",
            "clusters": [{"name": "standin", "cluster": {"server": self.url}}],
            "users": [{"name": "tuner", "user": {"token": "standin-token"}}],
            "contexts": [{"name": "standin", "context": {"cluster": "standin", "user": "tuner", "namespace": namespace}}],
        }
        path.write_text(yaml.safe_dump(config))
        return path

    # -- test controls ---------------------------------------------------------------------
    def inject_fault(self, *, status: int = 500, times: int = 1, verb: str | None = None,
                     resource: str | None = None, reset: bool = False) -> None:
        """Answer the next ``times`` matching requests with ``status`` (or drop them)."""
        with self._lock:
            self._faults.append(Fault(status, times, verb, resource, reset))

    def objects(self, resource: str, namespace: str) -> list[dict[str, Any]]:
        return self.store.list(resource, namespace)[0]

    def calls(self, verb: str, resource: str) -> list[RequestRecord]:
        return [r for r in self.requests if r.verb == verb and r.resource == resource]

    def _take_fault(self, verb: str, resource: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.times > 0 and fault.verb in (None, verb) and fault.resource in (None, resource):
                    fault.times -= 1
                    return fault
            return None

    def resource(self, group: str, plural: str) -> Resource:
        found = self._resources.get((group, plural))
        if found is None:
            raise ApiError(404, "NotFound", f"the server could not find the requested resource ({plural})")
        return found


def _verb(method: str, name: str | None, sub: str | None, query: dict[str, str]) -> str:
    if method == "GET":
        if name is None:
            return "watch" if query.get("watch") in ("true", "1") else "list"
        return "get"
    return {"POST": "create", "DELETE": "delete", "PATCH": "patch", "PUT": "update"}.get(method, method.lower())


class _Handler(BaseHTTPRequestHandler):
    api: FakeApiServer
    protocol_version = "HTTP/1.1"  # keep-alive, like the real server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet test output
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")

    def do_PATCH(self) -> None:  # noqa: N802
        self._dispatch("PATCH")

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch("PUT")

    # -- plumbing --------------------------------------------------------------------------
    def _dispatch(self, method: str) -> None:
        split = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        body = self._read_body()
        match = _CUSTOM_PATH.match(split.path) or _CORE_PATH.match(split.path)
        if match is None:
            self._send_status(ApiError(404, "NotFound", f"the server could not find the requested resource {split.path}"))
            return
        parts = match.groupdict()
        group = parts.get("group") or ""
        ns, plural, name, sub = parts["ns"], parts["plural"], parts["name"], parts["sub"]
        verb = _verb(method, name, sub, query)
        rbac_resource = f"{plural}/{sub}" if sub else plural
        fault = self.api._take_fault(verb, plural)
        if fault is not None:
            self._record(verb, rbac_resource, ns, name, 0 if fault.reset else fault.status)
            if fault.reset:
                self.close_connection = True  # no answer at all: the client sees a dropped connection
                return
            self._send_status(ApiError(fault.status, "InternalError", f"injected fault {fault.status}"))
            return
        try:
            resource = self.api.resource(group, plural)
            if verb == "watch":
                self._record(verb, rbac_resource, ns, name, 200)
                self._watch(resource, ns, query)
                return
            code, payload = self._handle(method, verb, resource, ns, name, sub, query, body)
        except ApiError as err:
            self._record(verb, rbac_resource, ns, name, err.code)
            self._send_status(err)
            return
        self._record(verb, rbac_resource, ns, name, code)
        if isinstance(payload, str):
            self._send(code, payload.encode(), "text/plain")
        else:
            self._send(code, json.dumps(payload).encode(), "application/json")

    def _record(self, verb: str, resource: str, ns: str, name: str | None, code: int) -> None:
        self.api.requests.append(RequestRecord(verb, resource, ns, name, code))

    def _read_body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        if not length:
            return None
        raw = self.rfile.read(length)
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw.decode("utf-8", "replace")

    def _send(self, code: int, data: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_status(self, err: ApiError) -> None:
        self._send(err.code, json.dumps(err.status()).encode(), "application/json")

    # -- verbs -----------------------------------------------------------------------------
    def _handle(self, method: str, verb: str, resource: Resource, ns: str, name: str | None, sub: str | None,
                query: dict[str, str], body: Any) -> tuple[int, Any]:
        store = self.api.store
        if verb == "list":
            items, rv = store.list(resource.plural, ns, _selector(query))
            return 200, {"apiVersion": resource.api_version, "kind": f"{resource.kind}List",
                         "metadata": {"resourceVersion": str(rv)}, "items": items}
        if verb == "get" and sub == "log":
            return 200, self._pod_log(ns, name, query)
        if verb == "get":
            return 200, store.get(resource.plural, ns, name)
        if resource.crd is None:
            raise ApiError(405, "MethodNotAllowed", f"the stand-in serves {resource.plural} read-only")
        if verb == "create":
            obj = self._admit(resource, ns, body, query)
            return 201, store.create(resource.plural, ns, obj)
        if verb == "delete":
            return 200, store.delete(resource.plural, ns, name)
        if verb == "patch":
            return 200, self._patch(resource, ns, name, sub, query, body)
        raise ApiError(405, "MethodNotAllowed", f"{method} is not supported by the stand-in")

    def _admit(self, resource: Resource, ns: str, body: Any, query: dict[str, str]) -> dict[str, Any]:
        """What the API server and OME's webhook do before storing: decode, validate, prune."""
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the body of the request was in an unknown format")
        crd = resource.crd
        assert crd is not None
        meta = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
        name = meta.get("name", "")
        if meta.get("namespace", ns) != ns:
            raise ApiError(400, "BadRequest",
                           "the namespace of the provided object does not match the namespace sent on the request")
        body = {**body, "metadata": {**meta, "namespace": ns}}
        if crd.has_status_subresource:
            body.pop("status", None)  # status is only written through /status
        problems = crd.validate(body)
        decode = [p for p in problems if p.kind == "decode"]
        if decode:
            raise ApiError(400, "BadRequest", f"{crd.kind} in version \"{crd.version}\" cannot be handled as a "
                           f"{crd.kind}: " + "; ".join(map(str, decode)))
        unrecorded = [p for p in problems if p.kind == "unrecorded"]
        if unrecorded:  # the real server would judge it; the stand-in cannot, so it says so
            raise ApiError(422, "Invalid", "the stand-in cannot judge: " + "; ".join(map(str, unrecorded)))
        unknown = [p for p in problems if p.kind == "unknown-field"]
        if unknown and query.get("fieldValidation") == "Strict":
            raise ApiError(400, "BadRequest", "strict decoding error: " + ", ".join(
                f'unknown field "{p.path}"' for p in unknown))
        invalid = [p for p in problems if p.kind == "invalid"]
        if invalid:
            raise ApiError(422, "Invalid", f'{crd.kind}.{crd.group} "{name}" is invalid: ' + ", ".join(map(str, invalid)),
                           {"name": name, "group": crd.group, "kind": crd.kind, "causes": [
                               {"reason": "FieldValueInvalid", "message": p.message, "field": p.path} for p in invalid]})
        if crd.kind == "InferenceService" and not OME_NAME_RE.match(name):
            raise ApiError(403, "Forbidden", 'admission webhook "inferenceservice.ome.io" denied the request: '
                           f"name {name!r} must match {OME_NAME_RE.pattern}")
        return crd.prune(body) if unknown else body

    def _patch(self, resource: Resource, ns: str, name: str | None, sub: str | None,
               query: dict[str, str], body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError(415, "UnsupportedMediaType", "the stand-in supports merge patches only")
        store = self.api.store

        def apply(obj: dict[str, Any]) -> None:
            if sub == "status":
                obj["status"] = _merge_patch(obj.get("status") or {}, body.get("status") or {})
            else:
                patched = _merge_patch(obj, {k: v for k, v in body.items() if k != "status"})
                admitted = self._admit(resource, ns, patched, query)
                status = obj.get("status")  # the main resource cannot change status
                obj.clear()
                obj.update(admitted)
                if status is not None:
                    obj["status"] = status

        assert name is not None
        return store.update(resource.plural, ns, name, apply)

    def _pod_log(self, ns: str, name: str | None, query: dict[str, str]) -> str:
        self.api.store.get("pods", ns, name or "")
        reader = self.api.pod_logs.get((ns, name or ""))
        lines = (reader() if reader else "").splitlines()
        tail = int(query.get("tailLines", 0) or 0)
        return "\n".join(lines[-tail:] if tail else lines) + "\n"

    def _watch(self, resource: Resource, ns: str, query: dict[str, str]) -> None:
        """Newline-delimited JSON events over a chunked response, until timeoutSeconds."""
        store = self.api.store
        keep = _selector(query)
        deadline = time.monotonic() + float(query.get("timeoutSeconds") or 1800)
        rv_param = query.get("resourceVersion") or "0"
        if rv_param == "0":  # "start at most recent": synthetic ADDED events for what exists now
            items, since = store.list(resource.plural, ns, keep)
            initial = [("ADDED", obj) for obj in items]
        else:
            since, initial = int(rv_param), []
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for type_, obj in initial:
                self._chunk({"type": type_, "object": obj})
            while not store.closed and (remaining := deadline - time.monotonic()) > 0:
                changes, since = store.changes_after(since, min(remaining, self.api.watch_poll_s), [resource.plural])
                for change in changes:
                    if change.namespace == ns and keep(change.obj):
                        self._chunk({"type": change.type, "object": change.obj})
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client went away

    def _chunk(self, event: dict[str, Any]) -> None:
        data = json.dumps(event).encode() + b"\n"
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


def _selector(query: dict[str, str]) -> Callable[[dict[str, Any]], bool]:
    labels, fields = query.get("labelSelector", ""), query.get("fieldSelector", "")
    return lambda obj: matches_labels(obj, labels) and matches_fields(obj, fields)


def _merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge_patch(result.get(key), value)
    return result
