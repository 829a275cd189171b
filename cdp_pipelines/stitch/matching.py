"""Candidate edges for Stitch: deterministic links on exact identifiers plus a Splink model.

Input is the preprocessed frame (string columns `source`, `pk`, the `*_norm` columns a
tenant happens to have, `fk_<namespace>` columns and an optional separation key `sk`).
Everything here is derived from the columns present, so no tenant needs code of its own.

Edges come out as one frame: record_id_l < record_id_r, match_probability, match_weight,
match_type ('deterministic' | 'probabilistic'), match_key (the identifiers a deterministic
edge shares) and explanation (comparison name -> match weight, i.e. log2 Bayes factor,
including term-frequency adjustments: why two records linked).
"""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import math
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, NamedTuple

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession
    from splink import Linker

logger = logging.getLogger(__name__)

MODEL_FORMAT = "cdp-splink-model/1"

# Pairs at or above this probability are accepted into clusters (score 3 "good" or better).
DEFAULT_THRESHOLD = 0.9

# Name similarity under which two names contradict each other (Jaro-Winkler): "jon" vs
# "john" is 0.93, "john" vs "mary" 0.0, "smith" vs "smyth" 0.89, "smith" vs "jones" 0.47.
NAME_CONTRADICTION_JW = 0.7
NAME_SIMILAR_JW = 0.85

# A deterministic identifier shared by more records than this is not trusted pairwise:
# it would create a quadratic number of edges and is almost certainly a shared/bad value
# that the blocklist stage missed.
DEFAULT_MAX_DETERMINISTIC_GROUP = 100
# On big inputs an EM pass first counts the pairs its rule makes on a probe of the records
# (at least this many), then samples records down to `em_max_pairs` pairs.
EM_MIN_SAMPLED_RECORDS = 200_000

STRONG_ID_COLUMNS = ("email_norm", "phone_norm", "loyalty_id_norm")
NAME_COLUMNS = ("given_name_norm", "surname_norm", "full_name_norm")
MODEL_COLUMNS = (
    "given_name_norm",
    "surname_norm",
    "full_name_norm",
    "email_norm",
    "phone_norm",
    "address_norm",
    "address2_norm",
    "city_norm",
    "state_norm",
    "postal_norm",
    "country_norm",
    "birthdate_norm",
    "gender_norm",
    "loyalty_id_norm",
)

# (min probability, score, category): documented cut-offs for unified_scores.
SCORE_BANDS = (
    (0.9999, 5, "exact"),
    (0.99, 4, "strong"),
    (0.9, 3, "good"),
    (0.5, 2, "weak"),
    (0.1, 1, "poor"),
    (0.0, 0, "none"),
)


# ---------------------------------------------------------------- columns and ids


def fk_columns(columns: Iterable[str]) -> list[str]:
    return sorted(c for c in columns if c.startswith("fk_"))


def strong_id_columns(columns: Iterable[str]) -> list[str]:
    """Exact identifiers that link two records on their own (subject to the guards)."""
    cols = list(columns)
    return [c for c in STRONG_ID_COLUMNS if c in cols] + fk_columns(cols)


def with_record_id(df: "DataFrame") -> "DataFrame":
    """Add `record_id` = source:pk, the unique node id of Stitch."""
    from pyspark.sql import functions as F

    missing = [c for c in ("source", "pk") if c not in df.columns]
    if missing:
        raise ValueError(
            f"Stitch input is missing column(s) {missing}; preprocess must emit "
            f"'source' and 'pk' (columns found: {df.columns})"
        )
    if "record_id" in df.columns:
        return df
    return df.withColumn(
        "record_id", F.concat(F.col("source").cast("string"), F.lit(":"),
                              F.col("pk").cast("string"))
    )


def splink_db_api(spark: "SparkSession"):
    """Splink's Spark backend; registers the similarity UDFs (jaro_winkler, ...) as a side
    effect. Intermediate tables are written as parquet so long iterative jobs (EM,
    connected components) keep short query plans."""
    from splink import SparkAPI

    jsc = spark.sparkContext._jsc
    if jsc.sc().getCheckpointDir().isEmpty():
        folder = tempfile.mkdtemp(prefix="cdp-splink-")
        # Splink writes every intermediate table there (600 MB at 1M records): removed
        # when the process ends, not left behind run after run.
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        spark.sparkContext.setCheckpointDir(folder)
    return SparkAPI(spark_session=spark, break_lineage_method="parquet")


# ---------------------------------------------------------------- deterministic


def _both(col: str) -> str:
    return f"(l.{col} IS NOT NULL AND r.{col} IS NOT NULL)"


def _name_dissimilar(col: str) -> str:
    # A prefix is not a contradiction: initials ("j" vs "john") and truncations agree.
    # Below NAME_CONTRADICTION_JW two names differ; up to NAME_SIMILAR_JW they differ
    # when more than one typo apart ("logan"/"megan", "karen"/"kate"; not "jon"/"jan").
    return (
        f"({_both(col)} AND (jaro_winkler(l.{col}, r.{col}) < {NAME_CONTRADICTION_JW}"
        f" OR (jaro_winkler(l.{col}, r.{col}) < {NAME_SIMILAR_JW}"
        f" AND damerau_levenshtein(l.{col}, r.{col}) > 1))"
        f" AND NOT startswith(l.{col}, r.{col}) AND NOT startswith(r.{col}, l.{col}))"
    )


def _dates_agree(col: str) -> str:
    # One typo (a changed or transposed digit) is the same date keyed twice.
    return f"({_both(col)} AND damerau_levenshtein(l.{col}, r.{col}) <= 1)"


def mailbox_sql(side: str) -> str:
    """SQL: the letters of `side`'s mailbox, without a +tag ("j.smith_77+news@x.com" ->
    "jsmith")."""
    return (f"regexp_replace(split(split({side}.email_norm, '@')[0], '[+]')[0], "
            "'[^a-z]', '')")


def surname_letters_sql(side: str) -> str:
    """SQL: the letters of `side`'s surname, as they stand in a mailbox ("st james" ->
    "stjames")."""
    return f"regexp_replace({side}.surname_norm, '[^a-z]', '')"


def _mailbox_names_another(x: str, y: str, forms: bool) -> str:
    """SQL: record x has no given name, and its mailbox holds y's surname beside a name
    or initial that cannot be y's ("jack_gomez@" for Margaret Gomez, "sriley@" for
    Charlotte Riley). The mailbox of a family's shared email names its owner; a record
    carrying only that email (a newsletter sign-up) is then not Margaret's."""
    box, surname = mailbox_sql(x), surname_letters_sql(y)
    rest = f"replace({box}, {surname}, '')"
    return (
        f"({x}.given_name_norm IS NULL AND {x}.email_norm IS NOT NULL AND "
        f"{y}.given_name_norm IS NOT NULL AND length({surname}) >= 3 AND "
        f"instr({box}, {surname}) > 0 AND {rest} <> '' AND "
        f"substr({rest}, 1, 1) <> substr({y}.given_name_norm, 1, 1) AND NOT exists("
        f"split({f'{y}.given_name_forms' if forms else f'{y}.given_name_norm'}, ' '), "
        f"f -> startswith({rest}, f) OR startswith(f, {rest})))"
    )


def names_differ_sql(columns: Iterable[str]) -> str | None:
    """SQL (over aliases l, r) true when two records' names say two people, whatever
    their birthdates: given names both present and dissimilar (Jaro-Winkler < 0.7, or
    < 0.85 and more than one typo apart; neither a prefix of the other), not one
    canonical or formal name ("bob"/"robert", "harry"/"harold") and not simply swapped
    with the surname. With only a full name, the full names share no token and are
    dissimilar. None when no name column is present."""
    cols = set(columns)
    if "given_name_norm" in cols:
        given = _name_dissimilar("given_name_norm")
        if "given_name_canonical" not in cols:
            # Without canonical given names a nickname looks like another name: let a
            # similar surname confirm the match instead.
            if "surname_norm" in cols:
                given = (f"({given} AND NOT ({_both('surname_norm')} AND jaro_winkler("
                         f"l.surname_norm, r.surname_norm) >= {NAME_CONTRADICTION_JW}))")
            return given
        # Nicknames agree once canonical: "bob" and "robert" are one given name.
        given = (f"({given} AND NOT ({_both('given_name_canonical')} AND "
                 "l.given_name_canonical = r.given_name_canonical))")
        if "given_name_forms" in cols:
            # ... and so do two names that may stand for one formal name: "harry"
            # (harold or henry) and "harold".
            given = (f"({given} AND NOT ({_both('given_name_forms')} AND arrays_overlap("
                     "split(l.given_name_forms, ' '), split(r.given_name_forms, ' '))))")
        if "surname_norm" in cols:
            # First and last name swapped between the two records is the same person,
            # the given name perhaps as a nickname ("hank marshall" / "marshall henry").
            def like(a: str, b: str) -> str:  # a's given name is like b's surname
                near = (f"jaro_winkler({a}.given_name_norm, {b}.surname_norm) >= "
                        f"{NAME_CONTRADICTION_JW}")
                if "given_name_forms" not in cols:
                    return near
                return (f"({near} OR array_contains(split({a}.given_name_forms, ' '), "
                        f"{b}.surname_norm))")

            swapped = (
                f"({_both('surname_norm')} AND {like('l', 'r')} AND {like('r', 'l')})"
                # one record has a single name, the other holds it as its surname
                # ("aaron" beside "scott aaron", a swapped "aaron scott")
                " OR (l.surname_norm IS NULL AND r.surname_norm IS NOT NULL"
                " AND l.given_name_norm = r.surname_norm)"
                " OR (r.surname_norm IS NULL AND l.surname_norm IS NOT NULL"
                " AND r.given_name_norm = l.surname_norm)"
            )
            given = f"({given} AND NOT ({swapped}))"
        if {"email_norm", "surname_norm"} <= cols:
            forms = "given_name_forms" in cols
            given = (f"({given} OR {_mailbox_names_another('l', 'r', forms)} OR "
                     f"{_mailbox_names_another('r', 'l', forms)})")
        return given
    if "full_name_norm" in cols:
        return (f"({_name_dissimilar('full_name_norm')} AND NOT arrays_overlap("
                "split(l.full_name_norm, ' '), split(r.full_name_norm, ' ')))")
    return None


def contradiction_sql(columns: Iterable[str], birthdates: bool = True,
                      names: bool = True) -> str:
    """SQL (over aliases l, r) that is true when two records clearly are different people.

    - separation key: both present and different (e.g. two distinct customer numbers of
      one source that the business says are never the same person);
    - birthdate: both present and more than one typo apart;
    - names (`names_differ_sql`), not vouched for by an agreeing birthdate. So "John
      Smith"/"Mary Smith" with no common birthdate (a household sharing an address, phone
      or email) contradict, while "Mary Smith"/"Mary Jones" (a name change), "Bob
      Smith"/"Robert Smith" (nickname), "Smith John"/"John Smith" (swapped) and "James
      Smith"/"Robert Smith" born the same day (a middle name used as first name) do not.

    ``birthdates=False`` leaves the birthdate veto out (an agreeing birthdate still vouches
    for different given names): for pairs the model scored, which already weighs a
    different birthdate, so a mistyped or replaced date alone does not part a match.
    ``names=False`` leaves the name veto out, for data without households
    (`household_evidence`), where the model alone weighs a different given name.
    """
    cols = set(columns)
    parts: list[str] = []
    if "sk" in cols:
        parts.append(f"({_both('sk')} AND l.sk <> r.sk)")
    has_birthdate = "birthdate_norm" in cols
    if has_birthdate and birthdates:
        parts.append(f"({_both('birthdate_norm')} AND NOT {_dates_agree('birthdate_norm')})")
    differ = names_differ_sql(cols) if names else None
    if differ is not None:
        # A shared surname does not rescue different given names (household members
        # share addresses, phones and emails); the same birthdate does.
        if has_birthdate and "given_name_norm" in cols:
            differ = f"({differ} AND NOT {_dates_agree('birthdate_norm')})"
        parts.append(differ)
    return " OR ".join(parts) if parts else "FALSE"


GUARD_COLUMNS = ("sk", "birthdate_norm", "given_name_canonical", "given_name_forms",
                 *NAME_COLUMNS, "email_norm")


def guard_columns(columns: Iterable[str]) -> list[str]:
    """The columns `contradiction_sql` reads, among those present."""
    present = set(columns)
    return [c for c in GUARD_COLUMNS if c in present]


class HouseholdEvidence(NamedTuple):
    """Records sharing a surname and an address, both with a given name and a birthdate,
    compared in pairs: `alike` pairs agree on both (one person keyed twice), `differing`
    pairs differ on both (two people of one household)."""

    alike: int
    differing: int

    @property
    def pairs(self) -> int:
        return self.alike + self.differing

    @property
    def household_share(self) -> float | None:
        return self.differing / self.pairs if self.pairs else None


# Fewer telling co-resident pairs than this cannot show that a tenant has no households.
HOUSEHOLD_MIN_PAIRS = 50
# Co-resident pairs that are two people, as a share of the telling pairs, from which the
# data has households. Where families share addresses (most customer data) it is far
# above: spouses, parents and children. Data that has none (a deduplication of one
# person's records per address) stays near the rate of double typos, about 1%.
HOUSEHOLD_MIN_SHARE = 0.05
# Same surname and address shared by more records than this: an institution, not a home.
HOUSEHOLD_MAX_RECORDS = 20


def household_evidence(df: "DataFrame") -> HouseholdEvidence:
    """Count the telling co-resident pairs of `df` (the matching frame)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    splink_db_api(df.sparkSession)  # registers jaro_winkler
    cols = set(df.columns)
    differ = names_differ_sql(cols)
    key = ["surname_norm", "address_norm"]
    if differ is None or not {*key, "given_name_norm", "birthdate_norm"} <= cols:
        return HouseholdEvidence(0, 0)
    side = (
        df.select("record_id", *key, *guard_columns(df.columns))
        .where(" AND ".join(f"{c} IS NOT NULL" for c in (*key, "given_name_norm",
                                                          "birthdate_norm")))
        .withColumn("_n", F.count(F.lit(1)).over(Window.partitionBy(*key)))
        .where((F.col("_n") > 1) & (F.col("_n") <= HOUSEHOLD_MAX_RECORDS))
    )
    pairs = side.alias("l").join(
        side.alias("r"),
        [F.col(f"l.{c}") == F.col(f"r.{c}") for c in key]
        + [F.col("l.record_id") < F.col("r.record_id")])
    dates = _dates_agree("birthdate_norm")
    row = pairs.select(
        F.sum(F.expr(f"CASE WHEN NOT ({differ}) AND {dates} THEN 1 ELSE 0 END")).alias("a"),
        F.sum(F.expr(f"CASE WHEN ({differ}) AND NOT {dates} THEN 1 ELSE 0 END")).alias("d"),
    ).first()
    return HouseholdEvidence(int(row.a or 0), int(row.d or 0))


def name_guard_on(mode: str, evidence: HouseholdEvidence | None) -> bool:
    """Whether different given names part two records (`contradiction_sql`'s name veto).
    "on"/"off" force it; "auto" keeps it unless the evidence shows a tenant without
    households: enough telling co-resident pairs, nearly all one person keyed twice."""
    if mode in ("on", "off"):
        return mode == "on"
    if mode != "auto":
        raise ValueError(f"Stitch name_guard: expected auto, on or off, got {mode!r}")
    if evidence is None or evidence.pairs < HOUSEHOLD_MIN_PAIRS:
        return True
    return evidence.household_share >= HOUSEHOLD_MIN_SHARE


def drop_contradictions(pairs: "DataFrame", records: "DataFrame",
                        birthdates: bool = True, names: bool = True) -> "DataFrame":
    """`pairs` (record_id_l, record_id_r, ...) without those whose records contradict
    (`contradiction_sql`); `records` has record_id and the guard columns."""
    from pyspark.sql import functions as F

    cols = guard_columns(records.columns)
    if not cols:
        return pairs
    side = records.select("record_id", *cols)
    joined = (
        pairs.alias("p")
        .join(side.alias("l"), F.col("p.record_id_l") == F.col("l.record_id"))
        .join(side.alias("r"), F.col("p.record_id_r") == F.col("r.record_id"))
    )
    guard = contradiction_sql(records.columns, birthdates, names)
    return joined.where(f"NOT ({guard})").select("p.*")


def deterministic_edges(
    df: "DataFrame",
    spark: "SparkSession",
    max_group_size: int = DEFAULT_MAX_DETERMINISTIC_GROUP,
    names: bool = True,
) -> "DataFrame":
    """Pairs sharing an exact strong identifier (email, phone, loyalty id, each fk_*),
    minus guarded contradictions (see `contradiction_sql`; `names` keeps its name veto).

    Returns record_id_l, record_id_r (l < r), match_key (comma-separated identifier
    columns the pair shares). Values shared by more than `max_group_size` records are
    skipped and logged: such a value is shared, not identifying.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    splink_db_api(spark)  # registers jaro_winkler
    df = with_record_id(df)
    id_cols = strong_id_columns(df.columns)
    schema = "record_id_l string, record_id_r string, match_key string"
    if not id_cols:
        return spark.createDataFrame([], schema)

    guard_cols = guard_columns(df.columns)
    guard = contradiction_sql(df.columns, names=names)
    pieces = []
    for col in id_cols:
        # ids are compared as trimmed strings so a numeric fk and its string form agree
        keyed = (
            df.select("record_id", F.trim(F.col(col).cast("string")).alias("_key"),
                      *guard_cols)
            .where(F.col("_key").isNotNull() & (F.col("_key") != ""))
            .withColumn("_n", F.count(F.lit(1)).over(Window.partitionBy("_key")))
        )
        oversized = keyed.where(F.col("_n") > max_group_size).select("_key").distinct()
        n_oversized = oversized.count()
        if n_oversized:
            logger.warning(
                "deterministic edges: %d value(s) of %s are shared by more than %d records "
                "and were not used (examples: %s); consider adding them to the blocklist",
                n_oversized, col, max_group_size,
                [r._key for r in oversized.limit(5).collect()],
            )
        keyed = keyed.where(F.col("_n") <= max_group_size).drop("_n")
        pair = (
            keyed.alias("l")
            .join(keyed.alias("r"), (F.col("l._key") == F.col("r._key"))
                  & (F.col("l.record_id") < F.col("r.record_id")))
            .where(f"NOT ({guard})")
            .select(F.col("l.record_id").alias("record_id_l"),
                    F.col("r.record_id").alias("record_id_r"),
                    F.lit(col).alias("match_key"))
        )
        pieces.append(pair)
    edges = pieces[0]
    for piece in pieces[1:]:
        edges = edges.unionByName(piece)
    return edges.groupBy("record_id_l", "record_id_r").agg(
        F.array_join(F.array_sort(F.collect_set("match_key")), ",").alias("match_key")
    )


# ---------------------------------------------------------------- model settings


def _model_columns(columns: Iterable[str]) -> list[str]:
    cols = set(columns)
    return [c for c in MODEL_COLUMNS if c in cols] + fk_columns(cols)


def _name_comparison(col: str, swap_with: str | None):
    """Splink's NameComparison levels (exact with term frequencies, Jaro-Winkler 0.92,
    0.88, 0.7, else) plus, with `swap_with`, a level for given name and surname swapped
    between the two records ("Smith John" / "John Smith"), which would otherwise count
    as two disagreements."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    levels: list = [cll.NullLevel(col),
                    cll.ExactMatchLevel(col).configure(tf_adjustment_column=col)]
    if swap_with:
        levels.append(cll.ColumnsReversedLevel(col, swap_with, symmetrical=True))
    levels += [cll.JaroWinklerLevel(col, t) for t in (0.92, 0.88, 0.7)]
    levels.append(cll.ElseLevel())
    return cl.CustomComparison(levels, output_column_name=col)


def _one_edit_sql(col: str) -> str:
    """Splink SQL: the two sides of `col` are at most one typo apart (Damerau-Levenshtein
    <= 1). Spark's native levenshtein with a bound (it gives up beyond 2 edits, and a
    transposition is 2) rules out almost every pair before the Damerau-Levenshtein UDF
    runs: on 2.15M random email pairs 0.9 s instead of 25 s, the same matches."""
    return (f"(levenshtein({col}_l, {col}_r, 2) >= 0 AND "
            f"damerau_levenshtein({col}_l, {col}_r) <= 1)")


def _one_edit_comparison(col: str, term_frequencies: bool):
    """Exact (with term frequencies if asked), one typo apart, else."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    exact = cll.ExactMatchLevel(col)
    if term_frequencies:
        exact = exact.configure(tf_adjustment_column=col)
    return cl.CustomComparison(
        [cll.NullLevel(col), exact,
         cll.CustomLevel(_one_edit_sql(col), f"Damerau-Levenshtein distance of {col} <= 1"),
         cll.ElseLevel()],
        output_column_name=col)


def _email_comparison(col: str):
    """Exact email, one typo apart ("hotmal.com"), else. Splink's EmailComparison also
    rewards similar mailboxes ("amy.harrison671@" / "amy.harrison194@"), but mailboxes
    are made of names: at a million records that level linked namesakes."""
    return _one_edit_comparison(col, term_frequencies=True)


def _comparisons(cols: set[str]) -> list:
    import splink.comparison_library as cl

    comps: list = []
    both_names = {"given_name_norm", "surname_norm"} <= cols
    for name_col in ("given_name_norm", "surname_norm"):
        if name_col in cols:
            # The swap is one observation: a level on the given name only, else a swapped
            # pair would score it twice and outweigh two namesakes agreeing in full.
            comps.append(_name_comparison(name_col, swap_with=(
                "surname_norm" if both_names and name_col == "given_name_norm" else None)))
    if "full_name_norm" in cols and not both_names:
        comps.append(cl.JaroWinklerAtThresholds("full_name_norm", [0.92, 0.8]).configure(
            term_frequency_adjustments=True))
    if "birthdate_norm" in cols:
        comps.append(cl.DateOfBirthComparison(
            "birthdate_norm", input_is_string=True, datetime_format="yyyy-MM-dd"))
    if "email_norm" in cols:
        comps.append(_email_comparison("email_norm"))
    if "phone_norm" in cols:
        comps.append(_one_edit_comparison("phone_norm", term_frequencies=True))
    location = _location_comparison(cols)
    if location is not None:
        comps.append(location)
    for exact_col in ("country_norm", "gender_norm"):
        if exact_col in cols:
            comps.append(cl.ExactMatch(exact_col))
    if "loyalty_id_norm" in cols:
        comps.append(_one_edit_comparison("loyalty_id_norm", term_frequencies=False))
    for fk in fk_columns(cols):
        comps.append(cl.ExactMatch(fk))
    return comps


LOCATION = "location"
LOCATION_COLUMNS = ("address_norm", "address2_norm", "postal_norm", "city_norm", "state_norm")


def _location_comparison(cols: set[str]):
    """Where the two records live, as one comparison whose levels say which of street,
    postal code and city agree (allowing a typo in each): the very same street with
    postal code or city, all three, the street and one of the others, the street alone,
    postal code and city, postal code, city, state, nothing. Compared one by one, a
    shared postal code would also count as a shared city and state, and two namesakes of
    one town would outweigh their different streets and surnames; as levels of one
    comparison, EM learns what each combination is worth."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    present = [c for c in LOCATION_COLUMNS if c in cols]
    if not present:
        return None

    # Splink names the two sides of a pair <column>_l and <column>_r.
    def both(c: str) -> str:
        return f"({c}_l IS NOT NULL AND {c}_r IS NOT NULL)"

    street = next((c for c in ("address_norm", "address2_norm") if c in cols), None)
    agree = {}
    if street:
        agree["street"] = f"({both(street)} AND jaro_winkler({street}_l, {street}_r) >= 0.88)"
    if "postal_norm" in cols:
        agree["postal"] = f"({both('postal_norm')} AND {_one_edit_sql('postal_norm')})"
    if "city_norm" in cols:
        agree["city"] = f"({both('city_norm')} AND jaro_winkler(city_norm_l, city_norm_r) >= 0.88)"
    if "state_norm" in cols:
        agree["state"] = f"({both('state_norm')} AND state_norm_l = state_norm_r)"

    levels: list = [cll.CustomLevel(
        " AND ".join(f"NOT {both(c)}" for c in present), "no shared location field"
    ).configure(is_null_level=True)]

    def level(label: str, *parts: str) -> None:
        levels.append(cll.CustomLevel(" AND ".join(parts), label))

    area = [agree[k] for k in ("postal", "city") if k in agree]
    some_area = "(" + " OR ".join(area) + ")"
    if "street" in agree:
        same_street = f"({both(street)} AND {street}_l = {street}_r)"
        if area:
            level("same street, postal code or city agree", same_street, some_area)
        if len(area) == 2:
            level("street, postal code and city agree", agree["street"], *area)
        if area:
            level("street and postal code or city agree", agree["street"], some_area)
        level("street agrees", agree["street"])
    if len(area) == 2:
        level("postal code and city agree", *area)
    if "postal" in agree:
        level("postal code agrees", agree["postal"])
    if "city" in agree:
        level("city agrees", agree["city"])
    if "state" in agree:
        level("state agrees", agree["state"])
    levels.append(cll.ElseLevel())
    return cl.CustomComparison(levels, output_column_name=LOCATION,
                               comparison_description="location: " + ", ".join(present))


def comparison_inputs(comparison: dict[str, Any]) -> list[str]:
    """The input columns one comparison of a settings dict reads (<col>_l in its SQL)."""
    import re

    found: list[str] = []
    for level in comparison.get("comparison_levels", []):
        for col in re.findall(r"\b([A-Za-z_][A-Za-z0-9_]*)_l\b", level.get("sql_condition", "")):
            if col not in found:
                found.append(col)
    return found or [comparison["output_column_name"]]


# Attributes that are selective in pairs. Pairs saying the same thing twice (city and
# postal) or weak and often empty (address2 with anything but the street) are left out.
_PAIRED_BLOCKING_COLUMNS = (
    "given_name_norm",
    "surname_norm",
    "full_name_norm",
    "birthdate_norm",
    "postal_norm",
    "address_norm",
    "address2_norm",
    "city_norm",
)
_REDUNDANT_PAIRS = {
    frozenset(p) for p in (
        ("city_norm", "postal_norm"),
        ("city_norm", "address2_norm"),
        ("given_name_norm", "address2_norm"),
        ("surname_norm", "address2_norm"),
        ("birthdate_norm", "address2_norm"),
        ("postal_norm", "address2_norm"),
        ("given_name_norm", "full_name_norm"),
        ("surname_norm", "full_name_norm"),
    )
}


_AREAS = {"postal_norm", "city_norm"}
# Preprocess's Soundex codes of both names (given name's canonical form).
SOUNDEX_COLUMNS = frozenset({"given_name_soundex", "surname_soundex"})
# A name x area blocking rule is narrowed by the other name's initial when it would make
# more candidate pairs than this many per record, and more than WIDE_BLOCK_MIN_PAIRS.
WIDE_BLOCK_PAIRS_PER_RECORD = 2
WIDE_BLOCK_MIN_PAIRS = 1_000_000


def _name_area_pairs(cols: set[str]) -> list[tuple[str, str]]:
    """The name x area attribute pairs among the blocking rules (given or surname with
    postal code or city), when both names are present."""
    from itertools import combinations

    if not {"given_name_norm", "surname_norm"} <= cols:
        return []
    present = [c for c in _PAIRED_BLOCKING_COLUMNS if c in cols]
    return [(a, b) for a, b in combinations(present, 2)
            if frozenset((a, b)) not in _REDUNDANT_PAIRS
            and {a, b} & {"given_name_norm", "surname_norm"} and {a, b} & _AREAS]


def wide_blocks(df: "DataFrame") -> set[frozenset[str]]:
    """The name x area rules (and the sound-alike names rule) of `df` (the matching
    frame) whose blocks are too big to compare in full: pairs grow with the square of a
    block, so a common name in a big town (or a small vocabulary of names) makes millions
    of candidate pairs."""
    from pyspark.sql import functions as F

    rules = _name_area_pairs(set(df.columns))
    if SOUNDEX_COLUMNS <= set(df.columns):
        rules.append(tuple(sorted(SOUNDEX_COLUMNS)))
    if not rules:
        return set()
    records = df.count()
    budget = max(WIDE_BLOCK_MIN_PAIRS, WIDE_BLOCK_PAIRS_PER_RECORD * records)
    wide = set()
    for a, b in rules:
        pairs = (df.where(F.col(a).isNotNull() & F.col(b).isNotNull())
                 .groupBy(a, b).count()
                 .select(F.sum(F.col("count") * (F.col("count") - 1) / 2).alias("pairs"))
                 .first().pairs) or 0
        logger.info("Stitch blocking: %s x %s makes %d candidate pairs (budget %d)",
                    a, b, int(pairs), budget)
        if pairs > budget:
            wide.add(frozenset((a, b)))
    return wide


def _prediction_blocking_rules(cols: set[str], wide: set[frozenset[str]] | None = None
                               ) -> list:
    """Blocking rules: every strong identifier alone, then every pair of the selective
    attributes present. Each rule is selective on its own so candidate pairs stay
    near-linear, and a true match with errors in all but two of these fields is still
    compared. Name x area rules in `wide` (all of them when None) also require the other
    name's initial."""
    from itertools import combinations

    from splink import block_on

    given, surname = "given_name_norm", "surname_norm"
    both_names = given in cols and surname in cols
    narrowed = ({frozenset(p) for p in _name_area_pairs(cols)} if wide is None else wide)
    rules = [block_on(c) for c in strong_id_columns(cols)]
    present = [c for c in _PAIRED_BLOCKING_COLUMNS if c in cols]
    for a, b in combinations(present, 2):
        if frozenset((a, b)) in _REDUNDANT_PAIRS:
            continue
        if both_names and frozenset((a, b)) in narrowed:
            # A common name in a big town is a block of thousands: the first letter of the
            # other name keeps it small (pairs grow with the square of a block's size).
            other = surname if given in (a, b) else given
            rules.append(block_on(a, b, f"substr({other}, 1, 1)"))
        else:
            rules.append(block_on(a, b))
    # The same person with given name and surname swapped.
    if both_names:
        rules.append(f"l.{given} = r.{surname} AND l.{surname} = r.{given}")
    # Both names mistyped ("rollijns"/"rollins", "zacyary"/"zachary"), nothing else exact;
    # left out where sound-alike names make too big blocks.
    if SOUNDEX_COLUMNS <= cols and wide is not None and SOUNDEX_COLUMNS not in wide:
        rules.append(block_on(*sorted(SOUNDEX_COLUMNS)))
    return rules


def build_settings(columns_present: Iterable[str],
                   wide: set[frozenset[str]] | None = None) -> dict[str, Any]:
    """Splink 5 settings (plain JSON data, Spark dialect) for a dedupe over the columns
    present: comparisons and blocking rules are chosen by which columns exist; `wide`
    (see `wide_blocks`) names the name x area rules to narrow, all when None."""
    from splink import SettingsCreator

    cols = set(columns_present)
    comps = _comparisons(cols)
    if not comps:
        raise ValueError(
            "Stitch model: no comparable column among "
            f"{sorted(cols)}; expected some of {list(MODEL_COLUMNS)} or fk_* columns"
        )
    settings = SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="record_id",
        comparisons=comps,
        blocking_rules_to_generate_predictions=_prediction_blocking_rules(cols, wide),
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=True,
        additional_columns_to_retain=["sk"] if "sk" in cols else [],
        max_iterations=20,
    )
    return json.loads(json.dumps(settings.create_settings_dict("spark")))


# ---------------------------------------------------------------- training


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


def _register(df: "DataFrame", settings: dict, spark: "SparkSession"):
    from pyspark.sql import functions as F
    from splink import Linker

    db_api = splink_db_api(spark)
    df = with_record_id(df)
    needed = ["record_id", *_model_columns(df.columns)]
    if "sk" in df.columns:
        needed.append("sk")
    rules_sql = json.dumps(settings.get("blocking_rules_to_generate_predictions", []))
    needed += [c for c in sorted(SOUNDEX_COLUMNS) if c in df.columns and c in rules_sql]
    compared = {c for comp in settings["comparisons"] for c in comparison_inputs(comp)}
    missing = sorted(compared - set(df.columns))
    if missing:
        raise ValueError(
            f"Stitch model expects column(s) {missing} that the input does not have; "
            "the tenant's columns changed since the model was trained: retrain it"
        )
    # Comparisons work on strings (dates as ISO yyyy-MM-dd), whatever the input types.
    sdf = db_api.register(df.select(
        "record_id", *[F.col(c).cast("string").alias(c) for c in needed[1:]]))
    return Linker(sdf, settings, log_level=logging.WARNING)


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
    linker = _register(df, settings, spark)
    for _, step in training_steps(linker, set(df.columns), df.count(), **options):
        step()
    return json.loads(json.dumps(linker.misc.save_model_to_json()))


# ---------------------------------------------------------------- prediction


def _explanation_column(edges: "DataFrame", settings: dict) -> "Column":
    from pyspark.sql import functions as F

    keys, values = [], []
    for comp in settings["comparisons"]:
        name = comp["output_column_name"]
        mw = F.col(f"mw_{name}")
        if f"mw_tf_adj_{name}" in edges.columns:
            mw = mw + F.coalesce(F.col(f"mw_tf_adj_{name}"), F.lit(0.0))
        keys.append(F.lit(name))
        values.append(mw.cast("double"))
    return F.map_from_arrays(F.array(*keys), F.array(*values))


def predict(
    settings_json: dict[str, Any] | str,
    df: "DataFrame",
    spark: "SparkSession",
    threshold: float = DEFAULT_THRESHOLD,
    max_deterministic_group: int = DEFAULT_MAX_DETERMINISTIC_GROUP,
    names: bool = True,
) -> "DataFrame":
    """All edges of a run: deterministic ones plus Splink pairs with probability >=
    `threshold` (lower it to keep weak pairs for review). A pair found both ways is
    reported once as deterministic, keeping the model's weights as its explanation.
    Probabilistic pairs that contradict (`contradiction_sql`, with its name veto when
    `names`) are dropped."""
    from pyspark.sql import functions as F

    settings = json.loads(settings_json) if isinstance(settings_json, str) else settings_json
    linker = _register(df, settings, spark)
    scored = linker.inference.predict(
        threshold_match_probability=threshold, warning_mode="never"
    ).as_spark_dataframe()
    # The model scores pairs; the guard has the last word, as for deterministic edges:
    # a household member who agrees on everything but the given name is not a match.
    scored = drop_contradictions(scored, with_record_id(df), birthdates=False, names=names)
    # Splink puts the smaller id on the left already; normalise anyway for a stable key.
    lo = F.least("record_id_l", "record_id_r")
    hi = F.greatest("record_id_l", "record_id_r")
    prob = scored.select(
        lo.alias("record_id_l"), hi.alias("record_id_r"),
        F.col("match_probability").cast("double").alias("match_probability"),
        F.col("match_weight").cast("double").alias("match_weight"),
        _explanation_column(scored, settings).alias("explanation"),
    )
    det = deterministic_edges(df, spark, max_deterministic_group, names)
    joined = det.join(prob, ["record_id_l", "record_id_r"], "full_outer")
    is_det = F.col("match_key").isNotNull()
    return joined.select(
        "record_id_l",
        "record_id_r",
        F.when(is_det, F.lit(1.0)).otherwise(F.col("match_probability"))
        .alias("match_probability"),
        "match_weight",
        F.when(is_det, F.lit("deterministic")).otherwise(F.lit("probabilistic"))
        .alias("match_type"),
        "match_key",
        F.coalesce("explanation", F.create_map().cast("map<string,double>"))
        .alias("explanation"),
    )


# ---------------------------------------------------------------- scores


def score_0_5(match_probability: float | None) -> tuple[int, str]:
    """Score and category of a pair (see SCORE_BANDS): >= 0.9999 5 exact (deterministic
    edges are 1.0), >= 0.99 4 strong, >= 0.9 3 good, >= 0.5 2 weak, >= 0.1 1 poor,
    else 0 none."""
    if match_probability is None or math.isnan(match_probability):
        return 0, "none"
    for cutoff, score, category in SCORE_BANDS:
        if match_probability >= cutoff:
            return score, category
    return 0, "none"


def with_scores(edges: "DataFrame") -> "DataFrame":
    """Add `score` (0-5) and `match_category` to an edges frame, same cut-offs as
    `score_0_5`."""
    from pyspark.sql import functions as F

    p = F.col("match_probability")
    score = category = None
    for cutoff, s, c in SCORE_BANDS:
        cond = p >= F.lit(cutoff)
        score = F.when(cond, F.lit(s)) if score is None else score.when(cond, F.lit(s))
        category = (F.when(cond, F.lit(c)) if category is None
                    else category.when(cond, F.lit(c)))
    return edges.withColumn("score", score.otherwise(F.lit(0))).withColumn(
        "match_category", category.otherwise(F.lit("none")))


# ---------------------------------------------------------------- model artifact


class Model(NamedTuple):
    settings: dict[str, Any]
    version: str
    content_hash: str
    created_at: str


def _content_hash(settings: dict[str, Any]) -> str:
    canonical = json.dumps(settings, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def save_model(settings_dict: dict[str, Any], path: str | Path) -> str:
    """Write trained Splink settings with a version (content hash + UTC timestamp);
    returns the version. Written to a temporary file then renamed, so a failed write
    never leaves a half model behind."""
    import splink

    path = Path(path)
    created = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    digest = _content_hash(settings_dict)
    version = f"{digest[:12]}-{created}"
    payload = {
        "format": MODEL_FORMAT,
        "version": version,
        "content_hash": digest,
        "created_at": created,
        "splink_version": splink.__version__,
        "settings": settings_dict,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True), encoding="utf-8")
    tmp.replace(path)
    return version


def load_model(path: str | Path) -> Model:
    """Read a model written by `save_model`, checking its format and content hash."""
    path = Path(path)
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"Stitch model file {path} does not exist: train first") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"Stitch model file {path} is not valid JSON: {exc}") from None
    if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
        raise ValueError(
            f"Stitch model file {path} is not a {MODEL_FORMAT} artifact "
            f"(format={payload.get('format') if isinstance(payload, dict) else None!r})"
        )
    settings = payload["settings"]
    if _content_hash(settings) != payload["content_hash"]:
        raise ValueError(
            f"Stitch model file {path}: settings do not match their content hash "
            "(edited by hand or corrupted); retrain or restore the file"
        )
    return Model(settings, payload["version"], payload["content_hash"], payload["created_at"])


def model_fits_columns(settings: dict[str, Any], columns_present: Iterable[str]) -> bool:
    """True when a stored model compares exactly what `build_settings` would choose for
    these columns, i.e. it can be reused rather than retrained."""
    def shape(comparisons: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
        return [(c["output_column_name"], comparison_inputs(c)) for c in comparisons]

    return (shape(build_settings(columns_present)["comparisons"])
            == shape(settings.get("comparisons", [])))
