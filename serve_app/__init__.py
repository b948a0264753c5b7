"""The autotuner's web app: a Panel UI and a small REST API served by Ray Serve.

It imports :mod:`autotuner`; :mod:`autotuner` never imports it (``autotuner ui`` deploys it by its
import path, ``serve_app.deployment:build_app``, the way a KubeRay RayService would).
"""
