"""Identity: an event source's identifies and aliases reach Stitch with their ids as
exact links, so a browser that later identifies, and one aliased to the user, join the
customer a file source knows; every event then carries that customer's amperity_id.

Stitch itself (preprocessing, the Splink model, clustering) is tested in
cdp_pipelines_tests/stitch; here its deterministic edges run on the unified input."""

from __future__ import annotations

from pathlib import Path

from cdp_pipelines.deployment import Deployment
from cdp_pipelines.resources.delta_io import DeltaLake
from cdp_pipelines.resources.spark import SparkResource
from cdp_pipelines.stitch.events import unified_events
from cdp_pipelines.stitch.inputs import stitch_tables, unified_input
from cdp_pipelines.stitch.matching import deterministic_edges, with_record_id
from cdp_pipelines.tenant import load_tenant

IDENTIFIES = [  # message_id, user_id, anonymous_id, email, first_name
    ("id-1", "web-u1", "anon-9", "bob.smith@mail.com", "Robert"),
    ("id-2", "web-u1", "anon-9", "bob.smith@mail.com", "Robert"),   # identified again
]
ALIASES = [("alias-1", "anon-8", "web-u1")]  # a second device of the same user
EVENTS = [  # message_id, user_id, anonymous_id
    ("view-1", None, "anon-9"), ("view-2", None, "anon-9"),  # before signing up
    ("id-1", "web-u1", "anon-9"), ("view-3", "web-u1", "anon-9"),
    ("view-4", None, "anon-8"), ("alias-1", "web-u1", None),
    ("view-5", None, "anon-7"),                               # never identifies
]


def _write(lake: DeltaLake, spark, table: str, rows: list, schema: str) -> None:
    spark.createDataFrame(rows, schema).selectExpr("*", "current_timestamp() AS timestamp") \
        .write.format("delta").save(lake.path_for_write("domain", table))


def _clusters(edges: list[tuple[str, str]], nodes: list[str]) -> dict[str, str]:
    """Connected components: node -> the smallest node of its component."""
    parent = {n: n for n in nodes}

    def root(n: str) -> str:
        while parent[n] != n:
            n = parent[n]
        return n

    for left, right in edges:
        a, b = sorted((root(left), root(right)))
        parent[b] = a
    return {n: root(n) for n in nodes}


def test_identified_browsers_join_the_customer(event_tenant: Path, tmp_path: Path, spark):
    config = load_tenant(event_tenant)
    tables = {t.name: t for t in stitch_tables(config)}
    assert tables["web_aliases"].columns == {"fk_user": "user_id",
                                             "fk_anonymous": "previous_id"}
    assert {k: tables["web_identifies"].columns[k] for k in (
        "fk_user", "fk_anonymous", "email", "given_name", "loyalty_id")} == {
        "fk_user": "user_id", "fk_anonymous": "anonymous_id", "email": "email",
        "given_name": "first_name", "loyalty_id": "loyalty_id"}

    lake = DeltaLake.for_deployment(SparkResource(master="local[2]", shuffle_partitions=2,
                                                  driver_memory="2g"),
                                    Deployment(lake_root=str(tmp_path / "lake")))
    _write(lake, spark, "shop_customers",
           [("s1", "Robert", "Smith", "bob.smith@mail.com", None),
            ("s3", "Alice", "Jones", "alice@mail.com", None)],
           "customer_id string, first_name string, last_name string, email string, "
           "birthdate date")
    _write(lake, spark, "club_members", [("m1", "Robert Smith", "bob.smith@mail.com", "L1")],
           "member_id string, full_name string, email string, loyalty_number string")
    identify_columns = [c for _, c, _ in config.event_source("web").identify_columns]
    _write(lake, spark, "web_identifies", [
        (m, u, a, *[{"email": e, "first_name": f}.get(c) for c in identify_columns])
        for m, u, a, e, f in IDENTIFIES],
        "message_id string, user_id string, anonymous_id string, "
        + ", ".join(f"{c} string" for c in identify_columns))
    _write(lake, spark, "web_aliases", ALIASES,
           "message_id string, previous_id string, user_id string")

    records = unified_input(lake, list(tables.values()))
    edges = deterministic_edges(with_record_id(
        records.withColumn("email_norm", records["email"])), spark)
    nodes = [r["record_id"] for r in with_record_id(records).collect()]
    cluster = _clusters([(e["record_id_l"], e["record_id_r"]) for e in edges.collect()], nodes)
    bob = {n for n, c in cluster.items() if c == cluster["shop_customers:s1"]}
    assert bob == {"shop_customers:s1", "club_members:m1", "web_identifies:id-1",
                   "web_identifies:id-2", "web_aliases:alias-1"}

    # Stitch's output for these clusters, then every event's customer.
    spark.createDataFrame(
        [(n.split(":", 1)[0], n.split(":", 1)[1], cluster[n]) for n in nodes],
        "source string, pk string, amperity_id string",
    ).write.format("delta").save(lake.path_for_write("stitch", "unified_coalesced"))
    spark.createDataFrame(
        [(m, "track", "Product Viewed", u, a, "{}") for m, u, a in EVENTS],
        "message_id string, type string, event string, user_id string, anonymous_id string, "
        "properties string",
    ).selectExpr("*", "current_timestamp() AS timestamp", "current_timestamp() AS received_at"
                 ).write.format("delta").save(lake.path_for_write("domain", "web_events"))
    carried = {r["message_id"]: r["amperity_id"] for r in
               unified_events(lake, list(config.event_sources)).collect()}
    assert carried == {**{m: cluster["shop_customers:s1"] for m, _, _ in EVENTS},
                       "view-5": None}
