"""Candidate edges for Stitch: deterministic links on exact identifiers plus a Splink model.

Input is the preprocessed frame (string columns `source`, `pk`, the `*_norm` columns a
tenant happens to have, `fk_<namespace>` columns and an optional separation key `sk`).
Everything here is derived from the columns present, so no tenant needs code of its own.

Edges come out as one frame: record_id_l < record_id_r, match_probability, match_weight,
match_type ('deterministic' | 'probabilistic'), match_key (the identifiers a deterministic
edge shares) and explanation (comparison name -> match weight, i.e. log2 Bayes factor,
including term-frequency adjustments: why two records linked).

This module is the public face of the package; each job has a module of its own.
"""

from cdp_pipelines.stitch.matching.blocking import wide_blocks
from cdp_pipelines.stitch.matching.comparisons import comparison_inputs
from cdp_pipelines.stitch.matching.deterministic import (
    DeterministicEdges,
    deterministic_edges,
    deterministic_edges_and_oversized,
    refreshed_deterministic_edges,
)
from cdp_pipelines.stitch.matching.guard import (
    HouseholdEvidence,
    contradiction_sql,
    guard_columns,
    household_evidence,
    mailbox_sql,
    match_threshold,
    name_guard_on,
    surname_letters_sql,
)
from cdp_pipelines.stitch.matching.linker import make_linker
from cdp_pipelines.stitch.matching.model_store import (
    load_model,
    model_fits_columns,
    save_model,
)
from cdp_pipelines.stitch.matching.predict import (
    DEFAULT_THRESHOLD,
    RunEdges,
    combine_edges,
    predict_run,
    scored_pairs,
)
from cdp_pipelines.stitch.matching.records import with_record_id
from cdp_pipelines.stitch.matching.scores import score_0_5, stored_from, with_scores
from cdp_pipelines.stitch.matching.settings import build_settings
from cdp_pipelines.stitch.matching.splink_backend import (
    release_splink_views,
    splink_db_api,
    splink_views_released,
)
from cdp_pipelines.stitch.matching.training import train, training_steps

__all__ = [
    "DEFAULT_THRESHOLD",
    "DeterministicEdges",
    "HouseholdEvidence",
    "RunEdges",
    "build_settings",
    "combine_edges",
    "comparison_inputs",
    "contradiction_sql",
    "deterministic_edges",
    "deterministic_edges_and_oversized",
    "guard_columns",
    "household_evidence",
    "load_model",
    "mailbox_sql",
    "make_linker",
    "match_threshold",
    "model_fits_columns",
    "name_guard_on",
    "predict_run",
    "refreshed_deterministic_edges",
    "release_splink_views",
    "save_model",
    "score_0_5",
    "scored_pairs",
    "splink_db_api",
    "splink_views_released",
    "stored_from",
    "surname_letters_sql",
    "train",
    "training_steps",
    "wide_blocks",
    "with_record_id",
    "with_scores",
]
