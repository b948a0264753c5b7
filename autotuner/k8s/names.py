"""Kubernetes names and labels of a trial's objects.

OME derives further objects from an InferenceService name (Deployment and Service
``<isvc>-engine``, ``<isvc>-router``/``-decoder`` when used, ConfigMap ``modelconfig-<last 20
characters>``), so a trial's name must be a DNS-1123 label that starts with a letter (OME's
webhook), be short enough that ``<isvc>-decoder`` still fits in 63 characters, and differ from
other trials' names at its END. :func:`trial_resource_name` builds such a name::

    >>> trial_resource_name("llama-8b-h100-sweep", "t0007")
    'llama-8b-h100-sweep-t0007'
    >>> trial_resource_name("Big Campaign", "d1c62_00003")
    'big-campaign-d1c62-00003-39aa49'
"""

from __future__ import annotations

import hashlib
import re

from autotuner.task.kubernetes_names import DNS1123_LABEL_RE, DNS1123_SUBDOMAIN_RE, subdomain_problem

CAMPAIGN_LABEL = "autotuner.io/campaign"
TRIAL_LABEL = "autotuner.io/trial"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "sglang-autotuner"

# The longest suffix OME appends to an InferenceService name for an object that must itself be a
# DNS-1123 label (Services): "-engine", "-router", "-decoder".
LONGEST_DERIVED_SUFFIX = "-decoder"
MAX_ISVC_NAME_LEN = 63 - len(LONGEST_DERIVED_SUFFIX)
# The trial part is kept whole up to this length so that at least a readable campaign prefix fits.
_MAX_TRIAL_PART = 32

OME_NAME_RE = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")  # OME's validating webhook
LABEL_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def slug(text: str) -> str:
    """Lowercase, every run of characters outside [a-z0-9] turned into one '-', no edge dashes."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:6]


def trial_resource_name(campaign_id: str, trial_id: str, max_len: int = MAX_ISVC_NAME_LEN) -> str:
    """``<campaign prefix>-<trial part>``: a valid OME object name, unique per trial.

    The trial part comes last and is never cut, so the last 20 characters (OME's ConfigMap name)
    differ between trials; the campaign prefix is shortened to fit ``max_len``. When the trial id
    needed changes to become a DNS label (upper case, '_' ...), a short hash of the original id is
    appended so that two ids that map to the same text still get different names.
    """
    if max_len < _MAX_TRIAL_PART + 8:
        raise ValueError(f"max_len must be at least {_MAX_TRIAL_PART + 8}")
    if not trial_id:
        raise ValueError("trial_id must not be empty")
    trial_part = slug(trial_id)
    if trial_part != trial_id:
        trial_part = f"{trial_part}-{_short_hash(trial_id)}".lstrip("-")
    if len(trial_part) > _MAX_TRIAL_PART:
        trial_part = trial_part[-(_MAX_TRIAL_PART - 7):].lstrip("-") + "-" + _short_hash(trial_id)
    prefix = slug(campaign_id)
    if not prefix[:1].isalpha():  # OME names must start with a letter
        prefix = "c" + prefix
    prefix = prefix[: max_len - len(trial_part) - 1].rstrip("-")
    return f"{prefix}-{trial_part}"


def check_object_name(name: object, *, ome: bool = True) -> str | None:
    """Why ``name`` cannot name a trial object, or None.

    ``ome=True`` applies OME's webhook rule (DNS-1123 label starting with a letter) and the
    length limit that keeps the derived ``<name>-decoder`` within 63 characters.
    """
    if not isinstance(name, str) or not name:
        return "must be a non-empty string"
    if ome:
        if not OME_NAME_RE.match(name):
            return "must be lowercase letters, digits and '-', start with a letter and end alphanumeric"
        if len(name) > MAX_ISVC_NAME_LEN:
            return f"must be at most {MAX_ISVC_NAME_LEN} characters (OME derives '<name>{LONGEST_DERIVED_SUFFIX}')"
        return None
    return subdomain_problem(name)


def check_namespace(namespace: object) -> str | None:
    """Why ``namespace`` is not a valid namespace name (a DNS-1123 label), or None."""
    if not isinstance(namespace, str) or not DNS1123_LABEL_RE.match(namespace) or len(namespace) > 63:
        return "must be a DNS-1123 label: lowercase letters, digits and '-', at most 63 characters"
    return None


def check_label_key(key: object) -> str | None:
    """Why ``key`` is not a valid label (or annotation) key, or None."""
    if not isinstance(key, str) or not key:
        return "label keys must be non-empty strings"
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not DNS1123_SUBDOMAIN_RE.match(prefix)):
        return f"prefix {prefix!r} must be a DNS-1123 subdomain"
    if not name or len(name) > 63 or not LABEL_VALUE_RE.match(name):
        return "name part must be 1-63 characters: alphanumerics, '-', '_' or '.', alphanumeric at both ends"
    return None


def check_label_value(value: object) -> str | None:
    """Why ``value`` is not a valid label value, or None. Label values are always strings."""
    if not isinstance(value, str):
        return f"must be a string, not {type(value).__name__} {value!r}"
    if len(value) > 63 or not LABEL_VALUE_RE.match(value):
        return "must be at most 63 characters: alphanumerics, '-', '_' or '.', alphanumeric at both ends"
    return None


def trial_labels(campaign_id: str, trial_id: str) -> dict[str, str]:
    """The labels every object of a trial carries; the campaign label drives garbage collection.

    >>> trial_labels("sweep-1", "t0001")["autotuner.io/trial"]
    't0001'
    """
    labels = {CAMPAIGN_LABEL: campaign_id, TRIAL_LABEL: trial_id, MANAGED_BY_LABEL: MANAGED_BY}
    for key, value in labels.items():
        if (why := check_label_value(value)) is not None:
            raise ValueError(f"label {key}={value!r} {why}")
    return labels


def campaign_selector(campaign_id: str) -> str:
    """Label selector matching every object of a campaign.

    >>> campaign_selector("sweep-1")
    'autotuner.io/campaign=sweep-1'
    """
    if (why := check_label_value(campaign_id)) is not None:
        raise ValueError(f"campaign id {campaign_id!r} {why}")
    return f"{CAMPAIGN_LABEL}={campaign_id}"
