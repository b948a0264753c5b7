"""Where the classes in Tune's saved state of an older campaign live now.

Tune pickles its callbacks, scheduler and searcher with the experiment (tune/, tune-remeasure/),
by module path. Campaign folders written before the package was grouped by concern (commit
148968d and earlier) name the old flat modules, so resuming one loads them under their old
names: :func:`alias_moved_modules` registers each new module under its old name before Tune
reads the state.
"""

from __future__ import annotations

import importlib
import sys

# old module path -> new one, for the classes Tune saves: callbacks, scheduler, searcher, space.
MOVED_MODULES = {
    "autotuner.space": "autotuner.task.space",
    "autotuner.recorder": "autotuner.results.recorder",
    "autotuner.hub": "autotuner.results.hub",
    "autotuner.progress": "autotuner.results.progress",
    "autotuner.search.bound_stopping": "autotuner.stopping.bound",
    "autotuner.search.incumbent": "autotuner.stopping.load_hint",
}


def alias_moved_modules() -> None:
    """Make each old module path import its new module (idempotent)."""
    for old, new in MOVED_MODULES.items():
        if old not in sys.modules:
            sys.modules[old] = importlib.import_module(new)


__all__ = ["MOVED_MODULES", "alias_moved_modules"]
