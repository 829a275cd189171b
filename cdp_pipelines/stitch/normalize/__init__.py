"""Pure-Python normalisers for identity resolution: one value in, one clean value (or None) out.

Every function accepts anything (None, numbers, garbage) and returns None for junk rather than
raising, because a single bad cell must never fail a Stitch run.

Conventions (mirrored by `preprocess`, which reuses the tables and regexes defined here so the
Spark path and the Python path cannot drift apart):
- names: lower case ASCII (accents stripped), punctuation removed, honorifics/suffixes dropped;
  `canonical_given_name` maps a common English nickname to one formal name (bob -> robert).
- emails: lower case; `email_canonical` additionally drops a `+tag` from the local part for
  every domain and the dots of the local part for Gmail (googlemail.com -> gmail.com). Both are
  kept: `email_norm` is what the person typed (safe for exact matching and for activation),
  `email_canonical` is the key for deterministic matching and bad-value counting.
- phones: E.164 (`+12125550123`) and the last 10 digits of country code + national number.
- addresses, cities, states, countries: upper case, USPS-style abbreviations.
- postal: US ZIP+4 -> 5 digits, other codes upper case alphanumerics only.
- birthdates: `datetime.date`; placeholder (1900-01-01, 1901-01-01), pre-1900 and future -> None.
- gender: 'M', 'F', 'O' (other / non-binary) or None.

Nicknames: the PyPI `nicknames` data set was considered; its relations are many-to-many
("bob" -> bert/bobby/robert, "bill" -> robert/will/william/willis), so it cannot give the single
canonical name a match key needs. A compact one-to-one table of common English nicknames is
embedded instead; ambiguous short forms (al, chris, sam, pat, alex) are deliberately left as is.

Names are in `names`, every other field in `fields`; both are read through this package.
"""

from __future__ import annotations

from cdp_pipelines.stitch.normalize.cells import (
    REPEATED_CHAR_RE,
    ascii_text,
    cell_text,
)
from cdp_pipelines.stitch.normalize.fields import (
    ADDRESS_WORDS,
    BIRTHDATE_FORMATS,
    BIRTHDATE_MIN,
    BIRTHDATE_PLACEHOLDERS,
    BIRTHDATE_TIME_RE,
    CITY_WORDS,
    COUNTRIES,
    DIRECTION_WORDS,
    DIRECTIONS,
    EMAIL_JUNK_RES,
    EMAIL_SHAPE_RE,
    EMAIL_STRIP_RE,
    GENDERS,
    GMAIL_DOMAINS,
    JUNK_ADDRESSES,
    JUNK_CITIES,
    JUNK_NATIONAL_NUMBERS,
    LOYALTY_JUNK,
    ORDINALS,
    POSTAL_JUNK_RE,
    POSTAL_REQUIRED_RE,
    STREET_SUFFIXES,
    SUFFIX_ABBREVIATIONS,
    SUFFIX_VARIANTS,
    UNIT_DESIGNATORS,
    UNIT_WORDS,
    US_STATES,
    Phone,
    canonical_email,
    normalize_address,
    normalize_birthdate,
    normalize_city,
    normalize_country,
    normalize_email,
    normalize_gender,
    normalize_loyalty_id,
    normalize_phone,
    normalize_postal,
    normalize_state,
    parse_phone,
    plausible_birthdate,
)
from cdp_pipelines.stitch.normalize.names import (
    APOSTROPHE_PREFIXES,
    FULL_NAME_APOSTROPHE_PREFIXES,
    HONORIFICS,
    JUNK_NAMES,
    NICKNAMES,
    SUFFIXES,
    SURNAME_PARTICLES,
    TYPO_MIN_LENGTH,
    FullName,
    PersonName,
    canonical_given_name,
    given_name_forms,
    known_names_one_edit_from,
    normalize_name,
    normalize_person_name,
    normalize_surname,
    split_full_name,
)

__all__ = [
    "REPEATED_CHAR_RE",
    "ascii_text",
    "cell_text",
    "HONORIFICS",
    "SUFFIXES",
    "SURNAME_PARTICLES",
    "APOSTROPHE_PREFIXES",
    "FULL_NAME_APOSTROPHE_PREFIXES",
    "JUNK_NAMES",
    "NICKNAMES",
    "normalize_name",
    "normalize_surname",
    "canonical_given_name",
    "FullName",
    "split_full_name",
    "PersonName",
    "TYPO_MIN_LENGTH",
    "known_names_one_edit_from",
    "given_name_forms",
    "normalize_person_name",
    "EMAIL_STRIP_RE",
    "EMAIL_SHAPE_RE",
    "EMAIL_JUNK_RES",
    "GMAIL_DOMAINS",
    "normalize_email",
    "canonical_email",
    "JUNK_NATIONAL_NUMBERS",
    "Phone",
    "parse_phone",
    "normalize_phone",
    "STREET_SUFFIXES",
    "SUFFIX_ABBREVIATIONS",
    "SUFFIX_VARIANTS",
    "DIRECTIONS",
    "UNIT_DESIGNATORS",
    "UNIT_WORDS",
    "DIRECTION_WORDS",
    "ORDINALS",
    "ADDRESS_WORDS",
    "JUNK_ADDRESSES",
    "CITY_WORDS",
    "JUNK_CITIES",
    "normalize_address",
    "normalize_city",
    "US_STATES",
    "normalize_state",
    "COUNTRIES",
    "normalize_country",
    "POSTAL_JUNK_RE",
    "POSTAL_REQUIRED_RE",
    "normalize_postal",
    "BIRTHDATE_TIME_RE",
    "BIRTHDATE_FORMATS",
    "BIRTHDATE_MIN",
    "BIRTHDATE_PLACEHOLDERS",
    "plausible_birthdate",
    "normalize_birthdate",
    "GENDERS",
    "normalize_gender",
    "LOYALTY_JUNK",
    "normalize_loyalty_id",
]
