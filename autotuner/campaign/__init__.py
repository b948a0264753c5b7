"""The campaign: run a validated task with Ray Tune, resume one, read it back.

The driver (:mod:`~autotuner.campaign.driver`) holds the folder's lock
(:mod:`~autotuner.campaign.lock`), reacts to stop signals (:mod:`~autotuner.campaign.stop_signals`),
reaches Ray and checks that trials can be placed (:mod:`~autotuner.campaign.placement`), and
reads and writes the campaign folder through :class:`~autotuner.results.folder.CampaignFolder`.
"""
