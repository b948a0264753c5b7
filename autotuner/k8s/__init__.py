"""Kubernetes plumbing of the OME backend: names, manifests, CRD schema checks, API access.

``names`` (object names and labels), ``manifests`` (Jinja2 templates rendered as data),
``schema`` (CRD openAPIV3Schema validation), ``api`` (client, retries), ``diagnose`` (failure
signals read from status, pods and events), ``readiness`` (wait until Ready), ``gc`` (delete a
campaign's leftovers). The engine backend built on them is :mod:`autotuner.engines.ome`.
"""
