"""One registry helper for every pluggable axis: a name maps to an object, imported on first use.

Backends, benchmark runners, engine flavors, the simulator's engine models, objectives and samplers
are each one :class:`Registry`. An entry is the object itself or a ``"module:attribute"`` (or
``"module"``) string, so that naming an entry never imports it: the ``ome`` backend's Kubernetes
client loads only when a task uses it. An unknown name raises :class:`UnknownName`, which names the
task field and the allowed values::

    >>> COLOURS = Registry("paint.colour", {"red": "colorsys:rgb_to_hsv", "blue": len})
    >>> COLOURS.get("blue") is len
    True
    >>> COLOURS.get("green")
    Traceback (most recent call last):
    ...
    autotuner.plugins.registry.UnknownName: unknown paint.colour 'green'; allowed: red, blue
"""

from __future__ import annotations

import importlib
from typing import Generic, Iterator, Mapping, TypeVar

T = TypeVar("T")


class UnknownName(ValueError, KeyError):
    """A name no entry of a registry has (a ValueError for callers that validate input, a KeyError
    for those that look things up)."""

    def __init__(self, field: str, name: object, allowed: tuple[str, ...]):
        self.field, self.name, self.allowed = field, name, allowed
        super().__init__(f"unknown {field} {name!r}; allowed: {', '.join(allowed)}")

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


class Registry(Generic[T]):
    """Names of one axis (``field``: the task field that names them) and their objects."""

    def __init__(self, field: str, entries: Mapping[str, T | str]):
        self.field = field
        self._entries: dict[str, T | str] = dict(entries)

    def get(self, name: str) -> T:
        """The entry called ``name``, imported on first use; :class:`UnknownName` otherwise."""
        if name not in self._entries:
            raise UnknownName(self.field, name, self.names())
        entry = self._entries[name]
        if isinstance(entry, str):
            module, _, attribute = entry.partition(":")
            loaded = importlib.import_module(module)
            entry = getattr(loaded, attribute) if attribute else loaded
            self._entries[name] = entry
        return entry  # type: ignore[return-value]

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def loaded(self) -> Iterator[T]:
        """Every entry, imported (for what needs them all, e.g. every flavor's parameter names)."""
        return (self.get(name) for name in self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


__all__ = ["Registry", "UnknownName"]
