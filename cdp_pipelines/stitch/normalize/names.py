"""Person names: given names, surnames and full names as matching compares them."""

from __future__ import annotations

import functools
import re
from typing import Any, NamedTuple

from cdp_pipelines.stitch.normalize.cells import REPEATED_CHAR_RE, ascii_text, cell_text

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
    text = cell_text(value)
    if text is None:
        return []
    text = ascii_text(text).lower()
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
    text = cell_text(value)
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
    if (given_norm is None or surname_norm is None) and cell_text(full_name) is not None:
        parts = split_full_name(full_name)
        given_norm = given_norm or parts.given
        surname_norm = surname_norm or parts.surname
    full = " ".join(p for p in (given_norm, surname_norm) if p) or None
    canonical = NICKNAMES.get(given_norm, given_norm) if given_norm else None
    return PersonName(given_norm, canonical, surname_norm, full, given_name_forms(given_norm))
