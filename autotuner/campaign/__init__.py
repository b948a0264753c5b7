"""The campaign: run a validated task with Ray Tune, resume one, read it back.

The driver (:mod:`~autotuner.campaign.driver`) orchestrates, and each step lives below it: the
start in the folder (:mod:`~autotuner.campaign.start`: the lock of :mod:`~autotuner.campaign.lock`,
what the folder holds, campaign.json), stop signals (:mod:`~autotuner.campaign.stop_signals`), Ray
and whether trials can be placed (:mod:`~autotuner.campaign.ray_connection`,
:mod:`~autotuner.campaign.placement`), the two Tune experiments
(:mod:`~autotuner.campaign.tune_phases`), and the end (:mod:`~autotuner.campaign.finish`, with
:mod:`~autotuner.campaign.gc`). The folder's files are read and written through
:class:`~autotuner.results.folder.CampaignFolder`.
"""
