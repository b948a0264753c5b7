"""genai-bench traffic scenarios (``D(in,out)``, ``N(mi,si)/(mo,so)``, ``U(a,b)/(c,d)``, ``U(a,b)``)
sampled the way genai-bench 0.0.5 samples them (``genai_bench/scenarios/text.py``), with a
seeded ``random.Random`` instead of numpy's global state.

>>> s = parse_scenario("N(480,240)/(300,150)")
>>> s.kind, s.mean_input, s.mean_output
('N', 480.0, 300.0)
>>> import random
>>> parse_scenario("D(100,50)").sample(random.Random(0))
(100, 50)
"""

from __future__ import annotations

import random
import re
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


__all__ = ["Scenario", "parse_scenario"]
