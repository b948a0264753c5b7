"""SGLang autotuner: find the engine parameters with the most goodput per GPU under latency SLOs.

The campaign API (imported on first use, so that ``import autotuner.task`` stays light)::

    from autotuner import run_campaign_file
    result = run_campaign_file("examples/quickstart.yaml")
    print(result.best.launch_command_line)

The package is one folder per concern, layered bottom-up (docs/architecture.md): ``facts``,
``flavors``, ``task``, then ``bench``, ``engines``, ``sim`` and ``k8s``, then ``trial``,
``stopping``, ``search``, ``results``, ``campaign`` and the ``cli``. Nothing here imports ``serve_app``.
"""

from typing import Any

__version__ = "0.1.0"

_CAMPAIGN_API = ("CampaignError", "CampaignResult", "run_campaign", "run_campaign_file")


def __getattr__(name: str) -> Any:
    if name in _CAMPAIGN_API:
        from autotuner.campaign.driver import driver

        return getattr(driver, name)
    raise AttributeError(f"module 'autotuner' has no attribute {name!r}")


__all__ = [*_CAMPAIGN_API, "__version__"]
