"""Training: the prior from deterministic rules, u by random sampling, m by EM."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any, Callable

from cdp_pipelines.stitch.matching.linker import make_linker
from cdp_pipelines.stitch.matching.records import strong_id_columns

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from splink import Linker

logger = logging.getLogger(__name__)

# On big inputs an EM pass first counts the pairs its rule makes on a probe of the records
# (at least this many), then samples records down to `em_max_pairs` pairs.
EM_MIN_SAMPLED_RECORDS = 200_000


def _deterministic_training_rules(cols: set[str]) -> list:
    from splink import block_on

    rules: list = [block_on(c) for c in strong_id_columns(cols)]
    name_sets = [("given_name_norm", "surname_norm"), ("full_name_norm",)]
    for names in name_sets:
        if all(n in cols for n in names):
            for extra in ("birthdate_norm", "postal_norm", "address_norm"):
                if extra in cols:
                    rules.append(block_on(*names, extra))
            break
    return rules


def _em_blocking_rules(cols: set[str]) -> list:
    """Two or three EM passes whose blocking columns differ, so every comparison is
    estimated in at least one pass (a pass cannot estimate what it blocks on)."""
    from splink import block_on

    rules: list = []
    if {"given_name_norm", "surname_norm"} <= cols:
        rules.append(block_on("given_name_norm", "surname_norm"))
    elif "full_name_norm" in cols:
        rules.append(block_on("full_name_norm"))
    for other in ("birthdate_norm", "email_norm", "phone_norm", "postal_norm",
                  "address_norm"):
        if other in cols:
            rules.append(block_on(other))
            if len(rules) == 2:
                break
    if len(rules) < 2:
        rules.extend(block_on(c) for c in strong_id_columns(cols))
    if "birthdate_norm" in cols and "postal_norm" in cols and len(rules) < 3:
        rules.append(block_on("substr(birthdate_norm, 1, 4)", "postal_norm"))
    return rules[:3]


def training_steps(
    linker: "Linker",
    cols: set[str],
    n_records: int,
    recall: float = 0.7,
    u_max_pairs: float = 5e6,
    em_max_pairs: float = 5e6,
    seed: int = 42,
) -> list[tuple[str, Callable[[], object]]]:
    """The estimation steps of `train`, named, in order (the profile benchmark times each):
    lambda from deterministic rules, u by random sampling, m by EM on differently blocked
    samples."""
    steps: list[tuple[str, Callable[[], object]]] = []
    det_rules = _deterministic_training_rules(cols)
    if det_rules:
        steps.append(("lambda", lambda: linker.training
                      .estimate_probability_two_random_records_match(det_rules, recall=recall)))
    steps.append(("u sampling", lambda: linker.training.estimate_u_using_random_sampling(
        max_pairs=u_max_pairs, seed=seed)))
    # Sample records for EM on big inputs only: a small tenant needs all of its records
    # for every comparison level to be observed among the pairs.
    proportion = min(1.0, max(EM_MIN_SAMPLED_RECORDS / max(n_records, 1), 0.05))

    def em_pass(rule) -> None:
        try:
            # EM iterates over the counts of each agreement pattern, not over every pair
            # (leaving term-frequency adjustments out of its E step): at 1M records that
            # takes a third off the three passes (337 s to 221 s) and moved no comparison
            # weight by more than 0.05 bits.
            linker.training.estimate_parameters_using_expectation_maximisation(
                rule, max_pairs=em_max_pairs, record_sample_proportion=proportion,
                estimate_without_term_frequencies=True)
        except ValueError as exc:
            # A level no pair of this pass reaches drives its m to 0, which Splink refuses;
            # the other passes still estimate it, so this pass is skipped, not fatal.
            logger.warning("Stitch model: EM pass blocked on %s skipped: %s",
                           getattr(rule, "blocking_rule_sql", rule), exc)

    for i, rule in enumerate(_em_blocking_rules(cols), 1):
        steps.append((f"EM pass {i}", lambda rule=rule: em_pass(rule)))
    return steps


def train(
    settings: dict[str, Any],
    df: "DataFrame",
    spark: "SparkSession",
    **options: Any,
) -> dict[str, Any]:
    """Estimate the model (see `training_steps` for the steps and their `options`).
    Returns the trained Splink settings dict."""
    linker = make_linker(df, settings, spark)
    for _, step in training_steps(linker, set(df.columns), df.count(), **options):
        step()
    return json.loads(json.dumps(linker.misc.save_model_to_json()))
