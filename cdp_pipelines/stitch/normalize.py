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
"""

from __future__ import annotations

import datetime as _dt
import functools
import re
from typing import Any, NamedTuple

# ---------------------------------------------------------------------------------------------
# shared helpers


def _text(value: Any) -> str | None:
    """Stringify a cell; None/NaN/empty -> None. Floats that are whole numbers lose the '.0'."""
    if value is None:
        return None
    if isinstance(value, float):
        if value != value:  # NaN from pandas
            return None
        if value.is_integer():
            value = int(value)
    text = str(value).strip()
    return text or None


def _ascii(text: str) -> str:
    from unidecode import unidecode

    return unidecode(text)


REPEATED_CHAR_RE = r"^(.)\1+$"

# ---------------------------------------------------------------------------------------------
# names

HONORIFICS = frozenset(
    "mr mrs ms miss mx mstr dr prof rev fr sir dame lady lord hon capt sgt col gen lt maj".split()
)
SUFFIXES = frozenset("jr jnr sr snr ii iii iv phd md dds dvm esq cpa rn".split())
SURNAME_PARTICLES = frozenset("van von der den de del della da di du la le st bin ibn".split())
# Surname prefixes written with an apostrophe ("O'Brien", "D'Angelo") and often with a space
# instead ("O Brien"): joined to the name, as dropping the apostrophe joins them. In a full
# name only "o" is read so: "John D Angelo" more likely has a middle initial.
APOSTROPHE_PREFIXES = frozenset({"o", "d"})
FULL_NAME_APOSTROPHE_PREFIXES = frozenset({"o"})
JUNK_NAMES = frozenset(
    {
        "unknown", "unk", "test", "testing", "tester", "na", "n a", "none", "null", "nil",
        "noname", "no name", "name", "first", "last", "firstname", "lastname", "first name",
        "last name", "customer", "guest", "anonymous", "anon", "nobody", "fake", "dummy",
        "sample", "tbd", "not provided", "declined", "refused", "valued customer",
        "current resident", "resident", "occupant", "test test", "test user", "unknown unknown",
    }
)

# One formal name per nickname: common English diminutives only, unambiguous in US usage.
NICKNAMES: dict[str, str] = {
    nick: formal
    for formal, nicks in {
        "abigail": "abby abbie gail",
        "albert": "bert",
        "alfred": "alf alfie fred freddie",
        "andrew": "andy drew",
        "anthony": "tony",
        "barbara": "barb barbie babs",
        "benjamin": "ben benny benji",
        "beverly": "bev",
        "bradley": "brad",
        "catherine": "cathy cath",
        "charles": "charlie chuck chas chaz",
        "christina": "tina",
        "christopher": "kit topher",
        "cynthia": "cindy",
        "daniel": "dan danny",
        "david": "dave davy",
        "deborah": "deb debbie debby debra",
        "donald": "don donnie",
        "dorothy": "dot dottie dolly",
        "douglas": "doug",
        "edward": "ed eddie eddy ted teddy ned",
        "elizabeth": "liz lizzie lizzy beth betty betsy eliza libby",
        "eugene": "gene",
        "frances": "fran",
        "francis": "frank frankie",
        "frederick": "freddy fritz",
        "gerald": "gerry jerry",
        "gregory": "greg",
        "harold": "hal",
        "henry": "hank harry",
        "jacob": "jake",
        "james": "jim jimmy jimmie jamie",
        "janet": "jan",
        "jeffrey": "jeff",
        "jennifer": "jen jenn jenny jenni",
        "jessica": "jess jessie",
        "john": "johnny jack jackie",
        "jonathan": "jon",
        "joseph": "joe joey jos",
        "joshua": "josh",
        "judith": "judy",
        "katherine": "kate katie kathy kat kay kitty",
        "kenneth": "ken kenny",
        "kimberly": "kim",
        "lawrence": "larry",
        "leonard": "len lenny leo",
        "margaret": "maggie meg peggy marge margie",
        "matthew": "matt matty",
        "michael": "mike mikey mick mickey",
        "nathan": "nate",
        "nicholas": "nick nicky",
        "pamela": "pam",
        "patricia": "patty patsy trish tricia",
        "peter": "pete",
        "philip": "phil",
        "raymond": "ray",
        "rebecca": "becky becca",
        "richard": "rick ricky rich richie dick",
        "robert": "bob bobby rob robbie bert",
        "ronald": "ron ronnie",
        "samuel": "sammy",
        "stephen": "steve stevie",
        "susan": "sue susie suzy",
        "theodore": "theo",
        "thomas": "tom tommy",
        "timothy": "tim timmy",
        "victoria": "vicky vicki tori",
        "walter": "walt wally",
        "william": "bill billy will willie willy liam",
        "zachary": "zach zack",
    }.items()
    for nick in nicks.split()
}
# "bert" is listed for both albert and robert; robert is far more common in US data.
NICKNAMES["bert"] = "robert"


def _name_tokens(value: Any) -> list[str]:
    text = _text(value)
    if text is None:
        return []
    text = _ascii(text).lower()
    text = re.sub(r"['`]", "", text)  # o'brien -> obrien
    text = re.sub(r"[^a-z]+", " ", text)  # digits, hyphens, dots -> separators
    return text.split()


def _strip_titles(tokens: list[str]) -> list[str]:
    while tokens and tokens[0] in HONORIFICS:
        tokens = tokens[1:]
    while tokens and tokens[-1] in SUFFIXES:
        tokens = tokens[:-1]
    return tokens


def _junk_name(name: str) -> bool:
    return name in JUNK_NAMES or (len(name) > 1 and re.match(REPEATED_CHAR_RE, name) is not None)


def normalize_name(value: Any) -> str | None:
    """A given name or surname: 'Dr. José  O'Brien-Smith Jr.' -> 'jose obrien smith'."""
    tokens = _strip_titles(_name_tokens(value))
    if not tokens:
        return None
    name = " ".join(tokens)
    return None if _junk_name(name) else name


def _joined_prefixes(tokens: list[str], prefixes: frozenset[str]) -> list[str]:
    """Surname tokens with each apostrophe prefix joined to the token after it
    (["o", "brien", "smith"] -> ["obrien", "smith"])."""
    out: list[str] = []
    for token in tokens:
        if out and out[-1] in prefixes:
            out[-1] += token
        else:
            out.append(token)
    return out


def normalize_surname(value: Any) -> str | None:
    """A surname: `normalize_name`, with a spaced apostrophe prefix joined the way an
    apostrophe's removal joins it ("O Brien" and "O'Brien" -> 'obrien')."""
    name = normalize_name(value)
    return " ".join(_joined_prefixes(name.split(), APOSTROPHE_PREFIXES)) if name else None


def canonical_given_name(value: Any) -> str | None:
    """Normalised given name with a common nickname replaced by its formal name."""
    name = normalize_name(value)
    if name is None:
        return None
    return NICKNAMES.get(name, name)


class FullName(NamedTuple):
    given: str | None
    middle: str | None
    surname: str | None


def split_full_name(value: Any) -> FullName:
    """'Smith, John A.' or 'Mr John A. van Smith Jr' -> FullName('john', 'a', 'smith' / 'van smith')."""
    text = _text(value)
    if text is None:
        return FullName(None, None, None)
    if "," in text:
        last_part, _, first_part = text.partition(",")
        surname_tokens = _joined_prefixes(_strip_titles(_name_tokens(last_part)),
                                          APOSTROPHE_PREFIXES)
        first_tokens = _strip_titles(_name_tokens(first_part))
        given = first_tokens[0] if first_tokens else None
        middle = " ".join(first_tokens[1:]) or None
        surname = " ".join(surname_tokens) or None
    else:
        tokens = _strip_titles(_name_tokens(text))
        if not tokens:
            return FullName(None, None, None)
        if len(tokens) == 1:
            return FullName(None if _junk_name(tokens[0]) else tokens[0], None, None)
        start = len(tokens) - 1
        while start > 1 and (tokens[start - 1] in SURNAME_PARTICLES
                             or tokens[start - 1] in FULL_NAME_APOSTROPHE_PREFIXES):
            start -= 1
        given = tokens[0]
        middle = " ".join(tokens[1:start]) or None
        surname = " ".join(_joined_prefixes(tokens[start:], FULL_NAME_APOSTROPHE_PREFIXES))
    if given and surname and _junk_name(f"{given} {surname}"):
        return FullName(None, None, None)
    return FullName(
        None if given is None or _junk_name(given) else given,
        middle,
        None if surname is None or _junk_name(surname) else surname,
    )


class PersonName(NamedTuple):
    given: str | None
    given_canonical: str | None
    surname: str | None
    full: str | None
    given_forms: str | None = None


_NICKNAMER = None
# Names the nickname data knows, and each one-deletion variant of them -> those names.
_KNOWN_NAMES: frozenset[str] = frozenset()
_BY_DELETION: dict[str, set[str]] = {}
# A name shorter than this is not read as a typo of a known name: "mei" is one edit from
# "mel", "meg" and "me".
TYPO_MIN_LENGTH = 4


def _nicknamer():
    global _NICKNAMER, _KNOWN_NAMES
    if _NICKNAMER is None:
        from nicknames import NickNamer

        namer = NickNamer()
        known = {*namer.nickname_lookup, *namer.canonical_lookup, *NICKNAMES,
                 *NICKNAMES.values()}
        _KNOWN_NAMES = frozenset(n for n in known if n.isalpha())
        for known_name in _KNOWN_NAMES:
            for variant in _deletions(known_name):
                _BY_DELETION.setdefault(variant, set()).add(known_name)
        _NICKNAMER = namer
    return _NICKNAMER


def _deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1:] for i in range(len(word))}


def _one_edit(a: str, b: str) -> bool:
    """Damerau-Levenshtein distance <= 1 (one insertion, deletion, substitution or
    transposition of neighbours)."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                                  and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1:] == short for i in range(len(long_)))


def known_names_one_edit_from(name: str) -> set[str]:
    """The names the nickname data knows that are one typo away from `name` (which it
    does not know): "icndy" -> cindy, "edbra" -> debra. Empty for a known or short name."""
    _nicknamer()
    if len(name) < TYPO_MIN_LENGTH or name in _KNOWN_NAMES or not name.isalpha():
        return set()
    candidates = set(_BY_DELETION.get(name, ()))  # one letter left out of a known name
    for variant in _deletions(name):  # one letter too many, changed or transposed
        if variant in _KNOWN_NAMES:
            candidates.add(variant)
        candidates |= _BY_DELETION.get(variant, set())
    return {c for c in candidates if _one_edit(name, c)}


def _forms_of_known(name: str) -> set[str]:
    forms = {name, NICKNAMES.get(name, name)}
    if " " not in name:
        forms |= {form for form in _nicknamer().canonicals_of(name) if " " not in form}
    return forms


@functools.lru_cache(maxsize=1 << 16)
def given_name_forms(name: str | None) -> str | None:
    """The formal names a normalised given name may stand for, with the name itself: a
    sorted, space-separated set. Two given names are compatible when their sets overlap:
    "harry" (harold, henry) and "harold"; "jackie" and "jacqueline"; "hal" and "harry".

    The relations come from the `nicknames` package (many-to-many, English); the one
    formal name of `canonical_given_name` is always among the forms. A name the data does
    not know that is one typo from names it knows (`known_names_one_edit_from`) also
    stands for their forms: "icndy" (cindy, cynthia) and "cynthia" are compatible, as a
    plain typo ("jhon"/"john") already is for the guard.
    """
    if not name:
        return None
    forms = _forms_of_known(name)
    for known in known_names_one_edit_from(name):
        forms |= _forms_of_known(known)
    return " ".join(sorted(forms))


def normalize_person_name(given: Any, surname: Any, full_name: Any) -> PersonName:
    """Given name and surname from their own fields, falling back to a split of the full name."""
    given_norm = normalize_name(given)
    surname_norm = normalize_surname(surname)
    if (given_norm is None or surname_norm is None) and _text(full_name) is not None:
        parts = split_full_name(full_name)
        given_norm = given_norm or parts.given
        surname_norm = surname_norm or parts.surname
    full = " ".join(p for p in (given_norm, surname_norm) if p) or None
    canonical = NICKNAMES.get(given_norm, given_norm) if given_norm else None
    return PersonName(given_norm, canonical, surname_norm, full, given_name_forms(given_norm))


# ---------------------------------------------------------------------------------------------
# emails
# The regexes below are written in the common subset of Python `re` and Java regex, because
# `preprocess` runs the same patterns through Spark's rlike.

EMAIL_STRIP_RE = r"^[ \t\r\n<>\"']+|[ \t\r\n<>\"']+$"
EMAIL_SHAPE_RE = r"^[a-z0-9_%+'-]+(\.[a-z0-9_%+'-]+)*@([a-z0-9-]+\.)+[a-z]{2,}$"
EMAIL_JUNK_RES = (
    # placeholder mailboxes
    r"^(test|testing|tester|noemail|no-email|no_email|nomail|none|no|na|n-a|null|nil|nobody"
    r"|noreply|no-reply|donotreply|do-not-reply|dontemail|unknown|email|asdf|qwerty|sample|fake"
    r"|invalid|dummy|declined|refused|optout|opt-out|anonymous|x)@",
    # reserved and placeholder domains
    r"@(example\.(com|org|net)|test\.com|testing\.com|fake\.com|asdf\.com|invalid\.com|no\.com"
    r"|na\.com|(noemail|nomail|none)\.[a-z.]+|[a-z0-9.-]*\.(invalid|test|example|local|localhost))$",
    # keyboard mash: one repeated character as the mailbox or the domain name (aaa@, @xxx.com)
    r"^([a-z0-9])\1{2,}@",
    r"@([a-z0-9])\1{2,}\.[a-z]+$",
)
GMAIL_DOMAINS = ("gmail.com", "googlemail.com")


def normalize_email(value: Any) -> str | None:
    """' John.Smith@Example.org ' -> 'john.smith@example.org'; junk and bad shape -> None."""
    text = _text(value)
    if text is None:
        return None
    email = re.sub(EMAIL_STRIP_RE, "", text).lower()
    if email.startswith("mailto:"):
        email = email[len("mailto:"):]
    if not re.search(EMAIL_SHAPE_RE, email) or any(re.search(p, email) for p in EMAIL_JUNK_RES):
        return None
    return email


def canonical_email(value: Any) -> str | None:
    """Matching key: '+tag' dropped for every domain, Gmail dots dropped, googlemail -> gmail."""
    email = normalize_email(value)
    if email is None:
        return None
    local, _, domain = email.rpartition("@")
    local = local.split("+", 1)[0]
    if domain in GMAIL_DOMAINS:
        local = local.replace(".", "")
        domain = "gmail.com"
    return f"{local}@{domain}" if local else None


# ---------------------------------------------------------------------------------------------
# phones

JUNK_NATIONAL_NUMBERS = frozenset({"1234567890", "0123456789", "9876543210", "123456789"})


class Phone(NamedTuple):
    e164: str | None
    last10: str | None


_NANP_REGIONS = frozenset({"US", "CA"})
_NANP_SHAPE_RE = r"^\+?[\d\s().-]+$"


def _phone_result(national: str, e164_digits: str) -> Phone:
    if national in JUNK_NATIONAL_NUMBERS or len(set(national)) == 1:
        return Phone(None, None)
    return Phone("+" + e164_digits, e164_digits[-10:])


def _nanp_national(text: str) -> str | None:
    """The 10-digit national number of a plain North American number, else None.

    The common case ('(212) 555-0123', '1-212-555-0123', '+1 212 555 0123') needs no parser;
    anything else (extensions, letters, other country codes) goes to phonenumbers.
    """
    if not re.match(_NANP_SHAPE_RE, text) or ("+" in text and not text.startswith("+1")):
        return None
    digits = re.sub(r"\D", "", text)
    if len(digits) == 11 and digits[0] == "1":
        digits = digits[1:]
    return digits if len(digits) == 10 and digits[0] in "23456789" else None


def parse_phone(text: str, region: str) -> Phone:
    """The phonenumbers path of normalize_phone (region: a supported ISO region code)."""
    import phonenumbers

    digits = re.sub(r"\D", "", text)
    # '0012125550123' style international prefixes parse as national numbers otherwise
    if text.startswith("00") and len(digits) > 11:
        text = "+" + digits[2:]
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return Phone(None, None)
    if phonenumbers.is_possible_number_with_reason(number) != phonenumbers.ValidationResult.IS_POSSIBLE:
        return Phone(None, None)
    national = phonenumbers.national_significant_number(number)
    return _phone_result(national, f"{number.country_code}{national}")


def normalize_phone(value: Any, region: str | None = "US") -> Phone:
    """'(212) 555-0123 x45' -> Phone('+12125550123', '2125550123'); junk -> Phone(None, None).

    A number must be possible (right length) for its country; numbers that are only dialable
    locally (7-digit US) and placeholders (0000000000, 1234567890, one repeated digit) are junk.
    Validity against the numbering plan is not required: test and synthetic data often use
    unassigned area codes that still identify a person.
    """
    import phonenumbers

    text = _text(value)
    if text is None or not re.search(r"\d", text):
        return Phone(None, None)
    region = (region or "US").upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        region = "US"
    national = _nanp_national(text) if region in _NANP_REGIONS else None
    if national is not None:
        return _phone_result(national, "1" + national)
    return parse_phone(text, region)


# ---------------------------------------------------------------------------------------------
# addresses

STREET_SUFFIXES = {
    "ALLEY": "ALY", "ALLY": "ALY", "AVENUE": "AVE", "AV": "AVE", "AVEN": "AVE", "AVNUE": "AVE",
    "BOULEVARD": "BLVD", "BOULV": "BLVD", "BOUL": "BLVD", "BLV": "BLVD", "CENTER": "CTR",
    "CENTRE": "CTR", "CIRCLE": "CIR", "CIRC": "CIR", "COURT": "CT", "CRT": "CT", "COVE": "CV",
    "CREEK": "CRK", "CRESCENT": "CRES", "CROSSING": "XING", "DRIVE": "DR", "DRV": "DR",
    "ESTATES": "ESTS", "EXPRESSWAY": "EXPY", "EXTENSION": "EXT", "FREEWAY": "FWY",
    "GARDENS": "GDNS", "GROVE": "GRV", "HARBOR": "HBR", "HEIGHTS": "HTS", "HIGHWAY": "HWY",
    "HIGHWY": "HWY", "HILL": "HL", "HOLLOW": "HOLW", "ISLAND": "IS", "JUNCTION": "JCT",
    "LAKE": "LK", "LANE": "LN", "MANOR": "MNR", "MEADOWS": "MDWS", "MOUNT": "MT",
    "MOUNTAIN": "MTN", "PARKWAY": "PKWY", "PKY": "PKWY", "PLACE": "PL", "PLAZA": "PLZ",
    "POINT": "PT", "RIDGE": "RDG", "ROAD": "RD", "ROUTE": "RTE", "SPRINGS": "SPGS",
    "SQUARE": "SQ", "STATION": "STA", "STREET": "ST", "STR": "ST", "STRT": "ST",
    "TERRACE": "TER", "TRAIL": "TRL", "TURNPIKE": "TPKE", "VALLEY": "VLY", "VIEW": "VW",
    "VILLAGE": "VLG", "VILLAGES": "VLGS", "FORT": "FT",
}
DIRECTIONS = {
    "NORTH": "N", "SOUTH": "S", "EAST": "E", "WEST": "W", "NORTHEAST": "NE", "NORTHWEST": "NW",
    "SOUTHEAST": "SE", "SOUTHWEST": "SW",
}
UNIT_DESIGNATORS = {
    "APARTMENT": "APT", "APT": "APT", "SUITE": "STE", "STE": "STE", "UNIT": "UNIT",
    "BUILDING": "BLDG", "BLDG": "BLDG", "FLOOR": "FL", "FL": "FL", "ROOM": "RM", "RM": "RM",
    "DEPARTMENT": "DEPT", "DEPT": "DEPT", "LOT": "LOT", "SPACE": "SPC", "SPC": "SPC",
    "TRAILER": "TRLR", "TRLR": "TRLR", "BASEMENT": "BSMT", "PENTHOUSE": "PH", "PH": "PH",
    "OFFICE": "OFC", "OFC": "OFC",
}
ORDINALS = {
    "FIRST": "1ST", "SECOND": "2ND", "THIRD": "3RD", "FOURTH": "4TH", "FIFTH": "5TH",
    "SIXTH": "6TH", "SEVENTH": "7TH", "EIGHTH": "8TH", "NINTH": "9TH", "TENTH": "10TH",
}
ADDRESS_WORDS = {**STREET_SUFFIXES, **DIRECTIONS, **UNIT_DESIGNATORS, **ORDINALS}
JUNK_ADDRESSES = frozenset(
    {
        "UNKNOWN", "UNK", "NA", "N A", "NONE", "NULL", "NO ADDRESS", "TEST", "ADDRESS",
        "HOMELESS", "TBD", "DECLINED", "REFUSED", "XXX", "NOT PROVIDED", "ADDRESS UNKNOWN",
    }
)
CITY_WORDS = {"SAINT": "ST", "SAINTE": "STE", "FORT": "FT", "MOUNT": "MT"}
JUNK_CITIES = frozenset({"UNKNOWN", "UNK", "NA", "N A", "NONE", "NULL", "TEST", "CITY", "TBD", "XXX"})


def _upper_words(text: str) -> str:
    text = _ascii(text).upper()
    text = re.sub(r"['`]", "", text)
    return re.sub(r"\s+", " ", re.sub(r"[^A-Z0-9#]+", " ", text)).strip()


def normalize_address(value: Any) -> str | None:
    """'123 North Main Street, Apt. #4B' -> '123 N MAIN ST APT 4B' (USPS-style abbreviations)."""
    text = _text(value)
    if text is None:
        return None
    text = _upper_words(text).replace("#", " # ")
    text = re.sub(r"\b(POST OFFICE BOX|P O BOX|P O B|POBOX|POB)\b", "PO BOX", text)
    words: list[str] = []
    for token in text.split():
        if token == "#":
            # '#' after a unit word is noise (STE #200); alone it stands for the unit (#4 -> APT 4)
            if not (words and words[-1] in UNIT_DESIGNATORS.values()):
                words.append("APT")
            continue
        words.append(ADDRESS_WORDS.get(token, token))
    address = " ".join(words)
    if not address or address in JUNK_ADDRESSES or re.match(REPEATED_CHAR_RE, address.replace(" ", "")):
        return None
    return address


def normalize_city(value: Any) -> str | None:
    """'St. Louis' / 'Saint Louis' -> 'ST LOUIS'."""
    text = _text(value)
    if text is None:
        return None
    city = " ".join(CITY_WORDS.get(t, t) for t in _upper_words(text).replace("#", " ").split())
    if not city or city in JUNK_CITIES or not re.search(r"[A-Z]", city):
        return None
    return city


US_STATES = {
    "ALABAMA": "AL", "ALASKA": "AK", "ARIZONA": "AZ", "ARKANSAS": "AR", "CALIFORNIA": "CA",
    "COLORADO": "CO", "CONNECTICUT": "CT", "DELAWARE": "DE", "DISTRICT OF COLUMBIA": "DC",
    "WASHINGTON DC": "DC", "WASHINGTON D C": "DC", "FLORIDA": "FL", "GEORGIA": "GA",
    "HAWAII": "HI", "IDAHO": "ID", "ILLINOIS": "IL", "INDIANA": "IN", "IOWA": "IA",
    "KANSAS": "KS", "KENTUCKY": "KY", "LOUISIANA": "LA", "MAINE": "ME", "MARYLAND": "MD",
    "MASSACHUSETTS": "MA", "MICHIGAN": "MI", "MINNESOTA": "MN", "MISSISSIPPI": "MS",
    "MISSOURI": "MO", "MONTANA": "MT", "NEBRASKA": "NE", "NEVADA": "NV", "NEW HAMPSHIRE": "NH",
    "NEW JERSEY": "NJ", "NEW MEXICO": "NM", "NEW YORK": "NY", "NORTH CAROLINA": "NC",
    "NORTH DAKOTA": "ND", "OHIO": "OH", "OKLAHOMA": "OK", "OREGON": "OR", "PENNSYLVANIA": "PA",
    "RHODE ISLAND": "RI", "SOUTH CAROLINA": "SC", "SOUTH DAKOTA": "SD", "TENNESSEE": "TN",
    "TEXAS": "TX", "UTAH": "UT", "VERMONT": "VT", "VIRGINIA": "VA", "WASHINGTON": "WA",
    "WEST VIRGINIA": "WV", "WISCONSIN": "WI", "WYOMING": "WY", "PUERTO RICO": "PR",
    "GUAM": "GU", "VIRGIN ISLANDS": "VI", "US VIRGIN ISLANDS": "VI", "AMERICAN SAMOA": "AS",
    "NORTHERN MARIANA ISLANDS": "MP",
    # Canadian provinces share the field in North American data
    "ALBERTA": "AB", "BRITISH COLUMBIA": "BC", "MANITOBA": "MB", "NEW BRUNSWICK": "NB",
    "NEWFOUNDLAND AND LABRADOR": "NL", "NEWFOUNDLAND": "NL", "NOVA SCOTIA": "NS",
    "ONTARIO": "ON", "PRINCE EDWARD ISLAND": "PE", "QUEBEC": "QC", "SASKATCHEWAN": "SK",
    "NORTHWEST TERRITORIES": "NT", "NUNAVUT": "NU", "YUKON": "YT",
}


def normalize_state(value: Any) -> str | None:
    """'new york' / 'N.Y.' / 'NY' -> 'NY'; unknown names stay as cleaned upper case words."""
    text = _text(value)
    if text is None:
        return None
    words = re.sub(r"\s+", " ", re.sub(r"[^A-Z]+", " ", _ascii(text).upper())).strip()
    if not words or words in JUNK_CITIES:
        return None
    if words in US_STATES:
        return US_STATES[words]
    compact = words.replace(" ", "")
    return compact if len(compact) == 2 else words


COUNTRIES = {
    "UNITED STATES": "US", "UNITED STATES OF AMERICA": "US", "USA": "US", "U S A": "US",
    "U S": "US", "AMERICA": "US", "CANADA": "CA", "CAN": "CA", "MEXICO": "MX", "MEX": "MX",
    "UNITED KINGDOM": "GB", "GREAT BRITAIN": "GB", "UK": "GB", "GBR": "GB", "ENGLAND": "GB",
    "SCOTLAND": "GB", "WALES": "GB", "NORTHERN IRELAND": "GB", "IRELAND": "IE", "IRL": "IE",
    "AUSTRALIA": "AU", "AUS": "AU", "NEW ZEALAND": "NZ", "NZL": "NZ", "GERMANY": "DE",
    "DEUTSCHLAND": "DE", "DEU": "DE", "FRANCE": "FR", "FRA": "FR", "SPAIN": "ES", "ESPANA": "ES",
    "ESP": "ES", "ITALY": "IT", "ITALIA": "IT", "ITA": "IT", "NETHERLANDS": "NL",
    "THE NETHERLANDS": "NL", "HOLLAND": "NL", "NLD": "NL", "BELGIUM": "BE", "SWITZERLAND": "CH",
    "AUSTRIA": "AT", "SWEDEN": "SE", "NORWAY": "NO", "DENMARK": "DK", "FINLAND": "FI",
    "POLAND": "PL", "PORTUGAL": "PT", "BRAZIL": "BR", "BRASIL": "BR", "ARGENTINA": "AR",
    "CHILE": "CL", "COLOMBIA": "CO", "PERU": "PE", "INDIA": "IN", "IND": "IN", "CHINA": "CN",
    "JAPAN": "JP", "SOUTH KOREA": "KR", "KOREA": "KR", "SINGAPORE": "SG", "PHILIPPINES": "PH",
    "SOUTH AFRICA": "ZA", "ISRAEL": "IL", "UNITED ARAB EMIRATES": "AE", "UAE": "AE",
    "PUERTO RICO": "PR",
}


def normalize_country(value: Any) -> str | None:
    """'United States' / 'USA' / 'us' -> 'US'; other two-letter codes upper-cased; else words."""
    text = _text(value)
    if text is None:
        return None
    words = re.sub(r"\s+", " ", re.sub(r"[^A-Z]+", " ", _ascii(text).upper())).strip()
    if not words or words in JUNK_CITIES:
        return None
    if words in COUNTRIES:
        return COUNTRIES[words]
    compact = words.replace(" ", "")
    return compact if len(compact) == 2 else words


# ---------------------------------------------------------------------------------------------
# postal codes (Spark mirrors these steps in preprocess)

POSTAL_JUNK_RE = r"^(.)\1+$"
POSTAL_REQUIRED_RE = r"[0-9]"  # every postal system in CDP data has a digit; 'NULL', 'NONE' have none


def normalize_postal(value: Any, country: str | None = "US") -> str | None:
    """'02134-1234' -> '02134'; '2134' (leading zero lost) -> '02134' for US; 'sw1a 1aa' -> 'SW1A1AA'."""
    text = _text(value)
    if text is None:
        return None
    code = re.sub(r"[^A-Z0-9]", "", re.sub(r"\.0+$", "", text.upper()))
    if re.fullmatch(r"\d{9}|\d{5}", code):
        code = code[:5]
    elif re.fullmatch(r"\d{4}", code) and (country or "US") == "US":
        code = "0" + code
    if not re.search(POSTAL_REQUIRED_RE, code) or re.match(POSTAL_JUNK_RE, code):
        return None
    return code


# ---------------------------------------------------------------------------------------------
# birthdates
# (guard regex, Python strptime format, Spark datetime pattern): tried in order; the guard keeps
# both engines from accepting odd widths (strptime reads '1985034' as %Y%m%d otherwise).
# Month-first comes before day-first: US data is the default; day-first wins only when the
# first number cannot be a month.

BIRTHDATE_FORMATS: tuple[tuple[str, str, str], ...] = (
    (r"^\d{4}-\d{1,2}-\d{1,2}$", "%Y-%m-%d", "yyyy-M-d"),
    (r"^\d{4}/\d{1,2}/\d{1,2}$", "%Y/%m/%d", "yyyy/M/d"),
    (r"^\d{8}$", "%Y%m%d", "yyyyMMdd"),
    (r"^\d{1,2}/\d{1,2}/\d{4}$", "%m/%d/%Y", "M/d/yyyy"),
    (r"^\d{1,2}/\d{1,2}/\d{4}$", "%d/%m/%Y", "d/M/yyyy"),
    (r"^\d{1,2}-\d{1,2}-\d{4}$", "%m-%d-%Y", "M-d-yyyy"),
    (r"^\d{1,2}-\d{1,2}-\d{4}$", "%d-%m-%Y", "d-M-yyyy"),
    (r"^\d{1,2}\.\d{1,2}\.\d{4}$", "%d.%m.%Y", "d.M.yyyy"),
    (r"^[A-Za-z]{3} \d{1,2} \d{4}$", "%b %d %Y", "MMM d yyyy"),
    (r"^[A-Za-z]{4,} \d{1,2} \d{4}$", "%B %d %Y", "MMMM d yyyy"),
    (r"^\d{1,2} [A-Za-z]{3} \d{4}$", "%d %b %Y", "d MMM yyyy"),
    (r"^\d{1,2} [A-Za-z]{4,} \d{4}$", "%d %B %Y", "d MMMM yyyy"),
)
BIRTHDATE_TIME_RE = r"^(\d{4}-\d{1,2}-\d{1,2})[T ].*$"  # ISO timestamps: keep the date part
BIRTHDATE_MIN = _dt.date(1900, 1, 2)  # 1900-01-01 and earlier are placeholders or impossible
BIRTHDATE_PLACEHOLDERS = frozenset({_dt.date(1901, 1, 1)})


def _clean_birthdate_text(text: str) -> str:
    text = re.sub(BIRTHDATE_TIME_RE, r"\1", text.strip())
    if re.search(r"[A-Za-z]", text):
        text = re.sub(r"[,.\-/]", " ", text)
    text = re.sub(r"(?i)\bsept\b", "Sep", text)
    return re.sub(r"\s+", " ", text).strip().title()


def plausible_birthdate(day: _dt.date | None, today: _dt.date | None = None) -> _dt.date | None:
    if day is None or day < BIRTHDATE_MIN or day in BIRTHDATE_PLACEHOLDERS:
        return None
    return None if day > (today or _dt.date.today()) else day


def normalize_birthdate(value: Any, today: _dt.date | None = None) -> _dt.date | None:
    """'03/04/1985', '1985-03-04T00:00:00', 'March 4, 1985', date(...) -> date(1985, 3, 4)."""
    if isinstance(value, _dt.datetime):
        return plausible_birthdate(value.date(), today)
    if isinstance(value, _dt.date):
        return plausible_birthdate(value, today)
    text = _text(value)
    if text is None:
        return None
    text = _clean_birthdate_text(text)
    for guard, py_format, _ in BIRTHDATE_FORMATS:
        if re.search(guard, text):
            try:
                return plausible_birthdate(_dt.datetime.strptime(text, py_format).date(), today)
            except ValueError:
                continue
    return None


# ---------------------------------------------------------------------------------------------
# gender

GENDERS = {
    **dict.fromkeys(["M", "MALE", "MAN", "BOY", "MR", "MASCULINE"], "M"),
    **dict.fromkeys(["F", "FEMALE", "WOMAN", "W", "GIRL", "MRS", "MS", "MISS", "FEMININE"], "F"),
    **dict.fromkeys(
        ["O", "X", "OTHER", "NONBINARY", "NB", "ENBY", "GENDERQUEER", "GENDERFLUID", "AGENDER",
         "INTERSEX", "DIVERSE"],
        "O",
    ),
}


def normalize_gender(value: Any) -> str | None:
    """'Female' / 'f' / 'W' -> 'F'; 'non-binary' -> 'O'; 'U', 'unknown', '1' -> None."""
    text = _text(value)
    if text is None:
        return None
    return GENDERS.get(re.sub(r"[^A-Z]", "", text.upper()))


# ---------------------------------------------------------------------------------------------
# loyalty ids

LOYALTY_JUNK = frozenset({"NA", "NONE", "NULL", "UNKNOWN", "TEST", "NIL", "TBD"})


def normalize_loyalty_id(value: Any) -> str | None:
    """' ab-0012 345 ' -> 'AB0012345'; placeholders ('N/A', '0000', 'XXXX') -> None."""
    text = _text(value)
    if text is None:
        return None
    code = re.sub(r"[^A-Z0-9]", "", re.sub(r"\.0+$", "", text.upper()))
    if not code or code in LOYALTY_JUNK or re.match(REPEATED_CHAR_RE, code):
        return None
    return code
