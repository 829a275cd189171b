"""Incremental Stitch: which mode a run takes, and what changed since the last run.

A run is incremental when the last run's outputs can be reused exactly: same model, same
name-guard decision, same matching columns and threshold, and the last scored edges were
clustered. Records are compared by record_id and a hash of their matching columns (as
matching saw them, bad values removed), kept from run to run in
``stitch/_incremental/match_hashes``; ``stitch/_incremental/state.json`` holds the rest.

Scoring then scores only pairs holding a new or changed record (`incremental_edges`), and
clustering re-clusters only the customers the delta touches (`stitch.reclustering`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from cdp_pipelines.keys import STITCH_MODE_TAG
from cdp_pipelines.observability import Timings

if TYPE_CHECKING:
    from collections.abc import Callable

    from pyspark.sql import DataFrame, SparkSession

    from cdp_pipelines.resources.delta_io import DeltaLake
    from cdp_pipelines.stitch.inputs import StitchTable
    from cdp_pipelines.stitch.matching import RunEdges

MODES = ("full", "incremental", "auto")
STATE_DIR = "_incremental"
# The delta's record_id and change (new | changed | deleted), plus "edge" for records
# whose accepted edges changed while they did not (a shared identifier's group grew).
SEEDS_TABLE = (STATE_DIR, "seeds")
HASHES_TABLE = (STATE_DIR, "match_hashes")
# (id_column, key): identifier values the last run's deterministic edges left out for
# being shared by too many records.
OVERSIZED_TABLE = (STATE_DIR, "oversized_keys")
STATE_FORMAT = "cdp-stitch-state/1"


@dataclass(frozen=True)
class ModeDecision:
    mode: str  # "full" | "incremental"
    reason: str

    def describe(self) -> str:
        return f"{self.mode} ({self.reason})"


def requested_mode(configured: str, run_tags: dict[str, str]) -> tuple[str, str]:
    """(mode, where it was asked for): the run tag `cdp/stitch_mode` wins over stitch.yaml."""
    tagged = run_tags.get(STITCH_MODE_TAG)
    if tagged is None:
        return configured, f"stitch.yaml mode: {configured}"
    if tagged not in MODES:
        raise ValueError(f"run tag {STITCH_MODE_TAG}={tagged!r} is not one of {list(MODES)}; "
                         f"fix the tag or leave it out to use stitch.yaml's mode")
    return tagged, f"run tag {STITCH_MODE_TAG}={tagged}"


def choose_mode(requested: str, source: str, blockers: list[str], changed: int, total: int,
                max_share: float) -> ModeDecision:
    """Full when asked for, when anything in `blockers` says the last run cannot be
    reused, or (auto only) when more than `max_share` of the records changed."""
    if requested == "full":
        return ModeDecision("full", source)
    if blockers:
        return ModeDecision("full", "; ".join(blockers))
    share = changed / total if total else 0.0
    if requested == "auto" and share > max_share:
        return ModeDecision("full", f"{share:.1%} changed > incremental_max_share "
                                    f"{max_share:.1%}")
    return ModeDecision("incremental", f"{share:.1%} changed")


def run_fingerprint(model_hash: str, names: bool, columns: list[str],
                    threshold: float) -> dict[str, Any]:
    """What must not change between two runs for the second to reuse the first's edges."""
    return {"model_hash": model_hash, "name_guard": names,
            "columns": sorted(c for c in columns if c != "record_id"),
            "match_threshold": threshold}


def load_state(lake: "DeltaLake", name: str = "state.json") -> dict[str, Any] | None:
    from cdp_pipelines.resources.lake_files import lake_path

    path = lake_path(lake.path("stitch", STATE_DIR)) / name
    if not path.exists():
        return None
    state = json.loads(path.read_text(encoding="utf-8"))
    return state if state.get("format") == STATE_FORMAT else None


def save_state(lake: "DeltaLake", state: dict[str, Any] | None,
               name: str = "state.json") -> None:
    """Written whole (temporary file, then renamed); None removes it."""
    from cdp_pipelines.resources.lake_files import lake_path

    path = lake_path(lake.path_for_write("stitch", STATE_DIR)) / name
    if state is None:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({**state, "format": STATE_FORMAT}, indent=2, sort_keys=True),
                   encoding="utf-8")
    tmp.replace(path)


# Preprocess reuses last run's rows of the records whose input is unchanged: each row
# keeps a hash of its input, and PREPROCESS_STATE the fingerprint of the code and settings
# that normalised them, the table version it wrote, the id and version of each input table
# it read ("inputs") and, when it wrote only the records that changed, the version it
# changed ("changes_from"; None after a full preprocess).
PREPROCESS_STATE = "preprocess.json"
# (source, pk) of the records an incremental preprocess wrote or removed.
PREPROCESS_CHANGES = (STATE_DIR, "preprocess_changes")
# {"preprocessed_version": v}: unified_coalesced holds the records of that version of
# unified_preprocessed_raw.
COALESCED_STATE = "coalesced.json"


def preprocess_fingerprint(raw: "DataFrame", default_region: str) -> str:
    """What preprocess's output depends on besides each record's own input: the input's
    columns, the default region, the normalisation code and the libraries it calls. Any
    change to them means every record is normalised again."""
    import hashlib
    from importlib.metadata import version
    from pathlib import Path

    from cdp_pipelines.stitch import normalize, preprocess

    libraries = [version(d) for d in ("phonenumbers", "unidecode", "nicknames", "pyspark")]
    digest = hashlib.sha256(json.dumps([raw.dtypes, default_region, libraries]).encode())
    for module in (Path(preprocess.__file__),
                   *sorted(Path(normalize.__file__).parent.glob("*.py"))):
        digest.update(module.read_bytes())
    return digest.hexdigest()


class PreprocessPlan(NamedTuple):
    frame: "DataFrame"  # this run's unified_preprocessed_raw
    # When last run's rows are reused: the rows normalised now (new or changed records,
    # checkpointed) and the (source, pk) of last run's rows whose record is gone.
    fresh: "DataFrame | None"
    gone: "DataFrame | None"
    reason: str
    # When last run's rows are reused: how each input table was read (input_changes).
    reads: dict[str, str] | None = None


def plan_preprocess(lake: "DeltaLake", tables: list["StitchTable"], raw: "DataFrame",
                    versions: dict[str, dict[str, Any]], fingerprint: str,
                    requested: tuple[str, str],
                    preprocess: "Callable[[DataFrame], DataFrame]") -> PreprocessPlan:
    """This run's preprocessed records from `raw` (the unified input of `tables` at
    `versions`, with INPUT_HASH): last run's rows of the records whose input is unchanged
    plus `preprocess` of the others (`input_changes.changes_since`), unless a full run is
    `requested` ((mode, where it was asked for)) or last run's rows cannot be reused (no
    previous table, or its fingerprint is not `fingerprint`)."""
    from cdp_pipelines.stitch.input_changes import changes_since

    mode, source = requested
    last = load_state(lake, PREPROCESS_STATE)
    if mode == "full":
        return PreprocessPlan(preprocess(raw), None, None, source)
    table = ("stitch", "unified_preprocessed_raw")
    if last is None or not lake.exists(*table):
        return PreprocessPlan(preprocess(raw), None, None, "no previous preprocess to build on")
    if last.get("fingerprint") != fingerprint:
        return PreprocessPlan(preprocess(raw), None, None, "the normalisation code, its "
                              "libraries or the input columns changed")
    previous = lake.read(*table)
    # The input versions last run read hold only if the table is still what it wrote.
    read_before = last.get("inputs") if last.get("version") == lake.version(*table) else None
    changes = changes_since(lake, tables, raw, previous, read_before, versions)
    fresh = preprocess(changes.rows.localCheckpoint(eager=True)).localCheckpoint(eager=True)
    # Checkpointed: the table it reads is written next.
    gone = changes.gone.localCheckpoint(eager=True)
    kept = previous.join(fresh.select("source", "pk").unionByName(gone), ["source", "pk"],
                         "left_anti")
    return PreprocessPlan(kept.unionByName(fresh).select(*fresh.columns), fresh, gone,
                          "records whose input is unchanged keep last run's rows",
                          changes.reads)


def preprocess_changes_since(lake: "DeltaLake", version: int | None) -> "DataFrame | None":
    """(record_id) of every record whose row of unified_preprocessed_raw is not what it
    was at `version` (new, changed or gone), when the incremental preprocess runs since
    then say so; None when they cannot (a full preprocess, a run stopped half-way, or
    another writer, came between)."""
    from cdp_pipelines.stitch.matching import with_record_id

    state = load_state(lake, PREPROCESS_STATE)
    if (version is None or state is None or state.get("changes_from") != version
            or state.get("version") != lake.version("stitch", "unified_preprocessed_raw")):
        return None
    return with_record_id(lake.read("stitch", *PREPROCESS_CHANGES)).select("record_id")


def blockers(lake: "DeltaLake", state: dict[str, Any] | None, fingerprint: dict[str, Any],
             model_trained: bool) -> list[str]:
    """Why this run cannot reuse the last one's edges and clusters (empty: it can)."""
    if state is None or not all(lake.exists("stitch", *t) for t in (
            HASHES_TABLE, OVERSIZED_TABLE, ("unified_scores",), ("unified_coalesced",))):
        return ["no previous Stitch run to build on"]
    if model_trained:
        return ["the model was trained in this run"]
    if state.get("mode") not in ("full", "incremental"):
        return ["the last scoring did not finish"]
    if state.get("clustered_run") != state.get("scored_run"):
        return ["the last scored edges were never clustered"]
    previous = state.get("fingerprint", {})
    why = {"model_hash": "the stored model changed", "name_guard": "the name-guard decision "
           "changed", "columns": "the matching columns changed",
           "match_threshold": "match_threshold changed"}
    return [reason for key, reason in why.items() if previous.get(key) != fingerprint[key]]


def match_hashes(df: "DataFrame") -> "DataFrame":
    """(record_id, match_hash): a hash of every matching column of each record."""
    from pyspark.sql import functions as F

    cols = sorted(c for c in df.columns if c != "record_id")
    value = F.to_json(F.struct(*[F.col(c).cast("string").alias(c) for c in cols]))
    return df.select("record_id", F.sha2(value, 256).alias("match_hash"))


def find_delta(current: "DataFrame", previous: "DataFrame") -> "DataFrame":
    """(record_id, change): records new, changed (their match hash differs) or deleted."""
    from pyspark.sql import functions as F

    both = current.alias("c").join(previous.alias("p"), "record_id", "full_outer")
    change = (F.when(F.col("p.match_hash").isNull(), "new")
              .when(F.col("c.match_hash").isNull(), "deleted")
              .when(F.col("c.match_hash") != F.col("p.match_hash"), "changed"))
    return both.select("record_id", change.alias("change")).where("change IS NOT NULL")


def incremental_edges(settings: dict[str, Any], df: "DataFrame", spark: "SparkSession",
                      previous_edges: "DataFrame", previous_oversized: "DataFrame",
                      delta: "DataFrame", threshold: float, names: bool,
                      timings: Timings | None = None) -> "RunEdges":
    """This run's edges (and oversized identifier values), finding pairs only for new and
    changed records: deterministic edges are found again only on identifier values a new
    or changed record holds or that were oversized last run
    (`matching.refreshed_deterministic_edges`); the model scores the pairs that hold a new
    or changed record, and last run's scored pairs between records neither changed nor
    deleted again, their weights moving with the term frequencies every new or changed
    value shifts (at 3k records a copied weight was 0.03 off, enough to leave a pair at
    0.898 that a full run links at 0.900). A pair of those that is deterministic keeps
    last run's weight (its link does not depend on it; scoring the 670k such pairs of a
    1M-record tenant again took 25 s).

    Same rows as `matching.predict_run` on `df`, but for those deterministic pairs'
    weights and a pair of unchanged records last run scored below `threshold` that the
    term frequencies now lift above it. Each part is checkpointed, timed in `timings`."""
    from pyspark.sql import functions as F

    from cdp_pipelines.stitch import matching

    timings = timings or Timings()
    flag = "stitch_delta"
    focus = delta.where(F.col("change").isin("new", "changed")).select(
        "record_id", F.lit("1").alias(flag))
    flagged = df.join(F.broadcast(focus), "record_id", "left").fillna("0", [flag])
    touched = delta.select("record_id")
    with timings.part("deterministic"):
        det = matching.refreshed_deterministic_edges(
            df, spark, previous_edges, previous_oversized, focus, touched, names=names)
        edges = det.edges.localCheckpoint(eager=True)
    pair = ["record_id_l", "record_id_r"]
    kept = (previous_edges.where(F.col("match_weight").isNotNull())
            .join(touched.withColumnRenamed("record_id", "record_id_l"), "record_id_l",
                  "left_anti")
            .join(touched.withColumnRenamed("record_id", "record_id_r"), "record_id_r",
                  "left_anti")
            .select(*pair, "match_probability", "match_weight", "explanation"))
    with timings.part("splink pairs"):
        # Its set-up parts ("focus: ...") are timed apart too, and included here.
        scored = matching.scored_pairs(
            settings, flagged, spark, threshold, names, focus=flag, timings=timings,
            rescore=kept.join(edges.select(*pair), pair, "left_anti").select(*pair),
        ).localCheckpoint(eager=True)
    copied = kept.join(edges.select(*pair), pair, "left_semi")
    return matching.RunEdges(matching.combine_edges(edges, scored.unionByName(copied)),
                             det.oversized)


def moved_edge_records(previous_edges: "DataFrame", edges: "DataFrame",
                       threshold: float) -> "DataFrame":
    """(record_id): both ends of every accepted edge that is new, gone or of another
    type than last run."""
    from pyspark.sql import functions as F

    from cdp_pipelines.stitch.clustering import accepted_with_type

    keys = ["record_id_l", "record_id_r"]
    before = accepted_with_type(previous_edges, threshold).withColumnRenamed("match_type", "b")
    after = accepted_with_type(edges, threshold).withColumnRenamed("match_type", "a")
    moved = before.join(after, keys, "full_outer").where(~F.col("a").eqNullSafe(F.col("b")))
    return (moved.select(F.col("record_id_l").alias("record_id"))
            .union(moved.select(F.col("record_id_r").alias("record_id"))).distinct())
