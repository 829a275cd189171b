import datetime as dt

import pytest

from cdp_pipelines.stitch import normalize as nz
from cdp_pipelines.stitch.preprocess import NORMALIZED_COLUMNS, preprocess

COLUMNS = (
    "source pk given_name surname full_name email phone address address2 city state postal "
    "country birthdate gender loyalty_id fk_web sk"
).split()


@pytest.fixture(scope="module")
def preprocessed(spark):
    rows = [
        ("crm", "1", "Bob", "O'Brien", None, "Bob.O.Brien+x@GoogleMail.com", "(212) 555-0123",
         "123 North Main Street", "Apt 4", "St. Louis", "missouri", "63101-1234", "USA",
         "03/04/1985", "male", " ab-12 ", " w1 ", "s1"),
        ("pos", "2", None, None, "Smith, Jane", "test@test.com", "0000000000", "unknown", None,
         None, None, "2134", None, "1900-01-01", "U", "N/A", "", None),
        ("web", "3", " ", None, "Dr. Ana María de la Cruz", None, "020 7946 0958", None, None,
         "London", None, "SW1A 1AA", "United Kingdom", "March 4, 1985", "F", None, None, None),
    ]
    df = spark.createDataFrame(rows, ", ".join(f"{c} string" for c in COLUMNS))
    return {r["pk"]: r.asDict() for r in preprocess(df).collect()}


def test_exact_values(preprocessed):
    expected = {
        "1": dict(
            given_name_norm="bob", given_name_canonical="robert", surname_norm="obrien",
            full_name_norm="bob obrien", email_norm="bob.o.brien+x@googlemail.com",
            email_canonical="bobobrien@gmail.com", phone_e164="+12125550123",
            phone_last10="2125550123", address_norm="123 N MAIN ST", address2_norm="APT 4",
            address_full_norm="123 N MAIN ST APT 4", city_norm="ST LOUIS", state_norm="MO",
            country_norm="US", postal_norm="63101", address_key="123 N MAIN ST 4|63101",
            birthdate_norm=dt.date(1985, 3, 4), gender_norm="M", loyalty_id_norm="AB12",
            given_name_soundex="R163", surname_soundex="O165", postal3="631",
            house_number="123", birth_year=1985, fk_web_norm="w1", sk_norm="s1",
        ),
        "2": dict(
            given_name_norm="jane", given_name_canonical="jane", surname_norm="smith",
            full_name_norm="jane smith", email_norm=None, email_canonical=None, phone_e164=None,
            phone_last10=None, address_norm=None, address2_norm=None, address_full_norm=None,
            city_norm=None, state_norm=None, country_norm=None, postal_norm="02134",
            address_key=None, birthdate_norm=None, gender_norm=None, loyalty_id_norm=None,
            given_name_soundex="J500", surname_soundex="S530", postal3="021", house_number=None,
            birth_year=None, fk_web_norm=None, sk_norm=None,
        ),
        "3": dict(
            given_name_norm="ana", given_name_canonical="ana", surname_norm="de la cruz",
            full_name_norm="ana de la cruz", email_norm=None, phone_e164="+442079460958",
            phone_last10="2079460958", city_norm="LONDON", country_norm="GB",
            postal_norm="SW1A1AA", address_key=None, birthdate_norm=dt.date(1985, 3, 4),
            gender_norm="F", surname_soundex="D426", postal3="SW1",
        ),
    }
    for pk, values in expected.items():
        got = {k: preprocessed[pk][k] for k in values}
        assert got == values, f"record {pk}"


def test_raw_columns_kept(preprocessed):
    assert preprocessed["1"]["email"] == "Bob.O.Brien+x@GoogleMail.com"
    assert preprocessed["2"]["full_name"] == "Smith, Jane"


def test_missing_semantic_columns_give_null_normalised_columns(spark):
    df = spark.createDataFrame([("a", "1", "Liz")], "source string, pk string, given_name string")
    out = preprocess(df)
    assert out.columns == ["source", "pk", "given_name", *NORMALIZED_COLUMNS]
    row = out.collect()[0].asDict()
    named = {"given_name_norm": "liz", "given_name_canonical": "elizabeth",
             "full_name_norm": "liz", "given_name_soundex": "E421",
             "given_name_forms": "elizabeth lisa liz lizzie"}
    assert {c: row[c] for c in named} == named
    assert [c for c in NORMALIZED_COLUMNS if c not in named and row[c] is not None] == []


def test_missing_pk_is_a_clear_error(spark):
    df = spark.createDataFrame([("a",)], "source string")
    with pytest.raises(ValueError, match=r"lacks required column\(s\) \['pk'\]"):
        preprocess(df)


# The Spark SQL implementations must give what the Python normalisers give, value for value.
PARITY = {
    "email": [" John.Smith+news@GMail.com ", "j.s@googlemail.com", "<ann@b.io>", "mailto:a@b.io",
              "test@test.com", "noemail@gmail.com", "john@example.com", "aaaa@gmail.com",
              "bob@xxx.com", "x@y.invalid", "n/a", "john..smith@gmail.com", "jöhn@gmail.com",
              "+tag@gmail.com", "\u00a0ann@b.io\u00a0", "o'hara@b.com", "A@B.CO", None, ""],
    "postal": ["02134-1234", "021341234", "2134", " 90210 ", "90210.0", "sw1a 1aa", "K1A-0B1",
               "00000", "99999", "null", "", None, "1234-567", "ß1"],
    "birthdate": ["1985-03-04", "1985-3-4", "1985/03/04", "19850304", "03/04/1985", "3/4/1985",
                  "25/12/1985", "12-25-1985", "25.12.1985", "1985-03-04T00:00:00Z",
                  "1985-03-04 13:45:00", "March 4, 1985", "MAR 4 1985", "Sept. 4, 1985",
                  "4 March 1985", "04-Mar-1985", "1900-01-01", "1901-01-01", "1850-06-01",
                  "9999-12-31", "13/13/1985", "1985-02-30", "1985034", "85-03-04", "yesterday",
                  "", None],
    "gender": ["M", " male ", "Female", "f", "W", "Non-Binary", "x", "U", "unknown", "1", "",
               None, "Frau"],
    "loyalty_id": [" ab-0012 345 ", "12345.0", "0000", "XXXX", "none", "7", "", None, "n/a"],
}


def test_spark_sql_columns_match_python_normalisers(spark):
    size = max(len(v) for v in PARITY.values())
    columns = ["source", "pk", *PARITY]
    rows = [
        ("p", str(i), *[values[i] if i < len(values) else None for values in PARITY.values()])
        for i in range(size)
    ]
    df = spark.createDataFrame(rows, ", ".join(f"{c} string" for c in columns))
    got = {r["pk"]: r for r in preprocess(df).collect()}
    mismatches = []
    for i in range(size):
        row = got[str(i)]
        checks = {
            "email_norm": nz.normalize_email(row["email"]),
            "email_canonical": nz.canonical_email(row["email"]),
            "postal_norm": nz.normalize_postal(row["postal"], "US"),
            "birthdate_norm": nz.normalize_birthdate(row["birthdate"]),
            "gender_norm": nz.normalize_gender(row["gender"]),
            "loyalty_id_norm": nz.normalize_loyalty_id(row["loyalty_id"]),
        }
        mismatches += [(col, i, row[col], want) for col, want in checks.items() if row[col] != want]
    assert mismatches == []


def test_birthdate_date_column(spark):
    df = spark.createDataFrame(
        [("a", "1", dt.date(1985, 3, 4)), ("a", "2", dt.date(1900, 1, 1))],
        "source string, pk string, birthdate date",
    )
    got = {r["pk"]: r["birthdate_norm"] for r in preprocess(df).collect()}
    assert got == {"1": dt.date(1985, 3, 4), "2": None}
