"""What a campaign leaves behind and shows while it runs: the campaign folder and its files
(:mod:`~autotuner.results.folder`) and its typed records (:mod:`~autotuner.results.records`), the
Tune callback that writes them (:mod:`~autotuner.results.recorder`), the answer (:mod:`~autotuner.results.answer`,
:mod:`~autotuner.results.best_manifest`), the CLI's progress lines and report
(:mod:`~autotuner.results.progress`, :mod:`~autotuner.results.report`), the live hub the web app
reads (:mod:`~autotuner.results.hub`) and links into Ray's dashboard
(:mod:`~autotuner.results.dashboard`).
"""
