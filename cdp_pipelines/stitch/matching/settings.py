"""The Splink settings of a tenant, derived from the columns it has."""

from __future__ import annotations

import json
from typing import Any, Iterable

from cdp_pipelines.stitch.matching.blocking import prediction_blocking_rules
from cdp_pipelines.stitch.matching.comparisons import choose_comparisons
from cdp_pipelines.stitch.matching.records import MODEL_COLUMNS


def build_settings(columns_present: Iterable[str],
                   wide: set[frozenset[str]] | None = None) -> dict[str, Any]:
    """Splink 5 settings (plain JSON data, Spark dialect) for a dedupe over the columns
    present: comparisons and blocking rules are chosen by which columns exist; `wide`
    (see `wide_blocks`) names the name x area rules to narrow, all when None."""
    from splink import SettingsCreator

    cols = set(columns_present)
    comps = choose_comparisons(cols)
    if not comps:
        raise ValueError(
            "Stitch model: no comparable column among "
            f"{sorted(cols)}; expected some of {list(MODEL_COLUMNS)} or fk_* columns"
        )
    settings = SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="record_id",
        comparisons=comps,
        blocking_rules_to_generate_predictions=prediction_blocking_rules(cols, wide),
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=True,
        additional_columns_to_retain=["sk"] if "sk" in cols else [],
        max_iterations=20,
    )
    return json.loads(json.dumps(settings.create_settings_dict("spark")))
