"""Rules of a task spec that cross fields: engine flavor and version, parameter names and domains
(from the flavor's catalogue at that version), ranges, GPUs, SLOs and whether the model fits. The
typed model itself is in :mod:`autotuner.task.spec`, which runs these after the structural checks (this
module imports it only for annotations)::

    problems = check_spec(spec)     # [] when the task can run
"""

from __future__ import annotations

import json
import math
import re
from typing import TYPE_CHECKING, Any, Iterator

from autotuner.task.traffic import DATASET_SCENARIO, dataset_mode_problems, dataset_problems, prefix_problems
from autotuner.flavors import FLAVORS, EngineFlavor, EngineParam
from autotuner.facts.fit import divides_heads, fits_node, size_facts, weight_bytes_per_gpu, weights_fit
from autotuner.facts.models import MODELS, resolve_model
from autotuner.plugins import BACKEND_RULES, RUNNER_RULES
from autotuner.task.kubernetes_names import subdomain_problem
from autotuner.task.scenarios import scenario_problem
from autotuner.task.space_order import sampling_order
from autotuner.flavors.api_key_names import API_KEY_FLAG
from autotuner.task.problem import CAMPAIGN_NAME_RE, GPU_TYPES, Problem

if TYPE_CHECKING:
    from autotuner.task.spec import EngineSpec, ParamSpace, TaskSpec

MAX_CONCURRENCY = 100_000  # genai-bench users of one level
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SECRET_KEY_RE = re.compile(r"^[-._a-zA-Z0-9]{1,253}$")  # a key of a Secret's data


def check_spec(spec: TaskSpec) -> list[Problem]:
    """Rules that cross fields: parameter names and domains, ranges, GPUs, SLOs, model fit."""
    problems: list[Problem] = [Problem(path, value, "must be a finite number")
                               for path, value in _non_finite(spec.model_dump())]
    add = lambda path, value, msg: problems.append(Problem(path, value, msg))  # noqa: E731

    if not CAMPAIGN_NAME_RE.match(spec.name):
        add("name", spec.name, "must be 1-40 lowercase letters, digits or '-', starting and ending alphanumeric")

    eng = spec.engine
    flavor_problems = _check_flavor(eng)
    if flavor_problems:  # without a known flavor and version there is no catalogue to check against
        return problems + flavor_problems
    flavor = eng.engine_flavor
    params = flavor.params(eng.version or "")
    known = ", ".join(params)
    if eng.gpu not in GPU_TYPES and eng.simulated:
        add("engine.gpu", eng.gpu, "the simulator knows " + ", ".join(GPU_TYPES))
    if eng.simulated and not _simulated_model_known(spec.model.name):
        add("model.name", spec.model.name, "the simulator models only " + ", ".join(
            f"{m.hf_id} ({m.name})" for m in MODELS.values()))
    problems.extend(BACKEND_RULES.get(eng.backend)(spec))
    problems.extend(RUNNER_RULES.get(spec.workload.runner)(spec))
    if not eng.simulated and not spec.model.tokenizer:
        add("model.tokenizer", None, "a real server (not engine.local.command: simulator) needs the model's "
                                     "local tokenizer folder for genai-bench")
    problems.extend(_check_api_key(spec))
    problems.extend(_check_extra_args(spec, flavor))

    for name, value in eng.fixed.items():
        path = f"engine.fixed.{name}"
        param = params.get(name)
        if param is None:
            add(path, value, f"unknown {flavor.title} {eng.version} parameter; known: {known}")
        elif (why := param.check(value)) is not None:
            add(path, value, why)

    space = spec.search.space
    for name in space:
        if name in eng.fixed:
            add(f"search.space.{name}", name, "is also in engine.fixed; tune it or fix it, not both")
    for name, ps in space.items():
        problems.extend(_check_param_space(name, ps, space, eng.fixed, params))
    _, cyclic = sampling_order(space)
    for name in cyclic:
        add(f"search.space.{name}.when", space[name].when,
            "conditions depend on each other in a cycle: " + ", ".join(cyclic))
    if not space:
        add("search.space", {}, "needs at least one engine parameter to tune; known: " + known)

    for i, cfg in enumerate(spec.search.initial_configs):
        for name, value in cfg.items():
            param = params.get(name)
            path = f"search.initial_configs.{i}.{name}"
            if name not in space:
                add(path, value, "not in search.space; allowed: " + ", ".join(space))
            elif param and (why := param.check(value)) is not None:
                add(path, value, why)
        for name, why in flavor.config_problems({**eng.fixed, **cfg}, eng.version or "", eng.gpu):
            add(f"search.initial_configs.{i}.{name}", cfg.get(name, eng.fixed.get(name)), why)

    problems.extend(_check_gpus(spec, flavor))

    wl = spec.workload
    as_written = wl.dataset is not None and wl.dataset.lengths == "prompts"
    for i, s in enumerate(wl.scenarios):
        if as_written and s == DATASET_SCENARIO:
            continue
        if (why := scenario_problem(s)) is not None:
            add(f"workload.scenarios.{i}", s, why)
    if wl.prefix is not None:
        for name, value, why in prefix_problems(wl.prefix.len, wl.prefix.ratio, wl.scenarios):
            add(f"workload.prefix.{name}", value, why)
    if wl.dataset is not None:
        for name, value, why in dataset_problems(wl.dataset.path, wl.dataset.prompt_column):
            add(f"workload.dataset.{name}", value, why)
        for name, value, why in dataset_mode_problems(wl.dataset.lengths, wl.dataset.max_tokens, wl.scenarios,
                                                      wl.prefix is not None):
            add(f"workload.{name}", value, why)
    for i, c in enumerate(wl.concurrency or []):
        if not 1 <= c <= MAX_CONCURRENCY:
            add(f"workload.concurrency.{i}", c, f"must be a positive integer, at most {MAX_CONCURRENCY}")
    if wl.concurrency and len(set(wl.concurrency)) != len(wl.concurrency):
        add("workload.concurrency", wl.concurrency, "levels must be distinct")
    load = wl.load
    if load.min > load.max:
        add("workload.load.max", load.max, f"must be at least workload.load.min ({load.min})")
    elif not load.min <= load.start <= load.max:
        add("workload.load.start", load.start, f"must be within workload.load.min-max ({load.min}-{load.max})")

    obj = spec.objective
    if obj.kind == "latency":
        if obj.latency_concurrency is None:
            add("objective.latency_concurrency", None, "the latency objective needs the concurrency it is read at")
    elif obj.slo.ttft_p90_s is None and obj.slo.tpot_p90_s is None:
        add("objective.slo", None, "goodput needs at least one latency SLO (ttft_p90_s or tpot_p90_s)")

    if spec.model.served_name is not None and not re.match(r"^[A-Za-z0-9._:/-]{1,128}$", spec.model.served_name):
        add("model.served_name", spec.model.served_name, "letters, digits and . _ : / - only (1-128)")
    elif (why := flavor.served_name_problem(spec.model.served_model_name)) is not None:
        add("model.served_name", spec.model.served_model_name, why)
    return problems


def _check_flavor(eng: "EngineSpec") -> list[Problem]:
    """engine.flavor names a known flavor, engine.version one of its recorded versions, and a named
    OME runtime is not one of another flavor's stock runtimes."""
    if eng.flavor not in FLAVORS:
        return [Problem("engine.flavor", eng.flavor, "must be one of " + ", ".join(FLAVORS))]
    flavor = FLAVORS.get(eng.flavor)
    if eng.version not in flavor.versions():
        return [Problem("engine.version", eng.version, f"{flavor.title} versions with a recorded option table: "
                        + ", ".join(flavor.versions()))]
    runtime = eng.ome.runtime if eng.ome is not None else None
    other = next((f for f in FLAVORS.loaded() if f is not flavor and runtime
                  and runtime.startswith(f.ome.runtime_prefix)), None)
    if other is not None:
        return [Problem("engine.ome.runtime", runtime, f"looks like a stock {other.title} runtime "
                        f"({other.ome.runtime_prefix}*) but engine.flavor is {flavor.name}")]
    return []


def _simulated_model_known(name: str) -> bool:
    try:
        resolve_model(name)
    except KeyError:
        return False
    return True


def _check_api_key(spec: TaskSpec) -> list[Problem]:
    """engine.api_key names one source that fits the backend; no key is written into the task."""
    out: list[Problem] = []
    eng, ref = spec.engine, spec.engine.api_key
    written = [("engine.local.extra_args", eng.local.extra_args)]
    if eng.ome is not None and eng.ome.command_override:
        written.append(("engine.ome.command_override", eng.ome.command_override))
    for path, argv in written:
        if any(arg == "--api-key" or arg.startswith("--api-key=") for arg in argv):
            out.append(Problem(path, "--api-key", "a key in the task file ends up in spec.yaml and the logs: "
                                                  "name where it comes from in engine.api_key instead"))
    if ref is None:
        return out
    if (ref.env is None) == (ref.secret_name is None):
        out.append(Problem("engine.api_key", ref.model_dump(exclude_none=True),
                           "give either env (an environment variable) or secret_name (a Kubernetes Secret)"))
    if ref.env is not None and not ENV_NAME_RE.match(ref.env):
        out.append(Problem("engine.api_key.env", ref.env, "must be an environment variable name: letters, digits, _"))
    if ref.secret_name is not None and (why := subdomain_problem(ref.secret_name)) is not None:
        out.append(Problem("engine.api_key.secret_name", ref.secret_name, why))
    if not SECRET_KEY_RE.match(ref.secret_key):
        out.append(Problem("engine.api_key.secret_key", ref.secret_key, "letters, digits, '-', '_' and '.' only"))
    return out


def _check_extra_args(spec: TaskSpec, flavor: EngineFlavor) -> list[Problem]:
    """engine.local.extra_args may add flags, never override one the tuner sets on each launch (an
    engine listening on 0.0.0.0, a tuned parameter silently fixed). ``--api-key`` has its own rule."""
    eng, args = spec.engine, spec.engine.local.extra_args
    reported = {API_KEY_FLAG} if any(a.split("=", 1)[0] == API_KEY_FLAG for a in args) else set()
    return [Problem("engine.local.extra_args", arg, f"overrides {flag}, which the tuner sets on every launch"
                    + (f" from {param}: tune it in search.space or set it in engine.fixed" if param else ""))
            for arg, flag, param in flavor.overridden_flags(args, eng.version or "", [*spec.search.space, *eng.fixed])
            if flag not in reported]


def _non_finite(value: Any, path: str = "") -> Iterator[tuple[str, float]]:
    """(path, value) of every inf or nan in plain data, e.g. ``search.space.x.choices.1``."""
    if isinstance(value, float) and not math.isfinite(value):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _non_finite(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _non_finite(item, f"{path}.{i}")


def _check_param_space(name: str, ps: "ParamSpace", space: dict[str, "ParamSpace"], fixed: dict,
                       params: dict[str, EngineParam]) -> list[Problem]:
    path = f"search.space.{name}"
    out: list[Problem] = []
    param = params.get(name)
    if param is None:
        return [Problem(path, name, "unknown engine parameter; known: " + ", ".join(params))]
    if ps.choices is not None:
        if ps.low is not None or ps.high is not None:
            out.append(Problem(path, ps.model_dump(exclude_none=True), "give either choices or low/high, not both"))
        if not ps.choices:
            out.append(Problem(f"{path}.choices", [], "must list at least one value"))
        for i, v in enumerate(ps.choices):
            if (why := param.check(v)) is not None:
                out.append(Problem(f"{path}.choices.{i}", v, why))
        if len({json.dumps(v) for v in ps.choices}) != len(ps.choices):
            out.append(Problem(f"{path}.choices", ps.choices, "values must be distinct"))
    elif ps.low is None or ps.high is None:
        out.append(Problem(path, ps.model_dump(exclude_none=True), "needs choices, or both low and high"))
    else:
        if param.kind in ("bool", "str"):
            out.append(Problem(path, ps.model_dump(exclude_none=True),
                               f"{param.kind} parameter: use choices" + (
                                   f" from {', '.join(map(str, param.choices))}" if param.choices else "")))
        else:
            if ps.low >= ps.high:
                out.append(Problem(f"{path}.high", ps.high, f"empty range: high must be above low ({ps.low})"))
            for end in ("low", "high"):
                v = getattr(ps, end)
                v = int(v) if param.kind == "int" and float(v).is_integer() else v
                if param.kind == "int" and not float(v).is_integer():
                    out.append(Problem(f"{path}.{end}", v, "must be an integer"))
                elif (why := param.check(v)) is not None:
                    out.append(Problem(f"{path}.{end}", v, why))
            if ps.log and ps.low is not None and ps.low <= 0:
                out.append(Problem(f"{path}.low", ps.low, "a log-scale range must start above 0"))
            if ps.log and ps.step is not None:
                out.append(Problem(f"{path}.step", ps.step, "step cannot be combined with log scale"))
            elif param.kind == "int" and ps.step is not None and not float(ps.step).is_integer():
                out.append(Problem(f"{path}.step", ps.step, "an integer parameter needs a whole-number step"))
    for dep, val in (ps.when or {}).items():
        if dep not in space and dep not in fixed:
            out.append(Problem(f"{path}.when.{dep}", val, "must name a parameter of search.space or engine.fixed"))
        elif (dparam := params.get(dep)) and (why := dparam.check(val)) is not None:
            out.append(Problem(f"{path}.when.{dep}", val, why))
    return out


def parameter_values(spec: "TaskSpec", name: str) -> list[Any]:
    """Values a parameter can take in this campaign (its default when neither tuned nor fixed)."""
    flavor = spec.engine.engine_flavor
    parallel = (flavor.tp_param, flavor.dp_param)
    if name in spec.engine.fixed:
        return [spec.engine.fixed[name]]
    ps = spec.search.space.get(name)
    if ps is None:
        return [1] if name in parallel else []
    if ps.choices is not None:
        return list(ps.choices)
    if ps.low is None or ps.high is None:
        return []
    if name not in parallel:
        return [ps.low, ps.high]
    # Never the whole range a user wrote (high: 1e12): only what the parameter's bounds allow.
    param = flavor.params(spec.engine.version or "")[name]
    low, high = max(math.ceil(ps.low), int(param.low or 1)), min(math.floor(ps.high), int(param.high or 1))
    return list(range(low, high + 1))


def _check_gpus(spec: "TaskSpec", flavor: EngineFlavor) -> list[Problem]:
    out: list[Problem] = []
    node = spec.engine.gpus_per_node
    tp, dp, mem = flavor.tp_param, flavor.dp_param, flavor.memory_param
    tps = [v for v in parameter_values(spec, tp) if isinstance(v, int)]
    dps = [v for v in parameter_values(spec, dp) if isinstance(v, int)]
    if not tps or not dps:
        return out
    for name, vals in ((tp, tps), (dp, dps)):
        where = f"engine.fixed.{name}" if name in spec.engine.fixed else f"search.space.{name}"
        too_big = [v for v in vals if v > node]
        if too_big:
            out.append(Problem(where, too_big[0] if len(too_big) == 1 else too_big,
                               f"exceeds engine.gpus_per_node ({node})"))
    smallest = min(tps) * min(dps)
    if not fits_node(min(tps), min(dps), node):
        out.append(Problem("search.space", {tp: min(tps), dp: min(dps)},
                           f"{tp}*{dp}={smallest} exceeds engine.gpus_per_node ({node}) for every config"))
    if smallest > spec.budget.gpus:
        out.append(Problem("budget.gpus", spec.budget.gpus,
                           f"smaller than the fewest GPUs a config needs ({tp}*{dp}={smallest})"))
    facts = size_facts(spec.model.name, spec.engine.gpu, num_attention_heads=spec.model.num_attention_heads,
                       params_billion=spec.model.params_billion)
    heads = facts.num_attention_heads
    if heads:
        bad = [tp for tp in tps if not divides_heads(heads, tp)]
        if bad and len(bad) == len(tps):
            out.append(Problem(f"search.space.{tp}", tps, f"no value divides the model's {heads} attention heads"))
    params_b, gpu_mem = facts.params_billion, facts.gpu_memory_gb
    if params_b and gpu_mem:
        fracs = [v for v in parameter_values(spec, mem) if isinstance(v, (int, float))] or [0.9]
        weights_gb = weight_bytes_per_gpu(params_b, 1)  # GB in bf16: params in billions
        if not weights_fit(weight_bytes_per_gpu(params_b, max(tps)), gpu_mem, max(fracs)):
            out.append(Problem(f"search.space.{tp}", tps,
                               f"{params_b:g}B parameters ({weights_gb:.0f} GB in bf16) do not fit in "
                               f"{max(tps)} x {gpu_mem:g} GB x {mem} {max(fracs)}: allow a larger {tp}"))
    return out
