"""Blocking rules that choose which pairs the model scores, and the blocks too big to
compare in full."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from cdp_pipelines.stitch.matching.records import SOUNDEX_COLUMNS, strong_id_columns

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

logger = logging.getLogger(__name__)

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
# The same door: postal code and house number. It pairs one person whose names were both
# mistyped and whose street is written another way ("592 DALRYMPLE ST" / "592 DALRYMPLE S
# TREET"), which no name or address rule compares. A wide block is narrowed by the
# surname's initial, as a name x area rule is by the other name's.
DOOR_COLUMNS = ("postal_norm", "house_number")
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
    """The name x area rules (and the sound-alike names and the door rules) of `df` (the
    matching frame) whose blocks are too big to compare in full: pairs grow with the
    square of a block, so a common name in a big town (or a small vocabulary of names, or
    a tower block) makes millions of candidate pairs."""
    from pyspark.sql import functions as F

    cols = set(df.columns)
    rules = _name_area_pairs(cols)
    if SOUNDEX_COLUMNS <= cols:
        rules.append(tuple(sorted(SOUNDEX_COLUMNS)))
    if set(DOOR_COLUMNS) <= cols:
        rules.append(DOOR_COLUMNS)
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


def prediction_blocking_rules(cols: set[str],
                              wide: set[frozenset[str]] | None = None) -> list:
    """Blocking rules: every strong identifier alone, then every pair of the selective
    attributes present. Each rule is selective on its own so candidate pairs stay
    near-linear, and a true match with errors in all but two of these fields is still
    compared; then one door (postal code and house number). Name x area rules in `wide`
    (all of them when None) also require the other name's initial, a wide door the
    surname's."""
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
        if "postal_norm" in cols:
            # ... and one of the two mistyped on the way ("sebretgs james" / "james
            # sebregts"): one name exactly in the other's place, the other's initial, in
            # the same area. Both ways round, as a rule sees each pair in one orientation.
            for a, b in ((given, surname), (surname, given)):
                rules.append(f"l.{a} = r.{b} AND substr(l.{b}, 1, 1) = substr(r.{a}, 1, 1)"
                             " AND substr(l.postal_norm, 1, 3) = substr(r.postal_norm, 1, 3)")
    if set(DOOR_COLUMNS) <= cols:
        if surname in cols and (wide is None or frozenset(DOOR_COLUMNS) in wide):
            rules.append(block_on(*DOOR_COLUMNS, f"substr({surname}, 1, 1)"))
        else:
            rules.append(block_on(*DOOR_COLUMNS))
    # Both names mistyped ("rollijns"/"rollins", "zacyary"/"zachary"), nothing else exact;
    # left out where sound-alike names make too big blocks.
    if SOUNDEX_COLUMNS <= cols and wide is not None and SOUNDEX_COLUMNS not in wide:
        rules.append(block_on(*sorted(SOUNDEX_COLUMNS)))
    return rules
