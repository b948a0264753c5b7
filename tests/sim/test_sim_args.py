"""The simulator's command line: the engine version's own parser decides, the version's defaults apply."""

import pytest

from autotuner.flavors.option_table import load_table
from autotuner.flavors import FLAVORS
from autotuner.sim.args import SimServerArgs, parse_argv


def sim(engine: str, version: str, *server_argv: str, gpu: str = "H100") -> list[str]:
    return ["--sim-engine", engine, "--sim-engine-version", version, "--sim-gpu", gpu,
            "--sim-model", "Llama-3.1-8B", "--", *server_argv]


def rejected(capsys, argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exit_:
        parse_argv(argv)
    assert exit_.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize("engine,version,argv,message", [
    # a flag SGLang never had (the simulator used to accept it)
    ("sglang", "0.5.19", ["--model-path", "m", "--disable-log-requests"],
     "sglang serve: error: unrecognized arguments: --disable-log-requests"),
    ("sglang", "0.5.23", ["--model-path", "m", "--disable-log-requests"],
     "sglang serve: error: unrecognized arguments: --disable-log-requests"),
    # renamed in 0.5.23: the old spelling is an ambiguous prefix there
    ("sglang", "0.5.23", ["--model-path", "m", "--cuda-graph-max-bs", "256"],
     "sglang serve: error: ambiguous option: --cuda-graph-max-bs could match --cuda-graph-max-bs-decode, "
     "--cuda-graph-max-bs-prefill"),
    ("sglang", "0.5.19", ["--tp-size", "2"], "sglang serve: error: the following arguments are required: "
                                             "--model-path/--model"),
    ("sglang", "0.5.23", ["--model-path", "m", "--kv-cache-dtype", "fp16"],
     "sglang serve: error: argument --kv-cache-dtype: invalid choice: 'fp16'"),
    ("vllm", "0.33.0", ["m", "--mem-fraction-static", "0.8"],
     "vllm serve: error: unrecognized arguments: --mem-fraction-static 0.8"),
    ("vllm", "0.33.0", ["m", "--scheduling-policy", "lpm"],
     "vllm serve: error: argument --scheduling-policy: invalid choice: 'lpm'"),
])
def test_what_the_version_rejects_is_rejected_in_its_words(capsys, engine, version, argv, message):
    assert message in rejected(capsys, sim(engine, version, *argv))


def test_what_the_version_accepts_is_accepted():
    assert parse_argv(sim("sglang", "0.5.19", "--model-path", "m", "--cuda-graph-max-bs", "64")).cuda_graph_max_bs == 64
    new = parse_argv(sim("sglang", "0.5.23", "--model-path", "m", "--cuda-graph-max-bs-decode", "64",
                         "--cuda-graph-backend-decode", "disabled"))
    assert new.cuda_graph_max_bs == 64 and new.disable_cuda_graph and new.prefill_cuda_graph
    # vLLM takes --disable-log-requests, underscores and the positional model
    v = parse_argv(sim("vllm", "0.33.0", "/models/llama", "--disable-log-requests", "--tensor_parallel_size", "2"))
    assert (v.model_path, v.tp_size, v.engine) == ("/models/llama", 2, "vllm")


def test_deprecated_flags_are_accepted_with_the_engines_warning():
    args = parse_argv(sim("sglang", "0.5.19", "--model-path", "m", "--disable-cuda-graph"))
    assert args.disable_cuda_graph and not args.prefill_cuda_graph
    assert any("--disable-cuda-graph is deprecated" in w for w in args.warnings)


def test_unknown_version_and_engine_exit_2(capsys):
    assert "recorded versions: 0.5.19, 0.5.23" in rejected(capsys, sim("sglang", "0.4.0", "--model-path", "m"))
    assert "invalid choice: 'trtllm'" in rejected(capsys, sim("trtllm", "1", "m"))


def test_every_tuner_parameter_reaches_the_core_as_each_version_spells_it():
    config = {"tp_size": 2, "dp_size": 2, "mem_fraction_static": 0.85, "max_running_requests": 96,
              "chunked_prefill_size": 4096, "max_prefill_tokens": 8192, "schedule_policy": "lpm",
              "schedule_conservativeness": 1.3, "cuda_graph_max_bs": 64, "disable_cuda_graph": True,
              "kv_cache_dtype": "fp8_e5m2", "enable_mixed_chunk": True, "disable_radix_cache": True}
    sglang = FLAVORS.get("sglang")
    for version in sglang.versions():
        assert set(config) == set(sglang.params(version)), "test must cover every tunable parameter"
        args = parse_argv(sim("sglang", version, "--model-path", "/tok", *sglang.config_argv(config, version)))
        for name, value in config.items():
            assert getattr(args, name) == value, (version, name)


def test_vllm_flags_map_onto_the_core():
    a = parse_argv(sim("vllm", "0.33.0", "m", "-tp", "2", "-dp", "2", "--gpu-memory-utilization", "0.8",
                       "--max-num-seqs", "128", "--max-num-batched-tokens", "4096", "--no-enable-chunked-prefill",
                       "--disable-prefix-caching", "--kv-cache-dtype", "fp8", "--block-size", "32", "--enforce-eager",
                       "--scheduling-policy", "priority", "--served-model-name", "a", "b"))
    assert (a.tp_size, a.dp_size, a.gpu_memory_utilization, a.max_running_requests) == (2, 2, 0.8, 128)
    assert (a.max_prefill_tokens, a.chunked_prefill_size, a.disable_radix_cache) == (4096, -1, True)
    assert (a.kv_cache_dtype, a.block_size, a.disable_cuda_graph, a.schedule_policy) == ("fp8", 32, True, "fcfs")
    assert a.served_model_name == "a" and a.enable_mixed_chunk
    sizes = parse_argv(sim("vllm", "0.33.0", "m", "--cudagraph-capture-sizes", "1", "8", "64")).resolved()
    assert sizes.cuda_graph_bs == (1, 8, 64) and sizes.cuda_graph_max_bs == 64


def recorded_sglang_defaults():
    for version in ("0.5.19", "0.5.23"):
        for gpu, cases in load_table("sglang", version)["gpu_defaults"].items():
            for case, entry in cases.items():
                if "resolved" in entry:
                    yield pytest.param(version, gpu, entry["argv"], entry["resolved"], id=f"{version}-{gpu}-{case}")


@pytest.mark.parametrize("version,gpu,argv,expected", list(recorded_sglang_defaults()))
def test_sglang_defaults_match_the_recorded_resolution(version, gpu, argv, expected):
    r = parse_argv(sim("sglang", version, "--model-path", "m", *argv, gpu=gpu)).resolved()
    decode = expected["cuda_graph_config"]["decode"]
    assert r.mem_fraction_static == expected["mem_fraction_static"]
    assert r.chunked_prefill_size == expected["chunked_prefill_size"]
    assert r.max_prefill_tokens == expected["max_prefill_tokens"]
    assert (r.cuda_graph_max_bs, list(r.cuda_graph_bs)) == (decode["max_bs"], decode["bs"])
    assert r.attention_backend == expected["attention_backend"]


@pytest.mark.parametrize("gpu", ["H100", "H200"])
def test_vllm_defaults_match_the_recorded_table(gpu):
    table = load_table("vllm", "0.33.0")
    batch = table["gpu_defaults"][gpu]
    r = parse_argv(sim("vllm", "0.33.0", "m", gpu=gpu)).resolved()
    assert r.max_running_requests == batch["max_num_seqs"]["OPENAI_API_SERVER"]
    assert r.max_prefill_tokens == r.chunked_prefill_size == batch["max_num_batched_tokens"]["OPENAI_API_SERVER"]
    assert r.gpu_memory_utilization == 0.92 and r.block_size == 16 and r.kv_reservation is False
    assert r.cuda_graph_max_bs == 512 and r.cuda_graph_bs[:4] == (1, 2, 4, 8)


def test_direct_construction_targets_the_newest_recorded_version():
    assert SimServerArgs().engine_version == "0.5.23"
    assert SimServerArgs(engine="vllm").engine_version == "0.33.0"


def test_a_host_stall_is_a_simulator_option_and_cannot_be_negative():
    args = parse_argv(["--sim-host-stall", "0.03", "--sim-model", "Llama-3.1-8B", "--", "--model-path", "m"])
    assert args.sim_host_stall == 0.03 and SimServerArgs().sim_host_stall == 0.0
    with pytest.raises(ValueError, match="sim_host_stall must be >= 0"):
        SimServerArgs(sim_host_stall=-1.0).validate()
