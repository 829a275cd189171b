import pytest

from cdp_pipelines.stitch.badvalues import apply_blocklist, find_bad_values
from cdp_pipelines.stitch.preprocess import preprocess

ROWS = [
    # one shared mailbox, four different people: bad at threshold 3
    ("a", "1", "Ann", "info@shop.com", None, None, None),
    ("a", "2", "Ben", "info@shop.com", None, None, None),
    ("b", "3", "Cal", "Info@Shop.com", None, None, None),
    ("b", "4", "Dan", "info@shop.com ", None, None, None),
    # one person under nicknames with many records: not bad
    ("a", "5", "Bob", "bob@x.com", None, None, None),
    ("a", "6", "Robert", "bob@x.com", None, None, None),
    ("b", "7", "BOBBY", "bob@x.com", None, None, None),
    ("b", "8", "rob", "Bob@X.com", None, None, None),
    ("c", "9", "Robert", "bob@x.com", None, None, None),
    # exactly at the threshold: kept
    ("a", "10", "Eve", "trio@x.com", None, None, None),
    ("a", "11", "Fay", "trio@x.com", None, None, None),
    ("a", "12", "Gus", "trio@x.com", None, None, None),
    # configured values
    ("a", "13", "Hal", None, "212-555-0199", None, None),
    ("a", "14", "Ivy", None, None, "1 Store Plaza", "10001"),
    ("b", "15", "Jon", None, None, "1 STORE PLZ.", "94105"),
    # an address shared by three people in one ZIP: bad at threshold 2
    ("a", "16", "Kim", None, None, "5 Elm Street", "02134"),
    ("a", "17", "Lee", None, None, "5 elm st", "02134-0001"),
    ("b", "18", "Max", None, None, "5 Elm St.", "2134"),
    # same line in another ZIP, one person: kept
    ("b", "19", "Ned", None, None, "5 Elm Street", "60601"),
]
SCHEMA = (
    "source string, pk string, given_name string, email string, phone string, address string, "
    "postal string"
)
THRESHOLDS = {"email": 3, "address": 2, "phone": None}
CONFIGURED = [
    ("phone", "(212) 555-0199"),
    ("address", "1 Store Plaza"),
    ("loyalty_id", "zz-999"),
    ("email", " INFO@shop.com"),
]


@pytest.fixture(scope="module")
def preprocessed(spark):
    return preprocess(spark.createDataFrame(ROWS, SCHEMA)).cache()


@pytest.fixture(scope="module")
def blocklist(preprocessed):
    return find_bad_values(preprocessed, THRESHOLDS, CONFIGURED).cache()


def test_blocklist_rows(blocklist):
    got = sorted(tuple(r) for r in blocklist.collect())
    assert got == sorted(
        [
            # configured and over the threshold: reported once, as configured
            ("email", "info@shop.com", 4, 4, "configured"),
            ("address", "5 ELM ST|02134", 3, 3, "automatic"),
            ("phone", "+12125550199", 1, 1, "configured"),
            ("address", "1 STORE PLZ", 2, 2, "configured"),
            ("loyalty_id", "ZZ999", 0, 0, "configured"),
        ]
    )


def test_defaults_flag_nothing_in_small_data(preprocessed):
    assert find_bad_values(preprocessed).count() == 0


def test_apply_blocklist(preprocessed, blocklist):
    out = {r["pk"]: r.asDict(recursive=True) for r in apply_blocklist(preprocessed, blocklist).collect()}

    shared = out["3"]
    assert shared["email"] == "Info@Shop.com"
    assert (shared["email_norm"], shared["email_canonical"]) == (None, None)
    assert shared["blocked_values"] == [{"column": "email", "value": "info@shop.com"}]

    assert out["5"]["email_canonical"] == "bob@x.com" and out["5"]["blocked_values"] == []
    assert out["10"]["email_norm"] == "trio@x.com"

    assert (out["13"]["phone_e164"], out["13"]["phone_last10"]) == (None, None)
    assert out["13"]["blocked_values"] == [{"column": "phone", "value": "+12125550199"}]

    store = out["15"]
    blanked = ("address_norm", "address_full_norm", "address_key", "house_number")
    assert [store[c] for c in blanked] == [None] * 4
    assert store["postal_norm"] == "94105"
    assert store["blocked_values"] == [{"column": "address", "value": "1 STORE PLZ"}]

    assert out["17"]["address_key"] is None
    assert out["17"]["blocked_values"] == [{"column": "address", "value": "5 ELM ST|02134"}]
    assert out["19"]["address_key"] == "5 ELM ST|60601"


def test_apply_blocklist_accepts_pairs_and_empty(preprocessed):
    out = apply_blocklist(preprocessed, [("email", "trio@x.com")]).where("pk in ('10', '1')")
    got = {r["pk"]: (r["email_norm"], len(r["blocked_values"])) for r in out.collect()}
    assert got == {"10": (None, 1), "1": ("info@shop.com", 0)}
    assert apply_blocklist(preprocessed, []).where("size(blocked_values) > 0").count() == 0


def test_errors_name_the_problem(spark, preprocessed):
    with pytest.raises(ValueError, match="unknown bad-value column 'fax'"):
        find_bad_values(preprocessed, {"fax": 3})
    with pytest.raises(ValueError, match="email must be a positive whole number"):
        find_bad_values(preprocessed, {"email": 0})
    with pytest.raises(ValueError, match="entry 0"):
        find_bad_values(preprocessed, configured=[("email",)])
    with pytest.raises(ValueError, match="unknown bad-value column 'fax'"):
        apply_blocklist(preprocessed, [("fax", "1")])
    raw = spark.createDataFrame(ROWS, SCHEMA)
    with pytest.raises(ValueError, match="lacks column"):
        find_bad_values(raw)
