"""Kubernetes' own name rules (DNS-1123), which a task's Kubernetes names must follow before
anything reaches a cluster. The trial objects' names and labels built on them are
:mod:`autotuner.k8s.names`.

>>> subdomain_problem("engine-key") is None, subdomain_problem("Engine_Key")
(True, "must be a DNS-1123 subdomain: lowercase letters, digits, '-' and '.', at most 253 characters")
"""

from __future__ import annotations

import re

DNS1123_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def subdomain_problem(name: object) -> str | None:
    """Why ``name`` cannot name an object such as a Secret (a DNS-1123 subdomain), or None."""
    if not isinstance(name, str) or not name:
        return "must be a non-empty string"
    if len(name) > 253 or not DNS1123_SUBDOMAIN_RE.match(name):
        return "must be a DNS-1123 subdomain: lowercase letters, digits, '-' and '.', at most 253 characters"
    return None


__all__ = ["DNS1123_LABEL_RE", "DNS1123_SUBDOMAIN_RE", "subdomain_problem"]
