"""What a process learns from Ray Jobs about itself (``ray job submit``): Ray's job manager passes
the job's metadata and runtime environment to the entrypoint in one environment variable::

    job = current_ray_job()
    if job and job.working_dir:   # the entrypoint runs in Ray's temporary copy of --working-dir
        ...
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Mapping

JOB_CONFIG_VAR = "RAY_JOB_CONFIG_JSON_ENV_VAR"


@dataclass(frozen=True)
class RayJob:
    submission_id: str | None
    working_dir: str | None  # the runtime env's package URI (gcs://_ray_pkg_<hash>.zip), if any


def current_ray_job(env: Mapping[str, str] | None = None) -> RayJob | None:
    """This process's Ray job, or None when it is not a job's entrypoint.

    >>> current_ray_job({JOB_CONFIG_VAR: '{"runtime_env": {"working_dir": "gcs://_ray_pkg_1.zip"},'
    ...                                   ' "metadata": {"job_submission_id": "raysubmit_1"}}'})
    RayJob(submission_id='raysubmit_1', working_dir='gcs://_ray_pkg_1.zip')
    """
    raw = (os.environ if env is None else env).get(JOB_CONFIG_VAR)
    if not raw:
        return None
    try:
        config = json.loads(raw)
    except ValueError:
        return None
    return RayJob(submission_id=(config.get("metadata") or {}).get("job_submission_id"),
                  working_dir=(config.get("runtime_env") or {}).get("working_dir"))


__all__ = ["JOB_CONFIG_VAR", "RayJob", "current_ray_job"]
