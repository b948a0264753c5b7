"""genai-bench's traffic-scenario grammar, to check a task's scenarios before anything starts.

genai-bench checks ``--traffic-scenario`` with ``Scenario.validate``: the leading letters pick a
scenario class and ``re.match(cls.validation_pattern, text)`` must succeed. The tuner always runs
``--task text-to-text``, whose classes are D, N and U. Their patterns are copied here verbatim
rather than imported: ``import genai_bench`` runs gevent's ``monkey.patch_all()``, which must never
happen in the CLI or a Ray process. tests/bench/test_scenarios.py runs genai-bench's own
validator in a subprocess and checks that it agrees with this module.

On top of the grammar the tuner wants whole-string matches of ASCII digits (``re.match`` with
``$`` also takes a trailing newline, and ``\\d`` takes any Unicode digit, which genai-bench then
writes into file names) and token counts a benchmark can use::

    scenario_problem("D(100,100)")      # None
    scenario_problem("D(100, 100)")     # 'genai-bench rejects it: ...'
"""

from __future__ import annotations

import re

# genai_bench 0.0.5, genai_bench/scenarios/text.py: <Class>.validation_pattern of the text-to-text
# scenarios, by their type letter.
GENAI_BENCH_TEXT_PATTERNS = {
    "N": r"^N\(\d+,\d+\)\/\(\d+,\d+\)$",
    "U": r"^U\(\d+,\d+\)(?:\/\(\d+,\d+\))?$",
    "D": r"^D\(\d+,\d+\)$",
}
FORMS = "D(in,out), N(mean_in,sd_in)/(mean_out,sd_out), U(min_in,max_in)/(min_out,max_out) or U(max_in,max_out)"
MAX_TOKENS = 1_000_000  # per request, input or output: more cannot be sampled or served
_NUMBER = re.compile(r"[0-9]+")


def scenario_problem(text: str) -> str | None:
    """Why genai-bench (or the tuner) cannot run this scenario, or None when it can."""
    kind = text[:1]
    pattern = GENAI_BENCH_TEXT_PATTERNS.get(kind)
    if pattern is None:
        return f"must be a text-to-text scenario (the task genai-bench runs here): {FORMS}"
    if not re.match(pattern, text):
        return f"genai-bench rejects it: must be {FORMS}, with no spaces"
    if not re.fullmatch(pattern.rstrip("$"), text, flags=re.ASCII):
        return "must be written with the digits 0-9 only, and nothing after the closing bracket"
    numbers = [int(n) for n in _NUMBER.findall(text)]
    if any(n > MAX_TOKENS for n in numbers):
        return f"token counts must be at most {MAX_TOKENS}"
    means = numbers[0::2] if kind == "N" else numbers
    if any(n < 1 for n in means):
        return "token counts must be at least 1" + (" (standard deviations may be 0)" if kind == "N" else "")
    if kind == "U" and len(numbers) == 4 and (numbers[0] > numbers[1] or numbers[2] > numbers[3]):
        return "U(min,max): min must not exceed max"
    return None


__all__ = ["FORMS", "GENAI_BENCH_TEXT_PATTERNS", "MAX_TOKENS", "scenario_problem"]
