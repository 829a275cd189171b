"""The contradiction guard: SQL that tells when two records are clearly two people, and
whether a tenant's data has households for its name veto to protect."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, NamedTuple

from cdp_pipelines.stitch.matching.records import NAME_COLUMNS
from cdp_pipelines.stitch.matching.splink_backend import splink_db_api

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

# Name similarity under which two names contradict each other (Jaro-Winkler): "jon" vs
# "john" is 0.93, "john" vs "mary" 0.0, "smith" vs "smyth" 0.89, "smith" vs "jones" 0.47.
NAME_CONTRADICTION_JW = 0.7
NAME_SIMILAR_JW = 0.85
# From this length a doubled letter is a spelling ("maddison"/"madison"); in shorter names
# it may be another name ("eddie" is Edward's, "edie" Edith's).
SPELLING_DOUBLES_MIN_LENGTH = 6


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


def _spelling(name: str) -> str:
    """SQL: a given name with the spellings of one name made alike: an initial "c" as "k"
    ("catherine"/"katherine"), and doubled letters as one in a name of
    SPELLING_DOUBLES_MIN_LENGTH letters or more ("maddison"/"madison", "phillip"/"philip")."""
    k = f"regexp_replace({name}, '^c', 'k')"
    return (f"CASE WHEN length({name}) >= {SPELLING_DOUBLES_MIN_LENGTH} "
            rf"THEN regexp_replace({k}, '(.)\\1+', '$1') ELSE {k} END")


def _spelled_as_form(x: str, y: str) -> str:
    """SQL: x's given name is one of y's formal names spelled another way: the nickname
    data knows "kate" as katherine's and "maddie" as maddison's, not as catherine's or
    madison's. Only x's name itself, not its nicknames' forms: each hop through the
    nickname data widens what agrees."""
    return (f"exists(split({y}.given_name_forms, ' '), "
            f"f -> {_spelling('f')} = {_spelling(f'{x}.given_name_norm')})")


def names_differ_sql(columns: Iterable[str]) -> str | None:
    """SQL (over aliases l, r) true when two records' names say two people, whatever
    their birthdates: given names both present and dissimilar (Jaro-Winkler < 0.7, or
    < 0.85 and more than one typo apart; neither a prefix of the other), not one
    canonical or formal name ("bob"/"robert", "harry"/"harold", also spelled another way:
    "kate"/"catherine") and not simply swapped
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
            # (harold or henry) and "harold"; "kate" (katherine) and "catherine".
            given = (f"({given} AND NOT ({_both('given_name_forms')} AND (arrays_overlap("
                     "split(l.given_name_forms, ' '), split(r.given_name_forms, ' '))"
                     f" OR {_spelled_as_form('l', 'r')} OR {_spelled_as_form('r', 'l')})))")
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
# The match probability from which two records link, for `match_threshold: auto`. Where
# the data has (or may have) households, well above even odds: a housemate or a namesake
# the model cannot tell apart scores in between. Where the tenant's own records show no
# households, even odds: the model's probability is then the best judge (on FEBRL3 the
# pairs between 0.5 and 0.9 are all one person keyed with errors in several fields).
HOUSEHOLD_SAFE_THRESHOLD = 0.9
NO_HOUSEHOLDS_THRESHOLD = 0.5


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
    return not shows_no_households(evidence)


def shows_no_households(evidence: HouseholdEvidence | None) -> bool:
    """Enough telling co-resident pairs, nearly all one person keyed twice."""
    return (evidence is not None and evidence.pairs >= HOUSEHOLD_MIN_PAIRS
            and evidence.household_share < HOUSEHOLD_MIN_SHARE)


def match_threshold(setting: float | str, evidence: HouseholdEvidence | None) -> float:
    """The probability from which two records link: `setting` when it is a number; for
    "auto", NO_HOUSEHOLDS_THRESHOLD when `evidence` (name_guard auto's) shows a tenant
    without households, else HOUSEHOLD_SAFE_THRESHOLD."""
    if setting != "auto":
        return float(setting)
    return NO_HOUSEHOLDS_THRESHOLD if shows_no_households(evidence) else HOUSEHOLD_SAFE_THRESHOLD


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
