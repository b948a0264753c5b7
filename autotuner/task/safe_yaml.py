"""YAML (and JSON) from people we do not trust: a task file, an upload to the web app.

PyYAML's ``safe_load`` builds no objects, but it still lets a small file grow without bound:
aliases share one node, so ``a: &a [x, x]``, ``b: &b [*a, *a]`` ... doubles at every line and
whatever walks the result (validation, error messages, JSON) visits 2^n nodes; a few thousand
nested brackets overflow Python's stack while composing. :func:`load_untrusted_yaml` first reads
the document's events (PyYAML's parser is a loop, not a recursion) and refuses it when the text,
the nesting or the node count *with every alias expanded* is over a limit; only then is it built::

    data = load_untrusted_yaml(text)        # UnsafeYamlError: where + why
"""

from __future__ import annotations

from typing import Any

import yaml

MAX_BYTES = 1_000_000  # a task file is a few kilobytes
MAX_DEPTH = 32  # the deepest task field (search.space.<p>.when.<q>) is 5 levels down
MAX_NODES = 100_000  # scalars and collections, every alias counted as the node it repeats


class UnsafeYamlError(ValueError):
    """The text is not YAML, or is YAML over a limit. ``where`` is ``line N`` or ``(file)``."""

    def __init__(self, where: str, message: str):
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


def _where(mark: Any) -> str:
    return f"line {mark.line + 1}" if mark is not None else "(file)"


def check_limits(text: str, *, max_depth: int = MAX_DEPTH, max_nodes: int = MAX_NODES) -> None:
    """Raise :class:`UnsafeYamlError` when the documents nest deeper than ``max_depth`` or hold
    more than ``max_nodes`` nodes once aliases are expanded, or an alias refers to a node that
    contains it (a cycle). Reads parser events only: deep or huge input never recurses."""
    nodes = 0
    open_collections: list[tuple[str | None, int]] = []  # (anchor, node count when it opened)
    expanded: dict[str, int] = {}  # anchor -> nodes of its subtree, aliases expanded
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                if event.anchor in {anchor for anchor, _ in open_collections}:
                    raise UnsafeYamlError(_where(event.start_mark),
                                          f"alias *{event.anchor} refers to a node that contains it")
                nodes += expanded.get(event.anchor, 1)  # an unknown anchor: the composer says so
            elif isinstance(event, yaml.ScalarEvent):
                nodes += 1
                if event.anchor:
                    expanded[event.anchor] = 1
            elif isinstance(event, yaml.CollectionStartEvent):
                nodes += 1
                open_collections.append((event.anchor, nodes - 1))
                if len(open_collections) > max_depth:
                    raise UnsafeYamlError(_where(event.start_mark), f"nested deeper than {max_depth} levels")
            elif isinstance(event, yaml.CollectionEndEvent):
                anchor, at_start = open_collections.pop()
                if anchor:
                    expanded[anchor] = nodes - at_start
            if nodes > max_nodes:
                raise UnsafeYamlError(_where(event.start_mark),
                                      f"more than {max_nodes} values once aliases are expanded")
    except yaml.YAMLError as err:
        raise UnsafeYamlError(_where(getattr(err, "problem_mark", None)),
                              f"not valid YAML: {getattr(err, 'problem', None) or err}") from None


def load_untrusted_yaml(text: str, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH,
                        max_nodes: int = MAX_NODES) -> Any:
    """One YAML document parsed safely within the limits; :class:`UnsafeYamlError` otherwise."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise UnsafeYamlError("(file)", f"{size} bytes, more than the {max_bytes} a task may have")
    check_limits(text, max_depth=max_depth, max_nodes=max_nodes)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise UnsafeYamlError(_where(getattr(err, "problem_mark", None)),
                              f"not valid YAML: {getattr(err, 'problem', None) or err}") from None
    except ValueError as err:  # e.g. an integer of more digits than int() takes
        raise UnsafeYamlError("(file)", f"not a usable value: {err}") from None


__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_NODES", "UnsafeYamlError", "check_limits", "load_untrusted_yaml"]
