"""Trial object names: valid for OME, unique at their end, short enough for derived names."""

from __future__ import annotations

import pytest

from autotuner.k8s.names import (
    MAX_ISVC_NAME_LEN,
    campaign_selector,
    check_label_key,
    check_label_value,
    check_object_name,
    trial_labels,
    trial_resource_name,
)


@pytest.mark.parametrize("campaign, trial", [
    ("sweep", "t0001"),
    ("Llama 3.1 8B / H100 sweep", "t0001"),
    ("42-campaign", "t1"),
    ("x" * 200, "d1c62_00003"),
    ("sweep", "T" * 90),
    ("---", "___"),
])
def test_names_are_valid_ome_names_within_the_length_limit(campaign, trial):
    name = trial_resource_name(campaign, trial)
    assert check_object_name(name) is None, name
    assert len(name) <= MAX_ISVC_NAME_LEN
    assert len(f"{name}-decoder") <= 63 and len(f"modelconfig-{name[-20:]}") <= 63


def test_the_trial_part_is_kept_whole_at_the_end():
    name = trial_resource_name("a-very-long-campaign-name-that-must-be-shortened-somewhere", "t0042")
    assert name.endswith("-t0042") and name.startswith("a-very-long")


def test_last_20_characters_differ_between_trials_of_a_long_campaign():
    names = {trial_resource_name("c" * 80, f"trial_{i:05d}") for i in range(200)}
    assert len({n[-20:] for n in names}) == 200


def test_ids_that_differ_only_in_replaced_characters_get_different_names():
    assert trial_resource_name("sweep", "t_1") != trial_resource_name("sweep", "t-1")
    assert trial_resource_name("sweep", "T1") != trial_resource_name("sweep", "t1")


def test_clean_ids_are_used_as_they_are():
    assert trial_resource_name("sweep-1", "t0001") == "sweep-1-t0001"


@pytest.mark.parametrize("name, ok", [
    ("sweep-t1", True), ("1sweep", False), ("Sweep", False), ("sweep-", False), ("a" * 56, False), ("", False),
])
def test_ome_name_rule(name, ok):
    assert (check_object_name(name) is None) is ok


def test_label_rules():
    assert check_label_value("t0001") is None
    assert "must be a string" in check_label_value(7)
    assert check_label_value("bad value") is not None
    assert check_label_key("autotuner.io/campaign") is None
    assert check_label_key("Bad_Prefix!/x") is not None


def test_trial_labels_and_selector():
    assert trial_labels("sweep", "t1") == {"autotuner.io/campaign": "sweep", "autotuner.io/trial": "t1",
                                           "app.kubernetes.io/managed-by": "sglang-autotuner"}
    assert campaign_selector("sweep") == "autotuner.io/campaign=sweep"
    with pytest.raises(ValueError, match="must be at most 63 characters"):
        trial_labels("sweep", "t 1")
    with pytest.raises(ValueError):
        campaign_selector("a,b=c")
