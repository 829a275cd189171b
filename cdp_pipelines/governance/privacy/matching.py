"""Which records a privacy request matches, and the values that identify the person.

``exact``: Stitch records whose normalised email, phone, address group (address + postal)
or configured key equals one of the request's (``direct``). ``connected``: besides, every
record sharing a direct match's ``amperity_id`` (``connected``). Records are read from
Stitch's ``unified_preprocessed_raw`` (normalised like the request's identifiers) and
``unified_coalesced`` (the amperity_id of each record), so privacy runs after Stitch.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cdp_pipelines.governance.privacy.requests import PrivacyRequest
from cdp_pipelines.governance.privacy.suppression import normalise

if TYPE_CHECKING:
    from cdp_pipelines.resources.delta_io import DeltaLake

DIRECT, CONNECTED, SOURCE_KEY = "direct", "connected", "source key"
# Raw columns of unified_preprocessed_raw whose values identify a person: searched for in
# tables Privacy knows no key of (quarantine, events, failed events), and hashed for
# suppression (the event ids scrub the events' landing files). Column -> identifier kind:
# Stitch names the Segment ids by their tags (fk-user, fk-anonymous), suppression and the
# event loader by the message fields they come from.
IDENTIFYING = {"email": "email", "phone": "phone", "loyalty_id": "loyalty_id",
               "fk_user": "user_id", "fk_anonymous": "anonymous_id"}


@dataclass
class Match:
    """What one request matched."""

    request: PrivacyRequest
    # (source table, pk) -> match category
    records: dict[tuple[str, str], str] = field(default_factory=dict)
    amperity_ids: set[str] = field(default_factory=set)
    # Lower-cased identifying values (the request's and the matched records').
    values: set[str] = field(default_factory=set)
    # (kind, raw value) pairs to hash into the suppression table.
    identifiers: set[tuple[str, str]] = field(default_factory=set)
    # amperity_id -> how many records Stitch gave it, and which of them were matched.
    id_sizes: dict[str, int] = field(default_factory=dict)
    record_ids_of: dict[str, set[tuple[str, str]]] = field(default_factory=dict)

    @property
    def record_ids(self) -> set[str]:
        return {f"{s}:{pk}" for s, pk in self.records}


def _request_keys(request: PrivacyRequest, columns: list[str]) -> list[tuple[str, str]]:
    """(column of unified_preprocessed_raw, normalised value) pairs of a request."""
    out = []
    ids = request.identifiers
    if "email" in ids:
        out.append(("email_norm", normalise("email", ids["email"])))
    if "phone" in ids:
        out.append(("phone_e164", normalise("phone", ids["phone"])))
    if "address" in ids:
        out.append(("_address_group", normalise("address", f"{ids['address']}|{ids['postal']}")))
    for name, value in ids.items():
        if name in ("email", "phone", "address", "postal"):
            continue
        column = f"{name}_norm" if f"{name}_norm" in columns else name
        out.append((column, normalise(name, value)))
    return [(c, v) for c, v in out if v is not None and (c in columns or c == "_address_group")]


def match_requests(lake: "DeltaLake", requests: list[PrivacyRequest]) -> dict[str, Match]:
    """request_id -> its :class:`Match` (one Spark pass for every request)."""
    from pyspark.sql import functions as F

    if not lake.exists("stitch", "unified_preprocessed_raw"):
        raise FileNotFoundError("privacy requests are matched on Stitch's records: "
                                "materialize the stitch group first")
    pre = lake.read("stitch", "unified_preprocessed_raw")
    if {"address_norm", "postal_norm"} <= set(pre.columns):
        pre = pre.withColumn("_address_group", F.concat_ws("|", "address_norm", "postal_norm"))
    matches = {r.request_id: Match(r) for r in requests}
    keys = [(r.request_id, c, v) for r in requests for c, v in _request_keys(r, pre.columns)]
    for r in requests:
        matches[r.request_id].values |= {v.strip().lower() for k, v in r.identifiers.items()
                                         if k != "postal"}
        matches[r.request_id].identifiers |= {
            (k, v) for k, v in r.identifiers.items() if k not in ("address", "postal")}
    if not keys:
        return matches
    spark = lake.session
    wanted = spark.createDataFrame(keys, "request_id string, column string, value string")
    direct = None
    for column in sorted({c for _, c, _ in keys}):
        hits = pre.select("source", "pk", F.col(column).alias("value")).join(
            wanted.where(F.col("column") == column), "value").select("request_id", "source", "pk")
        direct = hits if direct is None else direct.unionByName(hits)
    direct = direct.distinct().withColumn("category", F.lit(DIRECT))
    found = direct
    if lake.exists("stitch", "unified_coalesced"):
        ids = lake.read("stitch", "unified_coalesced").select("source", "pk", "amperity_id")
        direct = direct.join(ids, ["source", "pk"], "left")
        connected_ids = [r.request_id for r in requests if r.strategy == "connected"]
        linked = (direct.where(F.col("request_id").isin(connected_ids))
                  .select("request_id", "amperity_id").distinct()
                  .join(ids, "amperity_id")
                  .join(direct.select("request_id", "source", "pk"),
                        ["request_id", "source", "pk"], "left_anti")
                  .withColumn("category", F.lit(CONNECTED)))
        found = direct.unionByName(linked)
    else:
        found = direct.withColumn("amperity_id", F.lit(None).cast("string"))
    identifying = [c for c in IDENTIFYING if c in pre.columns]
    rows = (found.join(pre.select("source", "pk", *identifying), ["source", "pk"], "left")
            .collect())
    for row in rows:
        match = matches[row["request_id"]]
        match.records[(row["source"], row["pk"])] = row["category"]
        if row["amperity_id"]:
            match.amperity_ids.add(row["amperity_id"])
            match.record_ids_of.setdefault(row["amperity_id"], set()).add(
                (row["source"], row["pk"]))
        for column in identifying:
            if row[column]:
                match.values.add(str(row[column]).strip().lower())
                match.identifiers.add((IDENTIFYING[column], str(row[column])))
    found_ids = sorted(set().union(*(m.amperity_ids for m in matches.values())))
    if found_ids:
        sizes = {r["amperity_id"]: r["count"] for r in lake.read("stitch", "unified_coalesced")
                 .where(F.col("amperity_id").isin(found_ids)).groupBy("amperity_id").count()
                 .collect()}
        for match in matches.values():
            match.id_sizes = {a: sizes.get(a, 0) for a in match.amperity_ids}
    return matches


def partly_matched_ids(matches: list[Match]) -> set[str]:
    """amperity_ids that keep records none of ``matches`` matched (an ``exact`` request
    matching some of a customer's records): the customer stays, without the person."""
    matched: dict[str, set[tuple[str, str]]] = defaultdict(set)
    sizes: dict[str, int] = {}
    for m in matches:
        for aid, records in m.record_ids_of.items():
            matched[aid] |= records
        sizes.update(m.id_sizes)
    return {aid for aid, records in matched.items() if len(records) < sizes.get(aid, 0)}


def group_by_source(matches: list[Match]) -> dict[str, dict[str, list[tuple[str, str]]]]:
    """source table -> pk -> [(request_id, category)] over several requests."""
    out: dict[str, dict[str, list[tuple[str, str]]]] = defaultdict(lambda: defaultdict(list))
    for m in matches:
        for (source, pk), category in m.records.items():
            out[source][pk].append((m.request.request_id, category))
    return out
