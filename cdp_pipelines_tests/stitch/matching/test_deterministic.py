"""Deterministic edges: shared exact identifiers, minus guarded contradictions."""

from cdp_pipelines.stitch import matching
from cdp_pipelines.stitch import normalize as nz
from cdp_pipelines_tests.stitch.matching.helpers import frame, pairs


def test_deterministic_edges_and_guards(spark):
    rows = [
        # same email, same person: linked
        ("crm", "1", "anna", "berg", "anna@x.io", None, "1980-01-02", "2000", None),
        ("web", "1", "anna", "berg", "anna@x.io", None, None, None, None),
        # same phone, names clearly contradict (given AND surname): not linked
        ("crm", "2", "alice", "brown", None, "+61400000001", None, None, None),
        ("pos", "2", "zoe", "green", None, "+61400000001", None, None, None),
        # same email, nickname with a confirming surname: linked
        ("crm", "3", "bob", "smith", "bs@x.io", None, None, None, None),
        ("pos", "3", "robert", "smith", "bs@x.io", None, None, None, None),
        # same email, different separation keys: not linked
        ("crm", "4", "peter", "pan", "pp@x.io", None, None, None, "A"),
        ("web", "4", "peter", "pan", "pp@x.io", None, None, None, "B"),
        # same email, different birthdates: not linked
        ("crm", "5", "kim", "lee", "kl@x.io", None, "1990-01-01", None, None),
        ("web", "5", "kim", "lee", "kl@x.io", None, "1991-02-02", None, None),
        # same email and phone: one edge naming both identifiers
        ("crm", "6", "li", "wu", "lw@x.io", "+61400000006", None, None, None),
        ("web", "6", "li", "wu", "lw@x.io", "+61400000006", None, None, None),
        # swapped names, and a single name that is the other record's surname: linked
        ("crm", "7", "scott", "aaron", "sa@x.io", None, None, None, None),
        ("web", "7", "aaron", "scott", "sa@x.io", None, None, None, None),
        ("crm", "8", "aaron", None, "as@x.io", None, None, None, None),
        ("web", "8", "scott", "aaron", "as@x.io", None, None, None, None),
        # rhyming names of a household (Jaro-Winkler 0.73, two edits): not linked
        ("crm", "9", "logan", "simpson", "ls@x.io", None, None, None, None),
        ("web", "9", "megan", "simpson", "ls@x.io", None, None, None, None),
        # a one-letter typo and a nickname whose formal name is ambiguous: linked
        ("crm", "10", "jon", "park", "jp@x.io", None, None, None, None),
        ("web", "10", "jan", "park", "jp@x.io", None, None, None, None),
        ("crm", "11", "harry", "stone", "hs@x.io", None, None, None, None),
        ("web", "11", "harold", "stone", "hs@x.io", None, None, None, None),
        # swapped, the given name as a nickname; a mistyped nickname: linked
        ("crm", "12", "hank", "marshall", "hm@x.io", None, None, None, None),
        ("web", "12", "marshall", "henry", "hm@x.io", None, None, None, None),
        ("crm", "13", "icndy", "graham", "cg@x.io", None, None, None, None),
        ("web", "13", "cynthia", "graham", "cg@x.io", None, None, None, None),
        # a record with only a family email whose mailbox names another member: not
        # linked to Margaret; one that names her (or only her surname): linked
        ("crm", "14", "margaret", "gomez", "jack_gomez@x.io", None, None, None, None),
        ("web", "14", None, None, "jack_gomez@x.io", None, None, None, None),
        ("crm", "15", "margaret", "gomez", "m.gomez77@x.io", None, None, None, None),
        ("web", "15", None, None, "m.gomez77@x.io", None, None, None, None),
        ("crm", "16", "peggy", "gomez", "gomez77@x.io", None, None, None, None),
        ("web", "16", None, None, "gomez77@x.io", None, None, None, None),
        # a nickname of a formal name spelled another way (katherine, maddison): linked
        ("crm", "17", "kate", "pena", "kp@x.io", None, None, None, None),
        ("web", "17", "catherine", "pena", "kp@x.io", None, None, None, None),
        ("crm", "18", "maddie", "nichols", "mn@x.io", None, None, None, None),
        ("web", "18", "madison", "nichols", "mn@x.io", None, None, None, None),
    ]
    df = frame(spark, rows)
    df = df.join(spark.createDataFrame(
        [(n, nz.canonical_given_name(n), nz.given_name_forms(n))
         for n in {r[2] for r in rows if r[2]}],
        "given_name_norm string, given_name_canonical string, given_name_forms string"),
        "given_name_norm", "left")
    edges = pairs(matching.deterministic_edges(df, spark))
    assert set(edges) == {("crm:1", "web:1"), ("crm:3", "pos:3"), ("crm:6", "web:6"),
                          ("crm:7", "web:7"), ("crm:8", "web:8"), ("crm:10", "web:10"),
                          ("crm:11", "web:11"), ("crm:12", "web:12"), ("crm:13", "web:13"),
                          ("crm:15", "web:15"), ("crm:16", "web:16"), ("crm:17", "web:17"),
                          ("crm:18", "web:18")}
    assert edges[("crm:1", "web:1")].match_key == "email_norm"
    assert edges[("crm:6", "web:6")].match_key == "email_norm,phone_norm"

    # Without the name veto (a tenant without households) only keys and birthdates part.
    loose = set(pairs(matching.deterministic_edges(df, spark, names=False)))
    assert loose == set(edges) | {("crm:2", "pos:2"), ("crm:9", "web:9"), ("crm:14", "web:14")}


def test_oversized_identifier_group_is_skipped(spark):
    rows = [("pos", str(i), f"name{i}", None, "shared@x.io", None, None, None, None)
            for i in range(4)]
    edges = matching.deterministic_edges(frame(spark, rows), spark, max_group_size=3)
    assert edges.count() == 0


def test_household_sharing_an_email_does_not_link_deterministically(spark) -> None:
    from cdp_pipelines.stitch.matching import deterministic_edges, with_record_id

    rows = [
        # a household: same surname and email, different given names
        ("crm", "1", "john", "john", "smith", "fam@x.io"),
        ("pos", "1", "mary", "mary", "smith", "fam@x.io"),
        # a nickname, known by its canonical form
        ("crm", "2", "bob", "robert", "stone", "bob@x.io"),
        ("pos", "2", "robert", "robert", "stone", "bob@x.io"),
        # given name and surname swapped between the two records
        ("crm", "3", "green", "green", "alice", "ag@x.io"),
        ("pos", "3", "alice", "alice", "green", "ag@x.io"),
    ]
    df = with_record_id(spark.createDataFrame(
        rows, "source string, pk string, given_name_norm string, given_name_canonical string,"
              " surname_norm string, email_norm string"))
    edges = {(r["record_id_l"], r["record_id_r"])
             for r in deterministic_edges(df, spark).collect()}
    assert edges == {("crm:2", "pos:2"), ("crm:3", "pos:3")}


def test_refreshed_edges_equal_edges_found_afresh(spark) -> None:
    """An incremental run's deterministic edges, from last run's edges and oversized
    values, are those found over every record: a group pushed over the limit by a new
    record, one brought back under it by a deletion, a changed record, a deleted one, and
    a pair sharing two identifiers of which one is affected."""
    from pyspark.sql import functions as F

    def row(pk, name, email=None, phone=None):
        return (pk[0], pk, name, "lee", email, phone, None, None, None)

    before = [
        *[row(f"p{i}", "ann", email="a@x.io") for i in range(1, 4)],  # 3: at the limit
        *[row(f"q{i}", "bo", email="b@x.io") for i in range(1, 5)],  # 4: oversized
        row("r1", "cy", email="c@x.io", phone="555"), row("r2", "cy", phone="555"),
        row("r3", "cy", email="c@x.io"),
        row("s1", "di", email="s@x.io"), row("s2", "di", email="s@x.io"),
        row("s3", "di", email="t@x.io"),
        row("u1", "ed", email="u@x.io", phone="777"), row("u2", "ed", email="u@x.io",
                                                          phone="777"),
    ]
    after = [r for r in before if r[1] not in ("q4", "r2", "s2")] + [
        row("p4", "ann", email="a@x.io"),  # group a@x.io goes over the limit
        row("s2", "di", email="t@x.io"),  # changed: leaves s1, joins s3
        row("u3", "ed", phone="777"),  # phone 777 affected, email u@x.io not
    ]
    old = matching.deterministic_edges_and_oversized(frame(spark, before), spark,
                                                     max_group_size=3)
    previous = old.edges.withColumn("match_type", F.lit("deterministic"))

    def ids(*pks):
        return spark.createDataFrame([(f"{p[0]}:{p}",) for p in pks], "record_id string")

    refreshed = matching.refreshed_deterministic_edges(
        frame(spark, after), spark, previous, old.oversized, focus=ids("p4", "s2", "u3"),
        touched=ids("p4", "s2", "u3", "q4", "r2"), max_group_size=3)
    afresh = matching.deterministic_edges_and_oversized(frame(spark, after), spark,
                                                        max_group_size=3)

    def keyed(edges):
        return {k: r.match_key for k, r in pairs(edges).items()}

    assert keyed(refreshed.edges) == keyed(afresh.edges)
    assert {tuple(r) for r in refreshed.oversized.collect()} == {
        tuple(r) for r in afresh.oversized.collect()} == {("email_norm", "a@x.io")}
    # The cases above did happen: q1-q3 linked once q4 left, u1-u2 on both identifiers.
    assert keyed(refreshed.edges)[("q:q1", "q:q2")] == "email_norm"
    assert keyed(refreshed.edges)[("u:u1", "u:u2")] == "email_norm,phone_norm"
    assert ("p:p1", "p:p2") not in keyed(refreshed.edges)
