"""workload.prefix and workload.dataset: field errors before anything starts, and what genai-bench gets."""

import json
import os
from pathlib import Path

import pytest
import yaml

from autotuner.bench.genai_bench import GenaiBenchLevels, GenaiBenchSettings
from autotuner.bench.genai_bench_runner import genai_bench_settings
from autotuner.task.paths import resolve_here
from autotuner.results.answer import provenance
from autotuner.task.load import parse_spec, require_valid

ROOT = Path(__file__).resolve().parents[2]


def base(**workload) -> dict:
    data = yaml.safe_load((ROOT / "examples/quickstart.yaml").read_text())
    data["workload"].update(workload)
    return data


def problems(**workload) -> dict[str, str]:
    _, found = parse_spec(base(**workload))
    return {p.path: str(p) for p in found}


@pytest.mark.parametrize("workload, path, words", [
    ({"scenarios": ["D(1000,100)"], "prefix": {"len": 1001}}, "workload.prefix.len", "D(1000,100) can draw (1000"),
    ({"scenarios": ["N(1000,200)/(10,1)"], "prefix": {"len": 500}}, "workload.prefix.len", "(400 tokens)"),
    ({"scenarios": ["U(100,50)"], "prefix": {"len": 2}}, "workload.prefix.len", "(1 tokens)"),
    ({"prefix": {"len": 10, "ratio": 0.5}}, "workload.prefix.ratio", "not both"),
    ({"prefix": {}}, "workload.prefix.len", "give len"),
    ({"prefix": {"ratio": 1.5}}, "workload.prefix.ratio", "less than or equal to 1"),
    ({"prefix": {"ratio": -0.1}}, "workload.prefix.ratio", "greater than or equal to 0"),
    ({"scenarios": ["U(10,100)/(1,2)"], "prefix": {"ratio": 0.5}}, "workload.prefix.ratio", "D scenarios only"),
    ({"dataset": {"path": "no/such/prompts.txt"}}, "workload.dataset.path", "no such file"),
    ({"dataset": {"path": "README.md"}}, "workload.dataset.path", ".txt, .csv, .json"),
    ({"dataset": {"path": "examples/prompts.csv"}}, "workload.dataset.prompt_column", "needs the column"),
    ({"dataset": {"path": "examples/prompts.csv", "prompt_column": "text"}}, "workload.dataset.prompt_column",
     "no such column; columns: id, prompt"),
    ({"dataset": {"path": "examples/prompts.csv", "prompt_column": "prompt", "lengths": "file"}},
     "workload.dataset.lengths", "must be one of scenario or prompts"),
    ({"dataset": {"path": "examples/prompts.csv", "prompt_column": "prompt", "lengths": "prompts"},
      "scenarios": ["dataset"]}, "workload.dataset.max_tokens", "needs the output tokens"),
    ({"dataset": {"path": "examples/prompts.csv", "prompt_column": "prompt", "lengths": "prompts",
                  "max_tokens": 64}}, "workload.scenarios", "the only scenario is 'dataset'"),
    ({"dataset": {"path": "examples/prompts.csv", "prompt_column": "prompt", "lengths": "prompts",
                  "max_tokens": 64}, "scenarios": ["dataset"], "prefix": {"len": 8}}, "workload.prefix",
     "not with lengths prompts"),
    ({"dataset": {"path": "examples/prompts.csv", "prompt_column": "prompt", "max_tokens": 64}},
     "workload.dataset.max_tokens", "only with lengths prompts"),
    ({"scenarios": ["dataset"]}, "workload.scenarios.0", "must be a text-to-text scenario"),
])
def test_bad_traffic_gets_a_field_error(workload, path, words):
    found = problems(**workload)
    assert path in found and words in found[path], found


def test_unreadable_or_malformed_prompt_files(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n")
    not_strings = tmp_path / "p.json"
    not_strings.write_text(json.dumps([{"prompt": "hi"}]))
    txt_with_column = tmp_path / "p.txt"
    txt_with_column.write_text("hello\n")
    assert "holds no prompt" in problems(dataset={"path": str(empty)})["workload.dataset.path"]
    assert "list of strings" in problems(dataset={"path": str(not_strings)})["workload.dataset.path"]
    assert "only a .csv" in problems(dataset={"path": str(txt_with_column), "prompt_column": "x"})[
        "workload.dataset.prompt_column"]
    if os.geteuid() != 0:  # root reads anything
        locked = tmp_path / "locked.txt"
        locked.write_text("hi\n")
        locked.chmod(0)
        assert "cannot read" in problems(dataset={"path": str(locked)})["workload.dataset.path"]


def test_the_shipped_examples_are_valid():
    for name in ("chat-system-prompt.yaml", "own-prompts.yaml"):
        _, found = parse_spec(yaml.safe_load((ROOT / "examples" / name).read_text()))
        assert found == [], (name, found)


def test_genai_bench_gets_the_prefix_and_the_prompts_file(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    spec = resolve_here(require_valid(base(prefix={"len": 64}, dataset={"path": "examples/prompts.csv",
                                                                       "prompt_column": "prompt"})))
    assert spec.workload.dataset.path == str(ROOT / "examples/prompts.csv")  # absolute for the Ray worker
    levels = GenaiBenchLevels(genai_bench_settings(spec), tmp_path)
    argv = levels.shared_argv()
    assert argv[argv.index("--prefix-len") + 1] == "64"
    assert argv[argv.index("--dataset-path") + 1] == str(ROOT / "examples/prompts.csv")
    assert argv[argv.index("--dataset-prompt-column") + 1] == "prompt"
    ratio = GenaiBenchLevels(GenaiBenchSettings("tok", prefix_ratio=0.25), tmp_path / "r").shared_argv()
    assert ratio[ratio.index("--prefix-ratio") + 1] == "0.25" and "--prefix-len" not in ratio


def test_prompts_as_written_run_genai_bench_s_dataset_scenario_asking_max_tokens(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    data = base(scenarios=["dataset"], dataset={"path": "examples/prompts.csv", "prompt_column": "prompt",
                                                "lengths": "prompts", "max_tokens": 64})
    spec = resolve_here(require_valid(data))
    argv = GenaiBenchLevels(genai_bench_settings(spec), tmp_path).shared_argv()
    assert json.loads(argv[argv.index("--additional-request-params") + 1]) == {"max_tokens": 64}
    assert spec.workload.traffic() == "dataset; prompts from prompts.csv (column prompt), as written, 64 tokens out at most"


def test_provenance_names_the_traffic(monkeypatch):
    monkeypatch.chdir(ROOT)
    spec = resolve_here(require_valid(base(scenarios=["D(2200,200)"], prefix={"len": 2000},
                                           dataset={"path": "examples/prompts.csv", "prompt_column": "prompt"})))
    made = provenance(spec)
    assert made["traffic"] == "D(2200,200); a 2000-token shared prefix; prompts from prompts.csv (column prompt)"
    assert len(made["dataset_sha256"]) == 64


def test_the_benchmarkjob_runner_refuses_traffic_it_cannot_pass_on():
    data = yaml.safe_load((ROOT / "examples/ome-llama-3.2-1b.yaml").read_text())
    data["workload"]["runner"] = "benchmarkjob"
    data["workload"]["prefix"] = {"len": 10}
    _, found = parse_spec(data)
    assert any(p.path == "workload.prefix" and "cannot pass it on" in p.message for p in found), found
