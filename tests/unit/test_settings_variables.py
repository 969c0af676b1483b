"""Settings.variables: any variable read by name, the environment before secrets.toml, empty
values as unset, and values never in repr."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.domain.settings import Settings, Variables


def test_a_variable_is_read_by_name_or_its_aliases_in_order() -> None:
    variables = Variables({"B": "2", "C": "3"})
    assert variables.get("A") is None
    assert variables.get("A", "B", "C") == "2"
    assert variables.get("C", "B") == "3"


def test_the_environment_wins_and_empty_values_count_as_unset(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('FROM_SECRETS = "s"\nBOTH = "s"\nEMPTY_ENV = "s"\nNUMBER = 7\n[a]\nX = 1\n')
    env = {"BOTH": "e", "EMPTY_ENV": "", "ONLY_ENV": "e"}
    variables = Settings.load(env=env, secrets_path=secrets).variables
    assert variables.get("FROM_SECRETS") == "s"
    assert variables.get("BOTH") == "e"
    assert variables.get("EMPTY_ENV") == "s"
    assert variables.get("ONLY_ENV") == "e"
    assert variables.get("NUMBER") == "7"
    assert variables.get("X") is None and variables.get("a") is None  # tables are not values


def test_typed_reads_take_a_default_when_unset() -> None:
    variables = Variables({"N": "5", "F": "0.25", "D": "15m"})
    assert variables.get_int("N", 1) == 5 and variables.get_int("MISSING", 1) == 1
    assert variables.get_float("F", 0.0) == 0.25 and variables.get_float("MISSING", 2.5) == 2.5
    assert variables.get_duration("D", 0) == 900 and variables.get_duration("MISSING", 9) == 9
    with pytest.raises(ValueError):
        Variables({"N": "five"}).get_int("N", 1)


def test_with_variables_sets_and_unsets_without_touching_the_original() -> None:
    base = Settings.load(env={"A": "1", "B": "2"}, secrets_path=None)
    changed = base.with_variables(A="9", B="", C="3")
    assert (changed.variables.get("A"), changed.variables.get("B")) == ("9", None)
    assert changed.variables.get("C") == "3"
    assert base.variables.get("A") == "1" and base.variables.get("C") is None
    assert changed.variables.names() == {"A", "C"}


def test_values_stay_out_of_repr_and_settings_compare_by_value() -> None:
    settings = Settings.load(env={"SOME_API_KEY": "secret-value-123"}, secrets_path=None)
    assert "secret-value-123" not in repr(settings)
    assert repr(settings.variables) == "Variables(<1 set>)"
    again = Settings.load(env={"SOME_API_KEY": "secret-value-123"}, secrets_path=None)
    assert settings == again and hash(settings) == hash(again)
    assert settings != settings.with_variables(SOME_API_KEY="other")
