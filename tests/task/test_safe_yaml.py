"""Untrusted YAML: limits on size, nesting and alias expansion, checked before anything is built."""

import pytest

from autotuner.task.safe_yaml import UnsafeYamlError, load_untrusted_yaml


def alias_bomb(levels: int = 9, fan: int = 9) -> str:
    """The billion-laughs document: each line repeats the previous anchor ``fan`` times."""
    lines = [f"l0: &l0 [{', '.join(['lol'] * fan)}]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * fan)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_ordinary_anchors_and_merge_keys_still_work():
    text = "base: &b {tp_size: 1, dp_size: 1}\nfirst: {<<: *b, tp_size: 2}\nsecond: *b\n"
    assert load_untrusted_yaml(text) == {"base": {"tp_size": 1, "dp_size": 1},
                                         "first": {"tp_size": 2, "dp_size": 1},
                                         "second": {"tp_size": 1, "dp_size": 1}}


def test_alias_bomb_is_refused_by_its_expanded_size():
    with pytest.raises(UnsafeYamlError, match="once aliases are expanded") as err:
        load_untrusted_yaml(alias_bomb())
    assert err.value.where.startswith("line ")


def test_deep_nesting_is_refused_not_a_recursion_error():
    with pytest.raises(UnsafeYamlError, match="nested deeper than 32 levels"):
        load_untrusted_yaml("x: " + "[" * 5000 + "]" * 5000)
    with pytest.raises(UnsafeYamlError, match="nested deeper"):
        load_untrusted_yaml("".join(f"{'  ' * i}k{i}:\n" for i in range(40)) + "  " * 40 + "v")


def test_alias_inside_its_own_node_is_refused():
    with pytest.raises(UnsafeYamlError, match=r"alias \*a refers to a node that contains it"):
        load_untrusted_yaml("x: &a [1, *a]")


def test_size_limit_and_unusable_values():
    with pytest.raises(UnsafeYamlError, match="more than the 1000 a task may have"):
        load_untrusted_yaml("a: " + "x" * 1000, max_bytes=1000)
    with pytest.raises(UnsafeYamlError, match="not a usable value"):
        load_untrusted_yaml("seed: " + "9" * 5000)
    with pytest.raises(UnsafeYamlError, match="not valid YAML") as err:
        load_untrusted_yaml("a: [unclosed\nb: 1")
    assert err.value.where == "line 2"


@pytest.mark.parametrize("text, where, message", [
    ("budget:\n  trials: 16\n  gpus: 2\n  trials: 100000\n", "line 4", "budget.trials is given twice (lines 2 and 4)"),
    ("name: a\nname: b\n", "line 2", "name is given twice (lines 1 and 2)"),
    ('{"seed": 1, "seed": 2}', "line 1", "seed is given twice"),
    ("search:\n  initial_configs:\n    - {tp_size: 1, tp_size: 2}\n", "line 3",
     "search.initial_configs.0.tp_size is given twice"),
    ("a: 1\n'a': 2\n", "line 2", "a is given twice"),
], ids=["nested", "top", "json", "in-a-list", "quoted"])
def test_a_key_given_twice_is_refused_naming_its_path(text, where, message):
    with pytest.raises(UnsafeYamlError, match="given twice") as err:
        load_untrusted_yaml(text)
    assert err.value.where == where
    assert message in err.value.message and err.value.field == message.split()[0]


def test_a_merge_key_may_still_be_overridden_and_an_alias_is_not_a_duplicate():
    text = "base: &b {x: 1, y: 2}\nfirst: {<<: *b, x: 3}\nsecond: *b\nthird: *b\n"
    assert load_untrusted_yaml(text)["first"] == {"x": 3, "y": 2}
