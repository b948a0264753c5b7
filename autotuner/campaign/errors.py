"""Why a campaign cannot start."""


class CampaignError(RuntimeError):
    """The campaign cannot start (folder in use, nothing to resume, Ray unreachable, trials that
    no node can place ...)."""


__all__ = ["CampaignError"]
