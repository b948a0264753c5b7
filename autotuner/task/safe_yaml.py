"""YAML (and JSON) from people we do not trust: a task file, an upload to the web app.

PyYAML's ``safe_load`` builds no objects, but it still lets a small file grow without bound:
aliases share one node, so ``a: &a [x, x]``, ``b: &b [*a, *a]`` ... doubles at every line and
whatever walks the result (validation, error messages, JSON) visits 2^n nodes; a few thousand
nested brackets overflow Python's stack while composing. :func:`load_untrusted_yaml` first reads
the document's events (PyYAML's parser is a loop, not a recursion) and refuses it when the text,
the nesting or the node count *with every alias expanded* is over a limit; only then is it built.
A key given twice in one mapping is refused too: PyYAML would keep the last one silently
(``trials: 16`` ... ``trials: 100000``)::

    data = load_untrusted_yaml(text)        # UnsafeYamlError: where + why
"""

from __future__ import annotations

from typing import Any

import yaml

MAX_BYTES = 1_000_000  # a task file is a few kilobytes
MAX_DEPTH = 32  # the deepest task field (search.space.<p>.when.<q>) is 5 levels down
MAX_NODES = 100_000  # scalars and collections, every alias counted as the node it repeats


class UnsafeYamlError(ValueError):
    """The text is not YAML, or is YAML over a limit. ``where`` is ``line N`` or ``(file)``;
    ``field`` the field path when the problem is one field's (a key given twice)."""

    def __init__(self, where: str, message: str, field: str | None = None):
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message
        self.field = field


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
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        check_duplicate_keys(node)
        return loader.construct_document(node)
    except yaml.YAMLError as err:
        raise UnsafeYamlError(_where(getattr(err, "problem_mark", None)),
                              f"not valid YAML: {getattr(err, 'problem', None) or err}") from None
    except UnsafeYamlError:
        raise
    except ValueError as err:  # e.g. an integer of more digits than int() takes
        raise UnsafeYamlError("(file)", f"not a usable value: {err}") from None
    finally:
        loader.dispose()


def check_duplicate_keys(root: yaml.Node) -> None:
    """Raise :class:`UnsafeYamlError` naming the first key given twice in one mapping, with its
    field path (``budget.trials``) and both lines. Merge keys (``<<: *base``) may be overridden:
    that is what they are for. Walks each node once, without recursion."""
    pending: list[tuple[yaml.Node, str]] = [(root, "")]
    seen_nodes: set[int] = set()
    while pending:
        node, path = pending.pop()
        if id(node) in seen_nodes:  # an alias: its node was walked where its anchor is
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            pending.extend((item, f"{path}.{i}" if path else str(i)) for i, item in enumerate(node.value))
        elif isinstance(node, yaml.MappingNode):
            first_line: dict[tuple[str, str], int] = {}
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                    where = f"{path}.{key.value}" if path else key.value
                    line = key.start_mark.line + 1
                    if (key.tag, key.value) in first_line:
                        raise UnsafeYamlError(f"line {line}", f"{where} is given twice (lines "
                                              f"{first_line[key.tag, key.value]} and {line}); keep one", where)
                    first_line[key.tag, key.value] = line
                    pending.append((value, where))
                else:
                    pending.append((value, path))


__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_NODES", "UnsafeYamlError", "check_duplicate_keys", "check_limits",
           "load_untrusted_yaml"]
