"""Whether a Ray cluster can ever place a campaign's trials, and what to do when it cannot."""

from autotuner.campaign.placement import GPU, SIMULATED_GPU, largest_claim, placement_problem, trial_slots
from autotuner.task.load import require_valid


def spec(**over):
    data = {"name": "p", "model": {"name": "meta-llama/Llama-3.1-8B-Instruct"},
            "search": {"space": {"tp_size": {"choices": [1, 2, 4]}, "dp_size": {"choices": [1, 2]}}},
            "engine": {"gpus_per_node": 8}, "budget": {"gpus": 4}}
    data.update(over)
    return require_valid(data)


REAL = {"model": {"name": "meta-llama/Llama-3.1-8B-Instruct", "path": "/m", "tokenizer": "/m"},
        "engine": {"local": {"command": "engine"}}}
OME = {"model": {"name": "meta-llama/Llama-3.1-8B-Instruct", "tokenizer": "/m"},
       "engine": {"backend": "ome", "ome": {"base_model": "llama"}}}


def test_simulated_trials_claim_their_own_resource_real_ones_gpus():
    assert trial_slots(spec()).resource == SIMULATED_GPU
    assert trial_slots(spec(**REAL)).resource == GPU
    assert trial_slots(spec(**OME)).resource == GPU


def test_a_ray_of_the_campaigns_own_declares_the_budget_as_slots():
    assert trial_slots(spec()).local_ray == {"resources": {SIMULATED_GPU: 4}}
    assert trial_slots(spec(**REAL)).local_ray == {}  # Ray counts the machine's GPUs
    assert trial_slots(spec(**OME)).local_ray == {"num_gpus": 4}  # logical: the GPUs held through OME


def test_the_largest_claim_leaves_out_configs_rejected_before_deployment():
    assert largest_claim(spec()) == 4  # tp 4 x dp 2 = 8 exceeds the 4 slots of the budget: rejected
    assert largest_claim(spec(budget={"gpus": 16}, engine={"gpus_per_node": 8})) == 8


def test_what_to_do_when_no_node_offers_the_slots():
    assert "ray start --head --resources='{\"simulated_gpu\": 8}'" in placement_problem(4, trial_slots(spec()), [])
    assert "has GPUs" in placement_problem(1, trial_slots(spec(**REAL)), [0.0, 0.0])
    assert "num-gpus" in placement_problem(1, trial_slots(spec(**OME)), [0.0])


def test_a_node_too_small_for_the_largest_trial():
    why = placement_problem(8, trial_slots(spec(**REAL)), [4.0, 2.0])
    assert "up to 8 GPU" in why and "set engine.gpus_per_node to 4" in why
    assert placement_problem(8, trial_slots(spec(**REAL)), [4.0, 8.0]) is None
