"""genai-bench traffic scenarios (``D(in,out)``, ``N(mi,si)/(mo,so)``, ``U(a,b)/(c,d)``, ``U(a,b)``)
sampled the way genai-bench 0.0.5 samples them (``genai_bench/scenarios/text.py``), with a
seeded ``random.Random`` instead of numpy's global state.

>>> s = parse_scenario("N(480,240)/(300,150)")
>>> s.kind, s.mean_input, s.mean_output
('N', 480.0, 300.0)
>>> import random
>>> parse_scenario("D(100,50)").sample(random.Random(0))
(100, 50)

A shared prefix (genai-bench's ``--prefix-len`` / ``--prefix-ratio``) gives each prompt token ids:
the same ids for the prefix, ids of its own for the rest:

>>> p = SharedPrefix(length=3)
>>> p.prompt(5, uid=0)[:3] == p.prompt(8, uid=1)[:3], p.prompt(5, uid=0)[3] == p.prompt(5, uid=1)[3]
(True, False)
"""

from __future__ import annotations

import functools
import random
import re
from array import array
from dataclasses import dataclass

_NUM = r"\s*(\d+)\s*"
_PATTERNS = {
    "D": re.compile(rf"^D\({_NUM},{_NUM}\)$"),
    "N": re.compile(rf"^N\({_NUM},{_NUM}\)/\({_NUM},{_NUM}\)$"),
    "U2": re.compile(rf"^U\({_NUM},{_NUM}\)/\({_NUM},{_NUM}\)$"),
    "U1": re.compile(rf"^U\({_NUM},{_NUM}\)$"),
}


@dataclass(frozen=True)
class Scenario:
    """A text-to-text traffic scenario: how many input and output tokens each request has."""

    text: str
    kind: str  # "D" | "N" | "U"
    a: int  # D: in | N: mean in | U: min in
    b: int  # D: out | N: sd in | U: max in
    c: int = 0  # N: mean out | U: min out
    d: int = 0  # N: sd out | U: max out

    def sample(self, rng: random.Random) -> tuple[int, int]:
        """(input tokens, output tokens); outputs are at least 2 for N and U like genai-bench."""
        if self.kind == "D":
            return self.a, self.b
        if self.kind == "N":
            return max(1, int(rng.gauss(self.a, self.b))), max(2, int(rng.gauss(self.c, self.d)))
        return (max(1, int(rng.uniform(self.a or 1, self.b))),
                max(2, int(rng.uniform(self.c or 1, self.d))))

    @property
    def mean_input(self) -> float:
        return float(self.a) if self.kind in "DN" else (max(self.a, 1) + self.b) / 2

    @property
    def mean_output(self) -> float:
        if self.kind == "D":
            return float(self.b)
        return float(self.c) if self.kind == "N" else (max(self.c, 1) + self.d) / 2


PREFIX_RESAMPLES = 10  # genai-bench draws again this many times while a prompt is shorter than the prefix
_PREFIX_ID_SPAN = 1 << 32  # token-id room of each prefix length, and of each request's own tokens


@dataclass(frozen=True)
class SharedPrefix:
    """How genai-bench 0.0.5 builds prompts with ``--prefix-len`` or ``--prefix-ratio``
    (``genai_bench/sampling/text.py``): ``length`` tokens, or ``ratio`` of each prompt's tokens
    (``int(input * ratio)``), drawn from its corpus with a generator seeded by the prefix length,
    so every prompt with the same prefix length starts with the same text; then a random
    separator and the prompt's own text. Here the prefix gets ids of its own per length and each
    request's remaining tokens ids no other request has."""

    length: int | None = None
    ratio: float | None = None

    def __post_init__(self) -> None:
        if (self.length is None) == (self.ratio is None):
            raise ValueError("a shared prefix has a length or a ratio, exactly one")
        if self.length is not None and self.length < 0:
            raise ValueError("prefix length must be >= 0")
        if self.ratio is not None and not 0.0 <= self.ratio <= 1.0:
            raise ValueError("prefix ratio must be in [0, 1]")

    def tokens_for(self, input_len: int) -> int:
        return self.length if self.length is not None else int(input_len * (self.ratio or 0.0))

    def sample(self, scenario: Scenario, rng: random.Random) -> tuple[int, int]:
        """genai-bench's draw: with ``--prefix-len`` a prompt shorter than the prefix is drawn again."""
        n_in, n_out = scenario.sample(rng)
        for _ in range(PREFIX_RESAMPLES):
            if n_in >= self.tokens_for(n_in):
                break
            n_in, n_out = scenario.sample(rng)
        return n_in, n_out

    def ids(self, shared: int) -> array[int]:
        """Token ids of the prefix of ``shared`` tokens (genai-bench seeds its text by the length);
        one array per length, not to be changed."""
        return _prefix_ids(shared)

    def prompt(self, input_len: int, uid: int) -> array[int]:
        """Token ids of request ``uid``'s prompt of ``input_len`` tokens (64-bit ids in an array:
        the prefix cache keys it without converting token by token)."""
        shared = min(self.tokens_for(input_len), input_len)
        own = -(uid + 1) * _PREFIX_ID_SPAN
        return self.ids(shared) + array("q", range(own, own + input_len - shared))

    def left_cached(self, scenario: Scenario) -> array[int]:
        """The prefix an earlier level of the same trial leaves in the engine's cache (a ratio
        comes with D scenarios only: one prefix length)."""
        return self.ids(self.tokens_for(scenario.a))


@functools.lru_cache(maxsize=64)
def _prefix_ids(shared: int) -> array[int]:
    start = (shared + 1) * _PREFIX_ID_SPAN
    return array("q", range(start, start + shared))


def parse_scenario(text: str) -> Scenario:
    """Parse a genai-bench scenario string; ValueError for anything else (E, R, I, dataset ...)."""
    t = text.strip()
    for key, pat in _PATTERNS.items():
        m = pat.match(t)
        if m:
            nums = [int(x) for x in m.groups()]
            if key == "D":
                return Scenario(t, "D", nums[0], nums[1])
            if key == "N":
                return Scenario(t, "N", *nums)
            if key == "U2":
                return Scenario(t, "U", nums[0], nums[1], nums[2], nums[3])
            return Scenario(t, "U", 0, nums[0], 0, nums[1])  # U(max_in,max_out): minimum 1
    raise ValueError(f"unsupported traffic scenario {text!r}; the simulator knows D(in,out), "
                     "N(mean_in,sd_in)/(mean_out,sd_out), U(min_in,max_in)/(min_out,max_out), U(max_in,max_out)")


__all__ = ["PREFIX_RESAMPLES", "Scenario", "SharedPrefix", "parse_scenario"]
