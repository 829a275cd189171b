"""Splink settings derived from the columns present."""

import json

import pytest

from cdp_pipelines.stitch import matching


def test_build_settings_follows_columns():
    settings = matching.build_settings(
        ["source", "pk", "given_name_norm", "surname_norm", "postal_norm", "fk_crm"])
    names = [c["output_column_name"] for c in settings["comparisons"]]
    assert names == ["given_name_norm", "surname_norm", "location", "fk_crm"]
    rules = json.dumps(settings["blocking_rules_to_generate_predictions"])
    assert "fk_crm" in rules and "email_norm" not in rules
    assert settings["unique_id_column_name"] == "record_id"
    json.dumps(settings)  # plain data
    with pytest.raises(ValueError, match="no comparable column"):
        matching.build_settings(["source", "pk", "sk"])
