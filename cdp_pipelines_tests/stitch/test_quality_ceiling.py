"""The demo quality benchmark's ceiling: what a matcher could score on given records."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from stitch_quality import ceiling  # noqa: E402


def rec(record_id, given=None, surname=None, email=None, phone=None, loyalty_id=None):
    return {"record_id": record_id, "given_name": given, "surname": surname, "email": email,
            "phone": phone, "loyalty_id": loyalty_id}


def test_records_the_data_can_place_score_perfectly():
    records = [rec("a1", "ann", "lee", "ann@x.com"), rec("a2", None, None, "ann@x.com"),
               rec("b1", "bo", "kim", phone="5551234567"),
               rec("b2", "bo", None, phone="5551234567")]
    truth = {"a1": "A", "a2": "A", "b1": "B", "b2": "B"}
    assert ceiling(records, truth)["f1"] == 1.0


def test_a_lone_record_without_surname_stays_alone_unless_its_mailbox_may_place_it():
    records = [rec("a1", "ann", "lee", phone="5550000001"),
               rec("a2", "ann", "lee", phone="5550000001"),
               rec("a3", "ann", None, "ann.lee77@x.com")]
    truth = {"a1": "A", "a2": "A", "a3": "A"}
    strict = ceiling(records, truth)
    assert (strict["precision"], round(strict["recall"], 4)) == (1.0, 0.3333)
    assert ceiling(records, truth, mailboxes=True)["f1"] == 1.0


def test_a_family_email_sign_up_goes_to_the_email_s_main_carrier_or_stays_alone():
    # Pat's two records and Judy's one carry the family email; the name-less sign-up is
    # Judy's, which nothing in it tells. Sent to Pat: 2 false pairs, 1 missed; alone: 1
    # missed. The better of the two is kept.
    records = [rec("p1", "pat", "brooks", "fam@x.com"), rec("p2", "pat", "brooks", "fam@x.com"),
               rec("j1", "judy", "brooks", "fam@x.com"), rec("s", None, None, "fam@x.com")]
    truth = {"p1": "P", "p2": "P", "j1": "J", "s": "J"}
    got = ceiling(records, truth)
    assert (got["predicted_pairs"], got["precision"], got["recall"]) == (1, 1.0, 0.5)
