"""What a task adds to genai-bench's scenarios: a shared prefix and the user's own prompts, checked
the way genai-bench 0.0.5 checks them (``genai_bench/cli/validation.py``,
``genai_bench/data/sources.py``) before anything starts, and the arguments that pass them on.

genai-bench's rules: ``--prefix-len`` and ``--prefix-ratio`` exclude each other; a prefix length
must not exceed the shortest prompt a scenario can draw (D: its input; N: mean - 3 sd, at least 1;
U: its minimum, or 1); ``--prefix-ratio`` needs D scenarios. A local ``--dataset-path`` is a .txt
file (a prompt per non-empty line), a .csv file (``--dataset-prompt-column`` names the column) or a
.json file holding a list of strings.

>>> min_input_tokens("N(480,100)/(300,150)"), min_input_tokens("U(50,100)/(10,20)"), min_input_tokens("D(7,1)")
(180, 50, 7)
>>> prefix_problems(2000, None, ["D(1000,100)"])
[('len', 2000, 'longer than the shortest prompt D(1000,100) can draw (1000 tokens)')]
>>> traffic_argv(prefix_len=2000)
['--prefix-len', '2000']
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Sequence
from pathlib import Path

DATASET_SUFFIXES = (".txt", ".csv", ".json")
DATASET_SCENARIO = "dataset"  # genai-bench's scenario for prompts sent as written
READ_LIMIT_BYTES = 256 * 1024 * 1024  # a prompts file larger than this is not read to check it
_NUMBER = re.compile(r"[0-9]+")


def min_input_tokens(scenario: str) -> int:
    """The fewest input tokens a D, N or U scenario can draw, as genai-bench bounds it."""
    numbers = [int(n) for n in _NUMBER.findall(scenario)]
    kind = scenario[:1]
    if kind == "D":
        return numbers[0]
    if kind == "N":
        return max(1, numbers[0] - 3 * numbers[1])
    return (numbers[0] or 1) if len(numbers) == 4 else 1  # U(min,max)/(..) or U(max_in,max_out)


def prefix_problems(length: int | None, ratio: float | None, scenarios: Sequence[str]) -> list[tuple[str, object, str]]:
    """(field, value, why) for each way genai-bench would refuse this prefix with these scenarios
    (the scenarios themselves are checked elsewhere)."""
    if length is not None and ratio is not None:
        return [("ratio", ratio, "give len or ratio, not both (genai-bench's --prefix-len and --prefix-ratio "
                 "exclude each other)")]
    if length is None and ratio is None:
        return [("len", None, "give len (shared tokens) or ratio (a share of each prompt)")]
    problems: list[tuple[str, object, str]] = []
    for scenario in scenarios:
        if ratio is not None and not scenario.startswith("D("):
            problems.append(("ratio", ratio, f"genai-bench takes a prefix ratio with D scenarios only, not {scenario}"))
        elif length is not None and scenario[:1] in "DNU" and length > (shortest := min_input_tokens(scenario)):
            problems.append(("len", length, f"longer than the shortest prompt {scenario} can draw ({shortest} tokens)"))
    return problems


def dataset_problems(path: str, prompt_column: str | None) -> list[tuple[str, object, str]]:
    """(field, value, why) for a prompts file genai-bench could not use."""
    file = Path(path).expanduser()
    suffix = file.suffix.lower()
    if suffix not in DATASET_SUFFIXES:
        return [("path", path, "must be a " + ", ".join(DATASET_SUFFIXES) + " file (what genai-bench reads locally)")]
    if not file.is_file():
        where = "" if file.is_absolute() else f" in {Path.cwd()} (a relative path starts where the tuner runs)"
        return [("path", path, (f"no such file{where}" if not file.exists() else "not a file"))]
    if prompt_column is not None and suffix != ".csv":
        return [("prompt_column", prompt_column, f"only a .csv file has columns; genai-bench reads a {suffix} "
                 "file whole")]
    try:
        if file.stat().st_size > READ_LIMIT_BYTES:
            return [("path", path, f"larger than {READ_LIMIT_BYTES // 2**20} MiB")]
        text = file.read_text(encoding="utf-8")
    except OSError as err:
        return [("path", path, f"cannot read: {err.strerror}")]
    except UnicodeDecodeError as err:
        return [("path", path, f"not UTF-8 text (byte {err.start})")]
    if suffix == ".txt":
        return [] if any(line.strip() for line in text.splitlines()) else [("path", path, "holds no prompt")]
    if suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            return [("path", path, f"not JSON: {err.msg} (line {err.lineno})")]
        if not (isinstance(data, list) and data and all(isinstance(item, str) for item in data)):
            return [("path", path, "must hold a non-empty JSON list of strings (genai-bench's prompts)")]
        return []
    rows = list(csv.reader(text.splitlines()))
    header = rows[0] if rows else []
    if prompt_column is None:
        return [("prompt_column", None, "a .csv file needs the column of prompts; columns: " + ", ".join(header))]
    if prompt_column not in header:
        return [("prompt_column", prompt_column, "no such column; columns: " + ", ".join(header))]
    at = header.index(prompt_column)
    if not any(len(row) > at and row[at].strip() for row in rows[1:]):
        return [("prompt_column", prompt_column, "the column holds no prompt")]
    return []


def dataset_mode_problems(lengths: str, max_tokens: int | None, scenarios: Sequence[str],
                          has_prefix: bool) -> list[tuple[str, object, str]]:
    """(field under ``workload``, value, why) for how the prompts file sets token counts:
    ``scenario`` shapes its text to the scenarios; ``prompts`` sends each prompt as written
    (genai-bench's ``dataset`` scenario) asking ``max_tokens``."""
    if lengths == "scenario":
        return ([("dataset.max_tokens", max_tokens, "only with lengths prompts; the scenarios set output lengths")]
                if max_tokens is not None else [])
    problems: list[tuple[str, object, str]] = []
    if max_tokens is None:
        problems.append(("dataset.max_tokens", None, "lengths prompts needs the output tokens each request asks for"))
    if list(scenarios) != [DATASET_SCENARIO]:
        problems.append(("scenarios", list(scenarios), f"with lengths prompts the only scenario is "
                         f"{DATASET_SCENARIO!r} (each request one prompt of the file)"))
    if has_prefix:
        problems.append(("prefix", None, "genai-bench shares a prefix only in prompts it shapes to D, N or U "
                         "scenarios, not with lengths prompts"))
    return problems


def traffic_argv(*, prefix_len: int | None = None, prefix_ratio: float | None = None,
                 dataset_path: str | None = None, prompt_column: str | None = None,
                 max_tokens: int | None = None) -> list[str]:
    """genai-bench's arguments for a shared prefix, a prompts file and the output tokens its
    prompts ask for as written (an argv list)."""
    argv: list[str] = []
    if max_tokens is not None:
        argv += ["--additional-request-params", json.dumps({"max_tokens": max_tokens})]
    if prefix_len is not None:
        argv += ["--prefix-len", str(prefix_len)]
    if prefix_ratio is not None:
        argv += ["--prefix-ratio", repr(float(prefix_ratio))]
    if dataset_path is not None:
        argv += ["--dataset-path", dataset_path]
    if prompt_column is not None:
        argv += ["--dataset-prompt-column", prompt_column]
    return argv


__all__ = ["DATASET_SCENARIO", "DATASET_SUFFIXES", "dataset_mode_problems", "dataset_problems", "min_input_tokens", "prefix_problems", "traffic_argv"]
