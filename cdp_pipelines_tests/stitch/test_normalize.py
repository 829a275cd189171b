import datetime as dt

import pytest

from cdp_pipelines.stitch import normalize as nz

GARBAGE = [None, "", "   ", "\t\n", float("nan"), "\u00a0", "???", "---", "null", "N/A"]


@pytest.mark.parametrize(
    "fn",
    [
        nz.normalize_name, nz.canonical_given_name, nz.normalize_email, nz.canonical_email,
        nz.normalize_address, nz.normalize_city, nz.normalize_state, nz.normalize_country,
        nz.normalize_postal, nz.normalize_birthdate, nz.normalize_gender, nz.normalize_loyalty_id,
    ],
)
@pytest.mark.parametrize("value", GARBAGE)
def test_garbage_is_none(fn, value):
    assert fn(value) is None


@pytest.mark.parametrize("value", GARBAGE + [12, "12", "abc", "+", "0" * 10])
def test_phone_garbage(value):
    assert nz.normalize_phone(value) == nz.Phone(None, None)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("  John ", "john"),
        ("JOSÉ", "jose"),
        ("Zoë", "zoe"),
        ("Dr. José  O'Brien-Smith Jr.", "jose obrien smith"),
        ("O’Neil", "oneil"),
        ("mary-jane", "mary jane"),
        ("Jean\u00a0Luc", "jean luc"),
        ("Mrs", None),
        ("III", None),
        ("Unknown", None),
        ("TEST", None),
        ("xxxx", None),
        ("J", "j"),
        ("John3", "john"),
        (42, None),
        ("Ελένη", "elene"),
    ],
)
def test_normalize_name(raw, expected):
    assert nz.normalize_name(raw) == expected


@pytest.mark.parametrize(
    "raw, expected",
    [("Bob", "robert"), ("BILLY", "william"), ("Liz", "elizabeth"), ("Peggy", "margaret"),
     ("jim", "james"), ("Robert", "robert"), ("Al", "al"), ("Chris", "chris"),
     ("Mr. Mike", "michael"), ("Zelda", "zelda")],
)
def test_canonical_given_name(raw, expected):
    assert nz.canonical_given_name(raw) == expected


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Smith, John A.", nz.FullName("john", "a", "smith")),
        ("Mr John A. van der Berg Jr", nz.FullName("john", "a", "van der berg")),
        ("Maria de la Cruz", nz.FullName("maria", None, "de la cruz")),
        # an apostrophe prefix written with a space: the surname as with the apostrophe
        ("Benjamin O Brien", nz.FullName("benjamin", None, "obrien")),
        ("O Brien, Benjamin", nz.FullName("benjamin", None, "obrien")),
        ("D Angelo, Anthony", nz.FullName("anthony", None, "dangelo")),
        ("Anthony D Angelo", nz.FullName("anthony", "d", "angelo")),
        ("  ANNA   KARENINA  ", nz.FullName("anna", None, "karenina")),
        ("Cher", nz.FullName("cher", None, None)),
        ("Dr.", nz.FullName(None, None, None)),
        ("Test User", nz.FullName(None, None, None)),
        ("Unknown, Jane", nz.FullName("jane", None, None)),
        (None, nz.FullName(None, None, None)),
        (12345, nz.FullName(None, None, None)),
    ],
)
def test_split_full_name(raw, expected):
    assert nz.split_full_name(raw) == expected


@pytest.mark.parametrize(
    "raw, expected",
    [("O Brien", "obrien"), ("O'Brien", "obrien"), ("OBrien", "obrien"),
     ("D Angelo", "dangelo"), ("O Brien-Smith", "obrien smith"), ("de la Cruz", "de la cruz"),
     ("O", "o"), (None, None)],
)
def test_normalize_surname(raw, expected):
    assert nz.normalize_surname(raw) == expected
    assert nz.normalize_person_name("Ann", raw, None).surname == expected


def test_person_name_falls_back_to_full_name():
    assert nz.normalize_person_name(None, "Smith", "Bob Jones") == nz.PersonName(
        "bob", "robert", "smith", "bob smith", "bert bob bobby robert"
    )
    name = nz.normalize_person_name("", None, "Jones, Liz")
    assert name[:4] == ("liz", "elizabeth", "jones", "liz jones")
    assert "elizabeth" in name.given_forms.split()
    assert nz.normalize_person_name(None, None, None) == nz.PersonName(None, None, None, None)


@pytest.mark.parametrize(
    "left, right, compatible",
    [
        ("harry", "harold", True),  # harry stands for harold or henry
        ("harry", "henry", True),
        ("jackie", "jacqueline", True),
        ("johnny", "jonathan", True),
        ("terry", "teresa", True),
        ("bob", "rob", True),
        ("amanda", "randy", False),
        ("logan", "megan", False),
        ("jean", "ethan", False),
        ("mary", "john", False),
    ],
)
def test_given_name_forms_overlap_for_nicknames_of_one_name(left, right, compatible):
    forms = [set(nz.given_name_forms(n).split()) for n in (left, right)]
    assert bool(forms[0] & forms[1]) is compatible
    assert left in forms[0] and nz.canonical_given_name(left) in forms[0]


@pytest.mark.parametrize(
    "typo, known",
    [("icndy", {"cindy", "indy"}), ("edbra", {"debra"}), ("drmw", {"drew"}),
     ("jhon", {"john", "jon"}), ("mei", set()), ("john", set()), ("zzyzx", set())],
)
def test_a_typo_of_a_known_name_takes_its_forms(typo, known):
    assert nz.known_names_one_edit_from(typo) == known
    forms = set(nz.given_name_forms(typo).split())
    for name in known:
        assert set(nz.given_name_forms(name).split()) <= forms


def test_a_mistyped_nickname_is_compatible_with_its_formal_name():
    def forms(name):
        return set(nz.given_name_forms(name).split())

    assert forms("icndy") & forms("cynthia") and forms("edbra") & forms("deborah")
    assert not forms("icndy") & forms("debra")


def test_given_name_forms_of_nothing():
    assert nz.given_name_forms(None) is None and nz.given_name_forms("") is None


@pytest.mark.parametrize(
    "raw, norm, canonical",
    [
        (" John.Smith+news@GMail.com ", "john.smith+news@gmail.com", "johnsmith@gmail.com"),
        ("j.s@googlemail.com", "j.s@googlemail.com", "js@gmail.com"),
        ("Jane.Doe+x@Yahoo.co.uk", "jane.doe+x@yahoo.co.uk", "jane.doe@yahoo.co.uk"),
        ("<ann@b.io>", "ann@b.io", "ann@b.io"),
        ("mailto:ann@b.io", "ann@b.io", "ann@b.io"),
        ("o'hara@b.com", "o'hara@b.com", "o'hara@b.com"),
        ("test@test.com", None, None),
        ("noemail@gmail.com", None, None),
        ("none@none.com", None, None),
        ("john@example.com", None, None),
        ("aaaa@gmail.com", None, None),
        ("bob@xxx.com", None, None),
        ("x@y.invalid", None, None),
        ("n/a", None, None),
        ("john@", None, None),
        ("john@gmail", None, None),
        ("john..smith@gmail.com", None, None),
        ("john smith@gmail.com", None, None),
        ("jöhn@gmail.com", None, None),
        ("+tag@gmail.com", "+tag@gmail.com", None),
        (12345, None, None),
    ],
)
def test_email(raw, norm, canonical):
    assert nz.normalize_email(raw) == norm
    assert nz.canonical_email(raw) == canonical


@pytest.mark.parametrize(
    "raw, region, expected",
    [
        ("(212) 555-0123", "US", ("+12125550123", "2125550123")),
        ("212.555.0123 ext. 45", "US", ("+12125550123", "2125550123")),
        ("+1 212 555 0123", "GB", ("+12125550123", "2125550123")),
        ("1-212-555-0123", "US", ("+12125550123", "2125550123")),
        (2125550123, "US", ("+12125550123", "2125550123")),
        (2125550123.0, "US", ("+12125550123", "2125550123")),
        ("020 7946 0958", "GB", ("+442079460958", "2079460958")),
        ("0044 20 7946 0958", "US", ("+442079460958", "2079460958")),
        ("+44 (0)20 7946 0958", None, ("+442079460958", "2079460958")),
        ("(212) 555-0123", "ZZ", ("+12125550123", "2125550123")),
        ("555-1234", "US", (None, None)),
        ("0000000000", "US", (None, None)),
        ("1234567890", "US", (None, None)),
        ("555-555-5555", "US", (None, None)),
        ("999 999 9999", "US", (None, None)),
        ("call me", "US", (None, None)),
    ],
)
def test_phone(raw, region, expected):
    assert nz.normalize_phone(raw, region) == nz.Phone(*expected)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("123 North Main Street, Apt. #4B", "123 N MAIN ST APT 4B"),
        ("123 n. main st apt 4b", "123 N MAIN ST APT 4B"),
        ("  456 Elm Avenue  Suite #200 ", "456 ELM AVE STE 200"),
        ("#12 9 Oak Rd", "APT 12 9 OAK RD"),
        ("P.O. Box 77", "PO BOX 77"),
        ("Post Office Box 77", "PO BOX 77"),
        ("1 First Boulevard Southwest", "1 1ST BLVD SW"),
        ("12 Rue de l'Église", "12 RUE DE LEGLISE"),
        # USPS suffix variants, in the suffix's place only (before a unit, a direction)
        ("40 School Wy", "40 SCHOOL WAY"),
        ("12 Pine Crcl NW Apt 3", "12 PINE CIR NW APT 3"),
        ("9 Union Terr", "9 UNION TER"),
        ("123 Wy", "123 WY"),
        ("Unknown", None),
        ("xxxxx", None),
        ("...", None),
    ],
)
def test_address(raw, expected):
    assert nz.normalize_address(raw) == expected


@pytest.mark.parametrize(
    "fn, raw, expected",
    [
        (nz.normalize_city, "St. Louis", "ST LOUIS"),
        (nz.normalize_city, "Saint Louis", "ST LOUIS"),
        (nz.normalize_city, "Montréal", "MONTREAL"),
        (nz.normalize_city, "90210", None),
        (nz.normalize_state, "new york", "NY"),
        (nz.normalize_state, "N.Y.", "NY"),
        (nz.normalize_state, " ca ", "CA"),
        (nz.normalize_state, "Québec", "QC"),
        (nz.normalize_state, "Bavaria", "BAVARIA"),
        (nz.normalize_country, "United States of America", "US"),
        (nz.normalize_country, "U.S.A.", "US"),
        (nz.normalize_country, "uk", "GB"),
        (nz.normalize_country, "de", "DE"),
    ],
)
def test_places(fn, raw, expected):
    assert fn(raw) == expected


@pytest.mark.parametrize(
    "raw, country, expected",
    [
        ("02134-1234", "US", "02134"),
        ("021341234", "US", "02134"),
        ("2134", "US", "02134"),
        ("2134", "AU", "2134"),
        (2134.0, "US", "02134"),
        ("90210.0", "US", "90210"),
        (" 90210 ", None, "90210"),
        ("sw1a 1aa", "GB", "SW1A1AA"),
        ("K1A-0B1", "CA", "K1A0B1"),
        ("00000", "US", None),
        ("99999", "US", None),
    ],
)
def test_postal(raw, country, expected):
    assert nz.normalize_postal(raw, country) == expected


TODAY = dt.date(2026, 1, 15)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("1985-03-04", dt.date(1985, 3, 4)),
        ("1985-3-4", dt.date(1985, 3, 4)),
        ("1985/03/04", dt.date(1985, 3, 4)),
        ("19850304", dt.date(1985, 3, 4)),
        ("03/04/1985", dt.date(1985, 3, 4)),
        ("3/4/1985", dt.date(1985, 3, 4)),
        ("25/12/1985", dt.date(1985, 12, 25)),
        ("12-25-1985", dt.date(1985, 12, 25)),
        ("25.12.1985", dt.date(1985, 12, 25)),
        ("1985-03-04T00:00:00Z", dt.date(1985, 3, 4)),
        ("1985-03-04 13:45:00", dt.date(1985, 3, 4)),
        ("March 4, 1985", dt.date(1985, 3, 4)),
        ("MAR 4 1985", dt.date(1985, 3, 4)),
        ("Sept. 4, 1985", dt.date(1985, 9, 4)),
        ("4 March 1985", dt.date(1985, 3, 4)),
        ("04-Mar-1985", dt.date(1985, 3, 4)),
        (dt.date(1985, 3, 4), dt.date(1985, 3, 4)),
        (dt.datetime(1985, 3, 4, 10, 0), dt.date(1985, 3, 4)),
        ("1900-01-01", None),
        ("1901-01-01", None),
        ("1850-06-01", None),
        ("2026-01-16", None),
        ("9999-12-31", None),
        ("13/13/1985", None),
        ("1985-02-30", None),
        ("1985034", None),
        ("85-03-04", None),
        ("yesterday", None),
        (19850304, dt.date(1985, 3, 4)),
    ],
)
def test_birthdate(raw, expected):
    assert nz.normalize_birthdate(raw, today=TODAY) == expected


@pytest.mark.parametrize(
    "raw, expected",
    [("M", "M"), (" male ", "M"), ("Female", "F"), ("f", "F"), ("W", "F"), ("Non-Binary", "O"),
     ("x", "O"), ("U", None), ("unknown", None), ("1", None), ("Frau", None)],
)
def test_gender(raw, expected):
    assert nz.normalize_gender(raw) == expected


@pytest.mark.parametrize(
    "raw, expected",
    [(" ab-0012 345 ", "AB0012345"), (12345, "12345"), ("12345.0", "12345"), ("0000", None),
     ("XXXX", None), ("none", None), ("7", "7")],
)
def test_loyalty_id(raw, expected):
    assert nz.normalize_loyalty_id(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["(212) 555-0123", "1-212-555-0123", "+1 212 555 0123", "2125550123", "212.555.0123",
     "(012) 555-0123", "1 (800) 555 0199", "0000000000", "1234567890", "2222222222",
     "11 212 555 0123", "+1-416-555-0199", "(212) 555-01234"],
)
@pytest.mark.parametrize("region", ["US", "CA"])
def test_phone_shortcut_agrees_with_phonenumbers(raw, region):
    assert nz.normalize_phone(raw, region) == nz.parse_phone(raw, region)
