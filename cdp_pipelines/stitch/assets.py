"""Stitch stages as Dagster assets (group ``stitch``).

    unified_preprocessed_raw > stitch_blocklist_values > unified_scores (edges + model)
    > unified_coalesced, unified_changes_clusters, unified_changes_pks (clusters, stable IDs)
    > unified_transactions, unified_itemized_transactions (stitch.transactions)

Each stage writes a Delta table under ``stitch/``; the trained Splink model is kept as a
versioned JSON artifact under ``stitch/models/``.
"""

import io
from typing import TYPE_CHECKING, NamedTuple

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetSpec,
    MaterializeResult,
    MetadataValue,
    asset,
    multi_asset,
)

from cdp_pipelines.deployment import Deployment
from cdp_pipelines.keys import STITCH_GROUP, domain_key, stitch_key
from cdp_pipelines.observability import Timings, forward_python_logs, stage
from cdp_pipelines.pools import STITCH_POOL
from cdp_pipelines.resources.delta_io import DeltaLake, WriteStats
from cdp_pipelines.resources.lake_files import lake_path
from cdp_pipelines.stitch.inputs import stitch_tables, unified_input
from cdp_pipelines.stitch.transactions import build_transaction_assets
from cdp_pipelines.tenant.model import Tenant
from cdp_pipelines.tenant.stitch import StitchSpec

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from cdp_pipelines.stitch.incremental import ModeDecision

# unified_coalesced column -> the preprocessed column it carries.
COALESCED_COLUMNS = {
    "given_name": "given_name_norm", "surname": "surname_norm", "full_name": "full_name_norm",
    "email": "email_norm", "phone": "phone_e164", "address": "address_norm",
    "address2": "address2_norm", "city": "city_norm", "state": "state_norm",
    "postal": "postal_norm", "country": "country_norm", "birthdate": "birthdate_norm",
    "gender": "gender_norm", "loyalty_id": "loyalty_id_norm",
}
# Names and street address as the record wrote them, beside the normalised match keys.
DISPLAY_COLUMNS = ("given_name", "surname", "full_name", "address", "address2", "city")


def _display_columns(pre) -> list:
    """``<column>_display``: the input value trimmed, inner runs of spaces made one, casing
    kept; a record with a given name and surname but no full name gets them joined."""
    from pyspark.sql import functions as F

    def written(name: str):
        if name not in pre.columns:
            return F.lit(None).cast("string")
        value = F.trim(F.regexp_replace(F.col(name).cast("string"), r"\s+", " "))
        return F.when(value != "", value)

    full = F.coalesce(written("full_name"), F.when(
        written("given_name").isNotNull() | written("surname").isNotNull(),
        F.concat_ws(" ", written("given_name"), written("surname"))))
    return [(full if name == "full_name" else written(name)).alias(f"{name}_display")
            for name in DISPLAY_COLUMNS]


def _matching_frame(pre):
    """Adapt preprocess output to the matching stage's column names: (frame, records)."""
    from pyspark.sql import functions as F

    from cdp_pipelines.stitch.matching import with_record_id

    renames = {"phone_e164": "phone_norm", "address_full_norm": "address_norm"}
    cols = []
    for c in pre.columns:
        if c in ("address_norm", "address2_norm"):
            continue  # the full address (street + unit) is compared as one
        if c in renames:
            cols.append(F.col(c).alias(renames[c]))
        elif c == "birthdate_norm":
            cols.append(F.date_format(F.col(c), "yyyy-MM-dd").alias(c))
        elif c.endswith("_norm") or c.startswith("fk_") or c in ("source", "pk", "sk") or c in (
                "given_name_canonical", "given_name_forms", "email_canonical", "phone_last10",
                "address_key", "given_name_soundex", "surname_soundex", "postal3", "house_number",
                "birth_year"):
            cols.append(F.col(c))
    df = pre.select(*cols)
    # Drop columns that are NULL everywhere: the model is derived from the columns present.
    # The same pass counts the records, for the run log.
    counts = df.select([F.count(F.col(c)).alias(c) for c in df.columns]
                       + [F.count(F.lit(1)).alias("_records")]).collect()[0]
    keep = [c for c in df.columns if c in ("source", "pk") or counts[c] > 0]
    return with_record_id(df.select(*keep)), int(counts["_records"])


def _summary(coalesced: "DataFrame") -> tuple[int, dict[int, int], int]:
    """(records without an id, {records per customer: customers}, supersized customers) of
    unified_coalesced, in one pass."""
    from pyspark.sql import functions as F

    per_id = coalesced.groupBy("amperity_id").agg(
        F.count("*").alias("size"), F.max(F.col("supersized").cast("int")).alias("flag"))
    rows = per_id.groupBy(F.col("amperity_id").isNull().alias("missing"), "size").agg(
        F.count("*").alias("customers"), F.sum("flag").alias("supersized")).collect()
    missing = sum(r["size"] for r in rows if r["missing"])
    sizes = {r["size"]: r["customers"] for r in rows if not r["missing"]}
    supersized = sum(r["supersized"] or 0 for r in rows if not r["missing"])
    return missing, sizes, int(supersized)


def _coalesced(pre: "DataFrame", assignments: "DataFrame", flagged: "DataFrame") -> "DataFrame":
    """unified_coalesced's rows of the records in `pre`: each with its amperity_id
    (`assignments`) and its cluster's supersized flag (`flagged`)."""
    from pyspark.sql import functions as F

    return (
        pre.join(assignments, "record_id", "left").join(flagged, "record_id", "left")
        .select(
            "amperity_id", "record_id", "source", "source_system", "pk",
            *[F.col(src).alias(out) for out, src in COALESCED_COLUMNS.items()],
            *_display_columns(pre),
            F.coalesce(F.col("supersized"), F.lit(False)).alias("supersized"),
            "_updated",
        )
    )


def _supersized(clusters: "DataFrame", max_size: int) -> "DataFrame":
    """(record_id, supersized) of each record of `clusters` (record_id, cluster_id)."""
    from pyspark.sql import functions as F

    from cdp_pipelines.stitch.clustering import flag_supersized

    return flag_supersized(clusters, max_size).select(
        "record_id", F.col("is_supersized").alias("supersized"))


def _coalesced_rows(records: "DataFrame", pre: "DataFrame", assignments: "DataFrame",
                    clusters: "DataFrame", max_size: int) -> "DataFrame":
    """`_coalesced` of only `records` (record_id, a few): each reads its own id and its
    own cluster's size, not every record's (assignments and clusters: of all records)."""
    from pyspark.sql import functions as F

    records = F.broadcast(records.select("record_id"))
    held = clusters.join(records, "record_id", "left_semi").select("cluster_id").distinct()
    return _coalesced(pre.join(records, "record_id", "left_semi"),
                      assignments.join(records, "record_id", "left_semi"),
                      _supersized(clusters.join(F.broadcast(held), "cluster_id", "left_semi"),
                                  max_size))


def _histogram_png(sizes: dict[int, int]) -> str:
    """Cluster-size distribution as a base64 PNG in Markdown."""
    import base64

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 2.5))
    xs = sorted(sizes)
    ax.bar([str(x) for x in xs], [sizes[x] for x in xs])
    ax.set_xlabel("records per customer")
    ax.set_ylabel("customers")
    ax.set_yscale("log")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return f"![cluster sizes](data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()})"


def _name_guard(df, settings: StitchSpec):
    """(veto on?, evidence or None, link threshold): the name veto of the contradiction
    guard for this run's matching frame (see matching.name_guard_on) and the probability
    from which pairs link (matching.match_threshold); the same frame gives the same
    answers in unified_scores and stitch_clusters."""
    from cdp_pipelines.stitch import matching

    mode = settings.name_guard
    evidence = matching.household_evidence(df) if mode == "auto" else None
    return (matching.name_guard_on(mode, evidence), evidence,
            matching.match_threshold(settings.match_threshold, evidence))


def _describe_guard(mode: str, on: bool, evidence) -> str:
    state = "on" if on else "off"
    if evidence is None:
        return f"{state} (name_guard: {mode})"
    share = evidence.household_share
    return (f"{state} (auto): {evidence.differing} of {evidence.pairs} co-resident pairs "
            f"with names and birthdates are two people"
            + (f" ({share:.1%})" if share is not None else ""))


class _ScoringPlan(NamedTuple):
    decision: "ModeDecision"
    hashes: "DataFrame"  # (record_id, match_hash) of this run
    delta: "DataFrame | None"  # (record_id, change) when incremental
    fingerprint: dict
    rescored: int  # records whose pairs are scored this run
    changed: int  # records new, changed or deleted since the last run (incremental only)


def _plan_scoring(run_tags: dict[str, str], lake: DeltaLake, df, settings: StitchSpec,
                  model_hash: str, trained: bool, names: bool,
                  link_at: float) -> _ScoringPlan:
    """This run's mode (see stitch.incremental), match hashes and delta."""
    from cdp_pipelines.stitch import incremental

    requested, source = incremental.requested_mode(settings.mode, run_tags)
    fingerprint = incremental.run_fingerprint(model_hash, names, df.columns, link_at)
    hashes = incremental.match_hashes(df).localCheckpoint(eager=True)
    records = hashes.count()
    delta, changed, deleted, blockers = None, 0, 0, []
    if requested != "full":
        blockers = incremental.blockers(lake, incremental.load_state(lake), fingerprint,
                                        trained)
        if not blockers:
            # Checkpointed: the hashes it compares with are overwritten after scoring.
            delta = incremental.find_delta(
                hashes, lake.read("stitch", *incremental.HASHES_TABLE)
            ).localCheckpoint(eager=True)
            counts = {r["change"]: r["count"] for r in delta.groupBy("change").count().collect()}
            changed, deleted = sum(counts.values()), counts.get("deleted", 0)
    decision = incremental.choose_mode(requested, source, blockers, changed, records + deleted,
                                       settings.incremental_max_share)
    rescored = records
    if decision.mode == "incremental":
        rescored = changed - deleted
    return _ScoringPlan(decision, hashes, delta, fingerprint, rescored, changed)


def build_stitch_assets(config: Tenant, deployment: Deployment) -> list:
    tables = stitch_tables(config)
    if not tables:
        return []
    settings = config.stitch

    @asset(key=stitch_key("unified_preprocessed_raw"), group_name=STITCH_GROUP, pool=STITCH_POOL,
           deps=[domain_key(t.name) for t in tables], kinds={"spark", "delta"},
           description="Every Stitch record with its PII normalised (names, emails, phones, "
                       "addresses, postal codes, birthdates).")
    def unified_preprocessed_raw(context: AssetExecutionContext, lake: DeltaLake):
        from cdp_pipelines.stitch import incremental
        from cdp_pipelines.stitch.input_changes import input_versions, with_input_hash
        from cdp_pipelines.stitch.preprocess import preprocess

        with stage(context.log, "stitch: preprocess") as s:
            # Each table read at one version, the one the state keeps.
            versions = input_versions(lake, tables)
            raw = with_input_hash(unified_input(lake, tables, {
                name: v["version"] for name, v in versions.items()}))
            fingerprint = incremental.preprocess_fingerprint(raw, settings.default_region)
            plan = incremental.plan_preprocess(
                lake, tables, raw, versions, fingerprint,
                incremental.requested_mode(settings.mode, context.run.tags),
                lambda df: preprocess(df, default_region=settings.default_region))
            # Gone while the table is written: a run stopped half-way is not built on.
            incremental.save_state(lake, None, incremental.PREPROCESS_STATE)
            table = ("stitch", "unified_preprocessed_raw")
            if plan.fresh is None:
                changes_from, stats = None, lake.overwrite(plan.frame, *table)
            else:
                # Only the records that changed are written; the change is kept for
                # clustering, which then rewrites only their rows of unified_coalesced.
                changes_from = lake.version(*table)
                lake.overwrite(plan.fresh.select("source", "pk").unionByName(plan.gone),
                               "stitch", *incremental.PREPROCESS_CHANGES)
                stats = lake.replace_rows(plan.frame, *table, keys=("source", "pk"),
                                          upserts=plan.fresh, deletes=plan.gone)
            incremental.save_state(lake, {"fingerprint": fingerprint, "version": stats.version,
                                          "changes_from": changes_from, "inputs": versions},
                                   incremental.PREPROCESS_STATE)
            # A full preprocess normalises every record it writes.
            normalised = stats.rows if plan.fresh is None else plan.fresh.count()
            s.count(stats.rows, f"records from {len(tables)} tables")
            s.count(normalised, "normalised")
            s.note = plan.reason
        return lake.table_result(stats, "stitch", "unified_preprocessed_raw", metadata={
            "records_normalised": MetadataValue.int(normalised),
            "preprocess_mode": MetadataValue.text(
                f"{'full' if plan.fresh is None else 'incremental'} ({plan.reason})"),
            # How each input table was read: unchanged, its change feed, or whole.
            "input_reads": MetadataValue.json(plan.reads or {
                name: "read whole" for name in versions})})

    @asset(key=stitch_key("stitch_blocklist_values"), group_name=STITCH_GROUP, pool=STITCH_POOL,
           deps=[stitch_key("unified_preprocessed_raw")], kinds={"spark", "delta"},
           description="Values that take no part in matching: shared by too many distinct "
                       "names (automatic) or configured in stitch.yaml.")
    def stitch_blocklist_values(context: AssetExecutionContext, lake: DeltaLake):
        from cdp_pipelines.stitch.badvalues import find_bad_values

        pre = lake.read("stitch", "unified_preprocessed_raw")
        configured = [(column, value) for column, values in settings.blocklist.items()
                      for value in values]
        with stage(context.log, "stitch: bad values") as s:
            bad = find_bad_values(pre, thresholds=dict(settings.bad_value_thresholds),
                                  configured=configured, default_region=settings.default_region)
            stats = lake.overwrite(bad, "stitch", "stitch_blocklist_values")
            by_reason = {r["reason"]: r["count"] for r in lake.read(
                "stitch", "stitch_blocklist_values").groupBy("reason").count().collect()}
            s.count(by_reason.get("automatic", 0), "automatic")
            s.count(by_reason.get("configured", 0), "configured values blocked")
        return lake.table_result(stats, "stitch", "stitch_blocklist_values", metadata={
            "automatic": MetadataValue.int(int(by_reason.get("automatic", 0))),
            "configured": MetadataValue.int(int(by_reason.get("configured", 0))),
        })

    @asset(key=stitch_key("unified_scores"), group_name=STITCH_GROUP, pool=STITCH_POOL,
           deps=[stitch_key("stitch_blocklist_values")], kinds={"spark", "splink", "delta"},
           description="Accepted and candidate pairs: deterministic links on exact "
                       "identifiers and Splink probabilities, with a 0-5 score, category and "
                       "per-comparison weights.")
    def unified_scores(context: AssetExecutionContext, lake: DeltaLake):
        from pyspark.sql import functions as F

        from cdp_pipelines.stitch import incremental, matching
        from cdp_pipelines.stitch.badvalues import apply_blocklist

        spark = lake.session
        timings = Timings()
        with stage(context.log, "stitch: matching frame") as s, timings.part("matching frame"):
            pre = lake.read("stitch", "unified_preprocessed_raw")
            blocked = apply_blocklist(pre, lake.read("stitch", "stitch_blocklist_values"))
            df, records = _matching_frame(blocked)
            df = df.cache()
            s.count(records, "records")
            s.count(len(df.columns), "columns")
        model_dir = lake_path(lake.path_for_write("stitch", "models"))
        current = model_dir / "current.json"
        loaded = None
        if (settings.retrain == "never" or settings.retrain == "if_missing") and current.exists():
            loaded = matching.load_model(current)
            if not matching.model_fits_columns(loaded.settings, df.columns):
                loaded = None
        # Splink's own lines (training sessions, EM iterations) and the candidate pairs
        # of each blocking rule go to the run log too.
        with forward_python_logs(context.log, "splink", "cdp_pipelines.stitch"), \
                matching.splink_views_released(spark):
            if loaded is not None:
                model_settings, version = loaded.settings, loaded.version
                context.log.info(f"stitch: using stored model version {version}")
            else:
                with stage(context.log, "stitch: blocking") as s:
                    wide = matching.wide_blocks(df)
                    s.count(len(wide), "over-wide blocks left out")
                with stage(context.log, "stitch: training the Splink model") as s:
                    # Blocking rules are sized on this data and stored with the model.
                    model_settings = matching.train(
                        matching.build_settings(df.columns, wide), df, spark)
                    version = matching.save_model(model_settings, current)
                    s.count(len(model_settings.get("comparisons", [])), "comparisons")
                    s.note = f"model version {version}"
            with stage(context.log, "stitch: name guard") as s, timings.part("name guard"):
                names, evidence, link_at = _name_guard(df, settings)
                s.note = (f"{_describe_guard(settings.name_guard, names, evidence)}; "
                          f"pairs link from {link_at} "
                          f"(match_threshold: {settings.match_threshold})")
            with stage(context.log, "stitch: mode") as s, timings.part("mode + delta"):
                model_hash = (loaded or matching.load_model(current)).content_hash
                plan = _plan_scoring(context.run.tags, lake, df, settings, model_hash,
                                      trained=loaded is None, names=names, link_at=link_at)
                s.note = plan.decision.describe()
            threshold = matching.stored_from(link_at)
            with stage(context.log, "stitch: scoring pairs") as s:
                # Nothing new, changed or deleted: the matching frame is last run's, and so
                # are its term frequencies, pairs and weights; the tables stay as they are.
                unchanged = plan.decision.mode == "incremental" and plan.changed == 0
                if unchanged:
                    lake.overwrite(plan.delta, "stitch", *incremental.SEEDS_TABLE)
                elif plan.decision.mode == "incremental":
                    with timings.part("previous edges"):
                        previous_edges = lake.read("stitch", "unified_scores").localCheckpoint(
                            eager=True)
                    edges, oversized = incremental.incremental_edges(
                        model_settings, df, spark, previous_edges,
                        lake.read("stitch", *incremental.OVERSIZED_TABLE), plan.delta,
                        threshold, names, timings)
                    # Checkpointed: unified_scores, which it reads, is overwritten below.
                    with timings.part("combine + scores"):
                        edges = matching.with_scores(edges).localCheckpoint(eager=True)
                    with timings.part("seeds"):
                        moved = incremental.moved_edge_records(previous_edges, edges,
                                                               link_at)
                        seeds = plan.delta.select("record_id", "change").unionByName(
                            moved.withColumn("change", F.lit("edge")))
                        lake.overwrite(seeds, "stitch", *incremental.SEEDS_TABLE)
                else:
                    edges, oversized = matching.predict_run(
                        model_settings, df, spark, threshold, names=names, timings=timings)
                    edges = matching.with_scores(edges)
                # A run stopped between the writes below leaves a state no run builds on.
                state = {"scored_run": context.run.run_id, "clustered_run": None,
                         "fingerprint": plan.fingerprint}
                incremental.save_state(lake, {**state, "mode": "unfinished"})
                with timings.part("write scores"):
                    stats = (WriteStats(None, lake.version("stitch", "unified_scores"), {})
                             if unchanged else lake.overwrite(edges, "stitch", "unified_scores"))
                with timings.part("write hashes"):
                    # Whole even when incremental: at 1M records a MERGE of the delta's
                    # hashes into this narrow table (the first, deletion vectors turned on
                    # with it) took 19.8 s, the overwrite 5.7 s in another run.
                    if not unchanged:
                        lake.overwrite(plan.hashes, "stitch", *incremental.HASHES_TABLE)
                        lake.overwrite(oversized, "stitch", *incremental.OVERSIZED_TABLE)
                incremental.save_state(lake, {**state, "mode": plan.decision.mode,
                                              "decision": plan.decision.describe()})
                df.unpersist()
                with timings.part("counts"):
                    kinds = {r["match_type"]: r["count"] for r in lake.read(
                        "stitch", "unified_scores").groupBy("match_type").count().collect()}
                s.count(plan.rescored, "records scored")
                s.count(kinds.get("deterministic", 0), "deterministic")
                s.count(kinds.get("probabilistic", 0), "probabilistic pairs")
        context.log.info(f"stitch: unified_scores seconds by part: {timings}")
        return lake.table_result(stats, "stitch", "unified_scores", metadata={
            "seconds_by_part": MetadataValue.text(str(timings)),
            "model_version": MetadataValue.text(str(version)),
            "deterministic_pairs": MetadataValue.int(int(kinds.get("deterministic", 0))),
            "probabilistic_pairs": MetadataValue.int(int(kinds.get("probabilistic", 0))),
            "name_guard": MetadataValue.text(_describe_guard(settings.name_guard, names,
                                                             evidence)),
            # The probability from which pairs link this run (match_threshold, auto
            # resolved).
            "match_threshold": MetadataValue.float(link_at),
            "stitch_mode": MetadataValue.text(plan.decision.describe()),
            "records_rescored": MetadataValue.int(plan.rescored),
        })

    coalesced_key = stitch_key("unified_coalesced")

    @multi_asset(
        pool=STITCH_POOL,
        specs=[
            AssetSpec(coalesced_key, group_name=STITCH_GROUP, deps=[stitch_key("unified_scores")],
                      kinds={"spark", "delta"},
                      description="One row per Stitch record with its stable amperity_id, its "
                                  "normalised PII (the match keys) and its names and street "
                                  "address as written (*_display)."),
            AssetSpec(stitch_key("unified_changes_clusters"), group_name=STITCH_GROUP,
                      deps=[stitch_key("unified_scores")], kinds={"spark", "delta"},
                      description="How each amperity_id changed in this run."),
            AssetSpec(stitch_key("unified_changes_pks"), group_name=STITCH_GROUP,
                      deps=[stitch_key("unified_scores")], kinds={"spark", "delta"},
                      description="Every record whose amperity_id changed in this run."),
        ],
        check_specs=[
            AssetCheckSpec("every_record_has_an_id", asset=coalesced_key, blocking=True,
                           description="No Stitch record is left without an amperity_id."),
            AssetCheckSpec("no_supersized_clusters", asset=coalesced_key,
                           description="Clusters above the configured size are reviewed."),
        ],
    )
    def stitch_clusters(context: AssetExecutionContext, lake: DeltaLake):
        from pyspark.sql import functions as F

        from cdp_pipelines.stitch import incremental
        from cdp_pipelines.stitch.badvalues import apply_blocklist
        from cdp_pipelines.stitch.clustering import cluster_records
        from cdp_pipelines.stitch.matching import with_record_id
        from cdp_pipelines.stitch.reclustering import recluster
        from cdp_pipelines.stitch.stable_ids import assign_stable_ids

        spark = lake.session
        timings = Timings()
        pre_version = lake.version("stitch", "unified_preprocessed_raw")
        pre = with_record_id(lake.read("stitch", "unified_preprocessed_raw"))
        edges = lake.read("stitch", "unified_scores")
        # Materialized now: unified_coalesced is overwritten below, before the change logs
        # (computed lazily from `previous`) are written; they must see the old ids.
        with timings.part("previous ids"):
            previous = (lake.read("stitch", "unified_coalesced")
                        .select("record_id", "amperity_id").localCheckpoint(eager=True)
                        if lake.exists("stitch", "unified_coalesced") else None)
        # Incremental only right after an incremental scoring in this run: its delta is
        # against the ids in unified_coalesced now.
        state = incremental.load_state(lake)
        scored_here = state is not None and state.get("scored_run") == context.run.run_id
        mode = (state.get("decision", "full") if scored_here
                else "full (unified_scores was not built in this run)")
        # Records as matching saw them (blocked values removed): the guard that splits
        # contradictory components must agree with the one that filtered the edges.
        # Cached: the guard decision, the components and their split each read it.
        with stage(context.log, "stitch: clustering") as s:
            with timings.part("matching frame"):
                nodes, records = _matching_frame(apply_blocklist(
                    pre, lake.read("stitch", "stitch_blocklist_values")))
                nodes = nodes.cache()
            with timings.part("name guard"):
                # Scored in this run: the same frame, so unified_scores' decision (kept in
                # the state's fingerprint) stands; asking again is a pass over every record.
                if scored_here:
                    names = state["fingerprint"]["name_guard"]
                    link_at = state["fingerprint"]["match_threshold"]
                else:
                    names, _, link_at = _name_guard(nodes, settings)
            # The records whose row of unified_coalesced may differ from last run's, when
            # known: None means every row is written.
            rewrite = None
            if scored_here and state.get("mode") == "incremental" and previous is not None:
                out = recluster(nodes, edges, previous,
                                lake.read("stitch", *incremental.SEEDS_TABLE), spark,
                                link_at, names, timings,
                                previous_changes=lake.read("stitch", "unified_changes_clusters")
                                if lake.exists("stitch", "unified_changes_clusters") else None)
                clusters, reclustered = out.clusters, out.records
                written = incremental.load_state(lake, incremental.COALESCED_STATE) or {}
                changed = incremental.preprocess_changes_since(
                    lake, written.get("preprocessed_version"))
                if changed is not None:
                    rewrite = out.members.unionByName(changed).distinct().localCheckpoint(
                        eager=True)
                assignments, changes_clusters, changes_pks = (
                    out.assignments, out.changes_clusters, out.changes_pks)
                s.count(out.customers, "previous customers re-clustered")
            else:
                with timings.part("components"):
                    clusters = cluster_records(nodes, edges, spark, link_at, names,
                                               nodes_at_most=records).cache()
                reclustered = records
                with timings.part("stable ids"):
                    assignments, changes_clusters, changes_pks = assign_stable_ids(
                        clusters, previous)
            s.count(records, "records")
            s.count(reclustered, "clustered")
            s.note = f"mode {mode}"
        flagged = _supersized(clusters, settings.supersized_cluster_size)
        coalesced = _coalesced(pre, assignments, flagged)
        run = F.lit(context.run.run_id)
        with stage(context.log, "stitch: stable ids") as s:
            with timings.part("write coalesced"):
                # Gone while the table is written: a run stopped half-way is not built on.
                incremental.save_state(lake, None, incremental.COALESCED_STATE)
                if rewrite is None:
                    stats = lake.overwrite(coalesced, "stitch", "unified_coalesced")
                else:
                    # Every other record keeps its row: same input, same customer.
                    upserts = _coalesced_rows(rewrite, pre, assignments, clusters,
                                              settings.supersized_cluster_size)
                    stats = lake.replace_rows(
                        coalesced, "stitch", "unified_coalesced", keys=("record_id",),
                        upserts=upserts, deletes=rewrite.join(pre, "record_id", "left_anti"))
                incremental.save_state(lake, {"preprocessed_version": pre_version},
                                       incremental.COALESCED_STATE)
                s.note = "every row written" if rewrite is None else "changed rows written"
            with timings.part("write changes"):
                changes = {name: lake.overwrite(frame.withColumn("run_id", run), "stitch", name)
                           for name, frame in (("unified_changes_clusters", changes_clusters),
                                               ("unified_changes_pks", changes_pks))}
            s.count(stats.rows, "records")
            s.count(changes["unified_changes_clusters"].rows, "rows in unified_changes_clusters")
        if state is not None and state.get("mode") != "unfinished":
            # These clusters are of the last scored edges: the next run may build on them.
            incremental.save_state(lake, {**state, "clustered_run": state["scored_run"]})
        clusters.unpersist()
        nodes.unpersist()

        with timings.part("summary"):
            missing, sizes, supersized = _summary(lake.read("stitch", "unified_coalesced"))
        customers = sum(sizes.values())
        context.log.info(f"stitch: unified_coalesced seconds by part: {timings}")
        context.log.info(f"stitch: {stats.rows:,} records are {customers:,} customers"
                         f" (largest {max(sizes, default=0)} records, {supersized} supersized)")
        yield lake.table_result(stats, "stitch", "unified_coalesced", asset_key=coalesced_key,
                                metadata={
            "customers": MetadataValue.int(customers),
            "records_per_customer": MetadataValue.float(
                round(stats.rows / customers, 3) if customers else 0.0),
            "cluster_size_distribution": MetadataValue.md(_histogram_png(sizes)),
            "supersized_clusters": MetadataValue.int(supersized),
            "stitch_mode": MetadataValue.text(mode),
            "records_reclustered": MetadataValue.int(reclustered),
            # Rows this run inserted, replaced or deleted (every row when it rewrote all).
            "rows_written": MetadataValue.int(stats.rows_changed),
            "seconds_by_part": MetadataValue.text(str(timings)),
        })
        for name, written in changes.items():
            yield MaterializeResult(asset_key=stitch_key(name), metadata={
                "dagster/row_count": MetadataValue.int(written.rows)})
        yield AssetCheckResult(asset_key=coalesced_key, check_name="every_record_has_an_id",
                               passed=missing == 0, severity=AssetCheckSeverity.ERROR,
                               metadata={"records_without_id": MetadataValue.int(missing)})
        yield AssetCheckResult(asset_key=coalesced_key, check_name="no_supersized_clusters",
                               passed=supersized == 0, severity=AssetCheckSeverity.WARN,
                               metadata={"supersized_clusters": MetadataValue.int(supersized),
                                         "max_size": MetadataValue.int(
                                             settings.supersized_cluster_size)})

    return [unified_preprocessed_raw, stitch_blocklist_values, unified_scores, stitch_clusters,
            *build_transaction_assets(config, deployment)]
