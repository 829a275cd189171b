"""Connected components over accepted edges; supersized flag."""

from cdp_pipelines.stitch import normalize as nz
from cdp_pipelines.stitch.clustering import (
    cluster_records,
    constrained_groups,
    flag_supersized,
)

EDGES = "record_id_l string, record_id_r string, match_probability double, match_type string"


def test_chain_singleton_and_rejected_edge(spark):
    nodes = spark.createDataFrame([(r,) for r in "abcdef"], "record_id string")
    edges = spark.createDataFrame(
        [
            ("a", "b", 0.95, "probabilistic"),
            ("b", "c", 1.0, "deterministic"),
            ("d", "e", 0.40, "probabilistic"),  # below threshold: d and e stay apart
        ],
        EDGES,
    )
    clusters = cluster_records(nodes, edges, spark, threshold=0.9)
    got = {r.record_id: r.cluster_id for r in clusters.collect()}
    assert set(got) == set("abcdef")
    assert got["a"] == got["b"] == got["c"] == "a"
    assert len({got["a"], got["d"], got["e"], got["f"]}) == 4
    assert got["f"] == "f"

    flagged = {r.record_id: (r.cluster_size, r.is_supersized)
               for r in flag_supersized(clusters, max_size=2).collect()}
    assert flagged["a"] == (3, True)
    assert flagged["f"] == (1, False)


def test_components_found_here_are_splinks(spark):
    """A small input's components, found in this process, are the ones Splink's solver
    finds: the same members, named by their smallest record_id (a chain whose smallest
    id is in its middle, a ring, an edge below the threshold)."""
    nodes = spark.createDataFrame([(r,) for r in "abcdefghij"], "record_id string")
    edges = spark.createDataFrame(
        [("d", "e", 0.95, "probabilistic"), ("c", "d", 1.0, "deterministic"),
         ("e", "f", 0.97, "probabilistic"), ("a", "g", 0.99, "probabilistic"),
         ("g", "h", 0.99, "probabilistic"), ("h", "a", 0.99, "probabilistic"),
         ("b", "i", 0.40, "probabilistic")],
        EDGES,
    )

    def clusters(**kwargs):
        return {r.record_id: r.cluster_id for r in cluster_records(
            nodes, edges, spark, threshold=0.9, **kwargs).collect()}

    here = clusters(nodes_at_most=10)
    assert here == clusters()
    assert here["f"] == "c" and here["h"] == "a" and here["i"] == "i"


def _clusters(nodes, edges, spark) -> dict[str, str]:
    return {r.record_id: r.cluster_id
            for r in cluster_records(nodes, edges, spark, threshold=0.9).collect()}


GUARDED = ("record_id string, given_name_norm string, given_name_canonical string, "
           "surname_norm string, birthdate_norm string")


def test_a_shared_email_does_not_bridge_two_people(spark):
    """An email-only record links to both partners who share the address; they must not
    end up as one customer. The greedy split keeps the strongest link first."""
    nodes = spark.createDataFrame([
        ("alan1", "alan", "alan", "alvarez", None),
        ("alan2", "alan", "alan", "alvarez", "1970-01-02"),
        ("sarah", "sarah", "sarah", "black", None),
        ("email_only", None, None, None, None),
        ("x", "xena", "xena", "x", None),
    ], GUARDED)
    edges = spark.createDataFrame(
        [
            ("alan1", "alan2", 0.99, "probabilistic", 20.0),
            ("alan1", "email_only", 1.0, "deterministic", None),
            ("email_only", "sarah", 1.0, "deterministic", None),
        ],
        EDGES + ", match_weight double",
    )
    got = _clusters(nodes, edges, spark)
    assert got["alan1"] == got["alan2"]
    assert got["sarah"] != got["alan1"]
    # Without the name veto (a tenant without households) the component stays whole.
    loose = {r.record_id: r.cluster_id
             for r in cluster_records(nodes, edges, spark, threshold=0.9, names=False).collect()}
    assert loose["sarah"] == loose["alan1"] == loose["email_only"]
    # Deterministic ties break by record id: ("alan1", "email_only") comes first.
    assert got["email_only"] == got["alan1"] == "alan1"
    assert got["sarah"] == "sarah" and got["x"] == "x"


def test_components_without_contradictions_are_untouched(spark):
    nodes = spark.createDataFrame([
        ("a", "robert", "robert", "smith", None), ("b", "bob", "robert", "smith", None),
        ("c", "rob", "robert", "smith", "1980-05-06"),
        ("d", "robert", "robert", "smith", "1980-05-07"),
    ], GUARDED)
    edges = spark.createDataFrame(
        [("a", "b", 0.95, "probabilistic"), ("b", "d", 0.97, "probabilistic"),
         ("c", "d", 0.99, "probabilistic")], EDGES)
    got = _clusters(nodes, edges, spark)
    # "bob", "rob" and "robert" are one canonical name and the birthdates are one typo
    # apart: nothing contradicts, so the chain stays one customer.
    assert set(got.values()) == {"a"}


def test_a_contradicted_chain_splits_at_its_weakest_link(spark):
    nodes = spark.createDataFrame([
        ("a", "robert", "robert", "smith", None), ("b", "bob", "robert", "smith", None),
        ("c", "james", "james", "smith", "1980-05-06"),
        ("d", "robert", "robert", "smith", "1980-05-06"),
    ], GUARDED)
    edges = spark.createDataFrame(
        [("a", "b", 0.95, "probabilistic"), ("b", "d", 0.97, "probabilistic"),
         ("c", "d", 0.99, "probabilistic")], EDGES)
    got = _clusters(nodes, edges, spark)
    # James and Robert born the same day may be one person going by a middle name, but
    # James cannot also be the Robert of a and b, who has no birthdate to vouch for it:
    # the strongest link (c-d) is kept and b-d, which would join them, is not.
    assert got == {"a": "a", "b": "a", "c": "c", "d": "c"}


def test_one_odd_record_does_not_part_a_person_its_other_records_vouch_for():
    """FEBRL-style duplicates of one person: d0's first name was replaced (its birthdate
    agrees with o and d1, which vouches for it), d2's birthdate was mistyped. d0 and d2
    contradict each other, but two direct links tie d0 to the group against one conflict."""
    members = ["o", "d0", "d1", "d2"]
    edges = [("o", "d1", 1), ("o", "d2", 2), ("d1", "d2", 3), ("o", "d0", 4), ("d0", "d1", 5)]
    got = constrained_groups(members, edges, [("d0", "d2")], informative=set(members))
    assert set(got.values()) == {"d0"}
    # Without the vouching links (one link, one conflict) d0 stays apart.
    got = constrained_groups(members, edges[:4], [("d0", "d2")], informative=set(members))
    assert got == {"o": "d1", "d1": "d1", "d2": "d1", "d0": "d0"}


def test_records_without_a_name_vouch_for_nobody():
    """Two initial-only records ("J. Ryan") link to both John and Jane Ryan of one
    household; their links outnumber the one John/Jane conflict, but they could not have
    contradicted either, so they do not count."""
    members = ["john", "j1", "j2", "jane"]
    edges = [("john", "j1", 1), ("john", "j2", 2), ("j1", "jane", 3), ("j2", "jane", 4)]
    got = constrained_groups(members, edges, [("john", "jane")], informative={"john", "jane"})
    assert got["jane"] == "jane" and got["john"] == got["j1"] == got["j2"]
    # Had they been named records that agree with both, they would have vouched.
    got = constrained_groups(members, edges, [("john", "jane")], informative=set(members))
    assert len(set(got.values())) == 1


def test_a_family_email_record_joins_the_member_its_mailbox_names(spark):
    """Judy and Pat Brooks share Pat's email; a sign-up carrying only that email links to
    both. It goes to Pat, whose name the mailbox spells, though Judy's link comes first by
    record id; Nathan Hayes' mailbox spells his surname and initial."""
    cols = GUARDED + ", email_norm string, given_name_forms string"

    def row(record, given, surname, email):
        forms = nz.given_name_forms(given)
        return (record, given, nz.canonical_given_name(given), surname, None, email, forms)

    nodes = spark.createDataFrame([
        row("a_judy", "judy", "brooks", "patrick93@x.com"),
        row("b_signup", None, None, "patrick93@x.com"),
        row("c_pat", "pat", "brooks", "patrick93@x.com"),
        row("d_guadalupe", "guadalupe", "hayes", "hayesn94@x.com"),
        row("e_signup", None, None, "hayesn94@x.com"),
        row("f_nathan", "nathan", "hayes", "hayesn94@x.com"),
    ], cols)
    # the guard drops the direct links between the two members of each family
    pairs = [("a_judy", "b_signup"), ("b_signup", "c_pat"),
             ("d_guadalupe", "e_signup"), ("e_signup", "f_nathan")]
    edges = spark.createDataFrame([(*p, 1.0, "deterministic") for p in pairs], EDGES)
    got = _clusters(nodes, edges, spark)
    assert got["b_signup"] == got["c_pat"] != got["a_judy"]
    assert got["e_signup"] == got["f_nathan"] != got["d_guadalupe"]


def test_a_father_and_his_namesake_son_part_by_birthdate_where_households_exist(spark):
    """Peter Wells senior and junior share a name, an address and the landline; records
    without a birthdate link to both. With households (the name guard on) their
    birthdates part them; without (data whose duplicates often carry a replaced date)
    they do not."""
    nodes = spark.createDataFrame([
        ("sr1", "peter", "peter", "wells", "1961-02-22"),
        ("sr2", "peter", "peter", "wells", "1961-02-22"),
        ("jr1", "peter", "peter", "wells", "1989-03-23"),
        ("jr2", "pete", "peter", "wells", "1989-03-23"),
        ("home", "peter", "peter", "wells", None),
    ], GUARDED)
    edges = spark.createDataFrame([
        ("sr1", "sr2", 1.0, "deterministic", 30.0), ("jr1", "jr2", 1.0, "deterministic", 30.0),
        ("home", "sr1", 0.99, "probabilistic", 12.0), ("home", "jr1", 0.98, "probabilistic", 11.0),
        ("home", "sr2", 0.97, "probabilistic", 10.0),
    ], EDGES + ", match_weight double")
    got = _clusters(nodes, edges, spark)
    assert got["sr1"] == got["sr2"] == got["home"] != got["jr1"] == got["jr2"]
    loose = {r.record_id: r.cluster_id
             for r in cluster_records(nodes, edges, spark, threshold=0.9, names=False).collect()}
    assert len(set(loose.values())) == 1
