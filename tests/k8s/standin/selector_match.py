"""Label and field selectors as the API server parses them (the subset clients send).

>>> pod = {"metadata": {"name": "p", "labels": {"app": "x", "tier": "web"}}}
>>> matches_labels(pod, "app=x,tier in (web,db),!gone")
True
>>> matches_fields({"involvedObject": {"kind": "InferenceService"}}, "involvedObject.kind!=Pod")
True
"""

from __future__ import annotations

import re
from typing import Any

from .store import ApiError

_SET_TERM = re.compile(r"^(?P<key>[^\s!=]+)\s+(?P<op>in|notin)\s+\((?P<values>[^)]*)\)$")


def _terms(selector: str) -> list[str]:
    """Split on commas that are not inside a set's parentheses."""
    terms, depth, current = [], 0, ""
    for char in selector:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            terms.append(current.strip())
            current = ""
        else:
            current += char
    if current.strip():
        terms.append(current.strip())
    return terms


def matches_labels(obj: dict[str, Any], selector: str) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    for term in _terms(selector):
        if (m := _SET_TERM.match(term)) is not None:
            values = {v.strip() for v in m["values"].split(",")}
            inside = labels.get(m["key"]) in values
            if inside != (m["op"] == "in"):
                return False
        elif "!=" in term:
            key, value = (s.strip() for s in term.split("!=", 1))
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = (s.strip() for s in term.replace("==", "=").split("=", 1))
            if labels.get(key) != value:
                return False
        elif term.startswith("!"):
            if term[1:].strip() in labels:
                return False
        elif term not in labels:
            return False
    return True


def matches_fields(obj: dict[str, Any], selector: str) -> bool:
    for term in _terms(selector):
        negate = "!=" in term
        key, sep, value = term.replace("!=", "=").replace("==", "=").partition("=")
        if not sep:
            raise ApiError(400, "BadRequest", f"invalid field selector term {term!r}")
        actual: Any = obj
        for part in key.strip().split("."):
            actual = actual.get(part) if isinstance(actual, dict) else None
        if (str(actual if actual is not None else "") == value.strip()) == negate:
            return False
    return True
