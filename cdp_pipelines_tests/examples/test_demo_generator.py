"""The bundled demo tenant loads, and its generator writes what the tenant declares.

Files are read back the way the declared courier formats say, and checked against the
feed definitions (columns, date patterns, keys) and the generator's truth files.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path

import pytest

from cdp_pipelines.examples.demo_tenant import generator
from cdp_pipelines.tenant import load_tenant
from cdp_pipelines.tenant.model import Tenant
from cdp_pipelines.tenant.sources import CourierSpec, FeedSpec

TENANT_DIR = Path(generator.__file__).parent
PEOPLE, SEED, DAYS = 400, 11, 2
CUSTOMER_FEEDS = ("pos_customers", "ecom_customers", "loyalty_members", "email_subscribers")


@pytest.fixture(scope="module")
def tenant() -> Tenant:
    return load_tenant(TENANT_DIR, env={})


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("demo")
    return out, generator.generate(out, people=PEOPLE, seed=SEED, days=DAYS)


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """A courier pattern (date tokens and globs) as a regex over paths relative to root."""
    tokens = {"{yyyy}": r"\d{4}", "{MM}": r"\d{2}", "{dd}": r"\d{2}", "{HH}": r"\d{2}",
              "*": r"[^/]*", "?": r"[^/]"}
    parts = re.split(r"(\{yyyy\}|\{MM\}|\{dd\}|\{HH\}|\*|\?)", pattern)
    return re.compile("".join(tokens.get(p, re.escape(p)) for p in parts) + "$")


def _strptime_format(spark_pattern: str) -> str:
    """The Spark datetime patterns the demo uses, as strptime formats (UTC 'Z' offsets)."""
    assert re.fullmatch(r"(yyyy|MM|dd|HH|mm|ss|'T'|XXX|[-/: ])+", spark_pattern), spark_pattern
    out = spark_pattern.replace("'T'", "T").replace("XXX", "Z")
    for spark, python in (("yyyy", "%Y"), ("MM", "%m"), ("dd", "%d"), ("HH", "%H"),
                          ("mm", "%M"), ("ss", "%S")):
        out = out.replace(spark, python)
    return out


def _courier_files(drop: Path, courier: CourierSpec) -> list[Path]:
    regex = _pattern_regex(courier.pattern)
    return sorted(p for p in drop.rglob("*") if p.is_file()
                  and regex.match(p.relative_to(drop).as_posix()))


def _read_rows(path: Path, courier: CourierSpec) -> list[dict[str, object]]:
    """Rows as the declared format reads them; empty delimited cells become None."""
    fmt = courier.format
    if fmt.type == "parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    raw = path.read_bytes()
    if fmt.compression == "gzip":
        raw = gzip.decompress(raw)
    text = raw.decode(fmt.encoding)
    if fmt.type == "jsonl":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    reader = csv.DictReader(io.StringIO(text), delimiter=fmt.field_delimiter,
                            quotechar=fmt.quote)
    return [{k: (v if v != "" else None) for k, v in row.items()} for row in reader]


@pytest.fixture(scope="module")
def rows_by_feed(tenant: Tenant, generated: tuple[Path, dict]
                 ) -> dict[str, list[tuple[Path, list[dict[str, object]]]]]:
    drop = generated[0] / "drop"
    couriers = {c.name: c for _, c in tenant.couriers}
    return {feed.name: [(path, _read_rows(path, couriers[feed.courier]))
                        for path in _courier_files(drop, couriers[feed.courier])]
            for _, feed in tenant.feeds}


@pytest.fixture(scope="module")
def ground_truth(generated: tuple[Path, dict]) -> list[dict[str, str]]:
    with (generated[0] / "ground_truth.csv").open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def quarantine_truth(generated: tuple[Path, dict]) -> list[dict[str, str]]:
    with (generated[0] / "quarantine_truth.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def _pk(feed: FeedSpec, row: dict[str, object]) -> str:
    return "|".join("" if row.get(k) is None else str(row[k]) for k in feed.primary_key)


# --- the tenant ----------------------------------------------------------------------


def test_tenant_loads_with_sources_feeds_and_custom_table(tenant: Tenant) -> None:
    assert tenant.tenant.name == "demo_retail"
    assert tenant.tenant.timezone == "America/New_York"
    assert {s.name: s.priority for s in tenant.sources} == {
        "loyalty": 10, "ecom": 20, "pos": 30, "email": 40}
    assert sorted(f.name for _, f in tenant.feeds if f.stitch) == sorted(CUSTOMER_FEEDS)
    assert {f.name for _, f in tenant.feeds} == set(generator.FILES)
    for _, feed in tenant.feeds:
        assert feed.primary_key == generator.PRIMARY_KEYS[feed.name], feed.name
        assert [f.file_column for f in feed.fields] == generator.COLUMNS[feed.name], feed.name
        for key in feed.primary_key:
            assert "pk" in feed.field(key).tags and not feed.field(key).nullable, (feed.name, key)
        for f in feed.fields:
            if f.type in ("date", "timestamp"):
                assert f.format, f"{feed.name}.{f.name} needs a datetime pattern"
    for _, feed in tenant.feeds:
        for f in feed.fields_tagged("customer-key"):
            assert tenant.feed(f.references).stitch, (feed.name, f.name)
    (facts,) = tenant.custom_domain_tables
    assert facts.name == "ecom_order_facts" and facts.primary_key == ("order_id",)
    assert re.search(r"\bFROM\s+ecom_orders\b", facts.sql)
    assert re.search(r"\bJOIN\s+ecom_order_items\b", facts.sql)
    assert tenant.stitch.blocklist == {"email": ("noemail@demoretail.com",), "address": ("N/A",)}


def test_courier_locations_default_and_read_the_environment() -> None:
    default = load_tenant(TENANT_DIR, env={})
    by_type: dict[str, list] = defaultdict(list)
    for _, courier in default.couriers:
        by_type[courier.type].append(courier)
    # One source on each remote stand-in, the others from the local drop.
    assert {t: sorted(c.name for c in cs) for t, cs in by_type.items() if t != "local"} == {
        "s3": ["ecom_customer_files", "ecom_order_files", "ecom_order_item_files"],
        "sftp": ["email_subscriber_files"]}
    assert {c.root for c in by_type["local"]} == {".cdp/demo/drop"}
    assert {c.options.endpoint_url for c in by_type["s3"]} == {"http://127.0.0.1:9574"}
    (sftp,) = by_type["sftp"]
    assert sftp.options.private_key_file == ".cdp/demo/services/sshd/client_key"
    moved = load_tenant(TENANT_DIR, env={"CDP_DEMO_DROP": "/data/drop", "CDP_DEMO_S3_PORT": "1",
                                         "CDP_DEMO_SERVICES": "/srv", "CDP_DEMO_SFTP_USER": "u"})
    couriers = {c.name: c for _, c in moved.couriers}
    assert couriers["pos_transaction_files"].root == "/data/drop"
    assert couriers["ecom_order_files"].options.endpoint_url == "http://127.0.0.1:1"
    assert couriers["email_subscriber_files"].options.username == "u"
    assert couriers["email_subscriber_files"].options.root == "/srv/sshd/files"


# --- the generated files -------------------------------------------------------------


def _tree_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_generation_is_deterministic_per_seed(tmp_path: Path) -> None:
    first, second, other = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    counts = generator.generate(first, people=60, seed=3)
    assert generator.generate(second, people=60, seed=3) == counts
    assert _tree_bytes(first) == _tree_bytes(second)
    generator.generate(other, people=60, seed=4)
    assert _tree_bytes(other) != _tree_bytes(first)
    # a rerun with fewer days leaves no stale day behind
    generator.generate(first, people=60, seed=3, days=1)
    assert not list((first / "drop").rglob("*_20261102.*"))


def test_every_courier_matches_one_file_per_day_of_its_format(
        tenant: Tenant, generated: tuple[Path, dict]) -> None:
    out, counts = generated
    drop = out / "drop"
    assert counts["files"] == len(tenant.couriers) * DAYS
    matched: dict[Path, str] = {}
    for _, courier in tenant.couriers:
        files = _courier_files(drop, courier)
        dates = [re.search(r"_(\d{8})\.", p.name).group(1) for p in files]
        assert dates == ["20261101", "20261102"][:DAYS], (courier.name, files)
        for path in files:
            assert path not in matched, f"{path} matches {matched.get(path)} and {courier.name}"
            matched[path] = courier.name
            extension = path.name.split(".", 1)[1]
            assert extension.split(".")[0] == courier.format.type
            assert (courier.format.compression == "gzip") == extension.endswith(".gz")
            if extension.endswith(".gz"):
                assert path.read_bytes()[:2] == b"\x1f\x8b"
            if courier.format.type == "parquet":
                assert path.read_bytes()[:4] == b"PAR1"
    assert sorted(matched) == sorted(p for p in drop.rglob("*") if p.is_file())


def test_files_carry_the_declared_columns_and_counted_rows(
        tenant: Tenant, generated: tuple[Path, dict], rows_by_feed) -> None:
    counts = generated[1]
    for _, feed in tenant.feeds:
        declared = [f.file_column for f in feed.fields]
        total = 0
        for path, rows in rows_by_feed[feed.name]:
            assert rows, f"{path} is empty"
            seen = {c for row in rows for c in row}
            if path.suffix == ".jsonl":
                assert seen <= set(declared) and "customer_id" in seen, (path, seen)
            else:
                assert list(rows[0]) == declared, path
            total += len(rows)
        assert total == counts["rows"][feed.name], feed.name


def test_ground_truth_covers_every_customer_record_and_stays_out_of_the_drop(
        tenant: Tenant, generated: tuple[Path, dict], rows_by_feed, ground_truth) -> None:
    out, counts = generated
    truth = defaultdict(set)
    for row in ground_truth:
        truth[row["feed"]].add(row["pk"])
        assert row["source"] == row["feed"].split("_")[0]
        assert re.fullmatch(r"P\d{6}", row["person_id"])
    assert len(ground_truth) == len({(r["feed"], r["pk"]) for r in ground_truth})
    assert len({r["person_id"] for r in ground_truth}) == PEOPLE
    for name in CUSTOMER_FEEDS:
        feed = tenant.feed(name)
        in_files = {_pk(feed, row) for _, rows in rows_by_feed[name] for row in rows} - {""}
        assert in_files == truth[name], name
        assert len(truth[name]) == counts["records"][name]
    assert set(truth) == set(CUSTOMER_FEEDS)
    person_ids = re.compile(rb"P\d{6}")
    for path in (out / "drop").rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            data = gzip.decompress(data) if path.suffix == ".gz" else data
            assert not person_ids.search(data) and b"person_id" not in data, path


def test_transactions_link_to_customers_of_their_own_source(tenant: Tenant,
                                                             rows_by_feed) -> None:
    for _, feed in tenant.feeds:
        for key in feed.fields_tagged("customer-key"):
            customers = tenant.feed(key.references)
            known: set[str] = set()
            for (path, rows), (_, customer_rows) in zip(rows_by_feed[feed.name],
                                                        rows_by_feed[customers.name]):
                # a transaction arrives no earlier than its customer record
                known |= {_pk(customers, r) for r in customer_rows} - {""}
                linked = {r[key.file_column] for r in rows if r.get(key.file_column)}
                assert linked and linked <= known, (path, sorted(linked - known)[:5])
    orders = {r.get("order_id") for _, rows in rows_by_feed["ecom_orders"] for r in rows}
    items = {r["order_id"] for _, rows in rows_by_feed["ecom_order_items"] for r in rows}
    assert items - {None} <= orders - {None}


def test_people_overlap_across_sources_and_repeat_within_one(ground_truth) -> None:
    sources = defaultdict(set)
    per_feed = defaultdict(int)
    for row in ground_truth:
        sources[row["person_id"]].add(row["source"])
        per_feed[(row["person_id"], row["feed"])] += 1
    in_two = sum(len(s) >= 2 for s in sources.values()) / len(sources)
    assert in_two >= 0.5, in_two
    assert any(len(s) == 4 for s in sources.values())
    assert sum(n > 1 for n in per_feed.values()) >= 10


def test_junk_values_are_shared_by_unrelated_people(
        tenant: Tenant, rows_by_feed, ground_truth) -> None:
    person = {(r["feed"], r["pk"]): r["person_id"] for r in ground_truth}
    holders = defaultdict(set)
    for name in CUSTOMER_FEEDS:
        feed = tenant.feed(name)
        columns = [f.file_column for f in feed.fields
                   if {"email", "phone", "address"} & set(f.tags)]
        for _, rows in rows_by_feed[name]:
            for row in rows:
                owner = person.get((name, _pk(feed, row)))
                for column in columns:
                    value = str(row.get(column) or "").strip()
                    digits = re.sub(r"\D", "", value)[-10:]
                    holders[value.lower()].add(owner)
                    if len(digits) == 10:
                        holders[digits].add(owner)
    for junk in ("test@test.com", "none@none.com", "0000000000", "1111111111", "n/a"):
        assert len(holders[junk] - {None}) >= 3, (junk, len(holders[junk]))


def test_identity_noise_shows_in_the_files(rows_by_feed) -> None:
    pos = [r for _, rows in rows_by_feed["pos_customers"] for r in rows]
    phones = [str(r["phone"]) for r in pos if r["phone"]]
    for shape in (r"\(\d{3}\) \d{3}-\d{4}", r"\d{3}\.\d{3}\.\d{4}", r"\+1 \d{3} \d{3} \d{4}"):
        assert any(re.fullmatch(shape, p) for p in phones), shape
    emails = [str(r["email"]) for r in pos if r["email"]]
    assert any(e.strip().isupper() for e in emails)
    assert any(e != e.strip() for e in emails)
    assert any(re.fullmatch(r"\d{5}-\d{4}", str(r["zip"])) for r in pos if r["zip"])
    loyalty = [r for _, rows in rows_by_feed["loyalty_members"] for r in rows]
    assert any(", " in str(r["full_name"]) for r in loyalty)
    assert any(str(r["full_name"]).count(" ") == 1 and "," not in str(r["full_name"])
               for r in loyalty)
    opt_in = {r["opt_in"] for _, rows in rows_by_feed["email_subscribers"] for r in rows}
    assert {"true", "false", "yes", "no"} <= opt_in


def test_later_day_brings_updates_with_newer_timestamps_and_new_records(
        tenant: Tenant, rows_by_feed) -> None:
    for name in ("pos_customers", "ecom_customers"):
        feed = tenant.feed(name)
        fmt = _strptime_format(feed.field("updated_at").format or "")
        (_, day1), (_, day2) = rows_by_feed[name]
        first = {_pk(feed, r): r for r in day1 if r.get("customer_id")}
        updated = [r for r in day2 if _pk(feed, r) in first]
        assert len(updated) >= 5, name
        for row in updated:
            before = datetime.strptime(str(first[_pk(feed, row)]["updated_at"]), fmt)
            assert datetime.strptime(str(row["updated_at"]), fmt) > before
        assert len({_pk(feed, r) for r in day2} - set(first) - {""}) >= 5, name


# --- rows that must be quarantined ---------------------------------------------------


def _typable(field, value: object) -> bool:
    if value is None:
        return True
    text = str(value)
    if field.type in ("date", "timestamp"):
        try:
            datetime.strptime(text, _strptime_format(field.format or ""))
        except ValueError:
            return False
        return True
    if field.type in ("int", "long"):
        return isinstance(value, int) or re.fullmatch(r"-?\d+", text) is not None
    if field.type in ("decimal", "double"):
        return isinstance(value, (int, float)) or re.fullmatch(r"-?\d+(\.\d+)?", text) is not None
    if field.type == "boolean":
        return text.lower() in ("true", "false", "yes", "no")
    return True


def test_bad_rows_are_present_and_listed_in_the_quarantine_truth(
        tenant: Tenant, rows_by_feed, quarantine_truth,
        generated: tuple[Path, dict]) -> None:
    counts = generated[1]
    expected = defaultdict(list)
    for q in quarantine_truth:
        expected[(q["feed"], q["file"])].append(q)
    drop = generated[0] / "drop"
    for _, feed in tenant.feeds:
        assert counts["missing_pk"][feed.name] >= DAYS, feed.name
        for path, rows in rows_by_feed[feed.name]:
            listed = expected[(feed.name, path.relative_to(drop).as_posix())]
            missing_key = [r for r in rows if any(r.get(k) is None for k in feed.primary_key)]
            assert len(missing_key) == sum(q["reason"] == "missing primary key" for q in listed)
            untypable = sorted(
                (_pk(feed, r), f.name, str(r[f.file_column]))
                for r in rows if _pk(feed, r) and all(r.get(k) is not None for k in feed.primary_key)
                for f in feed.fields if not _typable(f, r.get(f.file_column)))
            assert untypable == sorted((q["pk"], q["column"], q["value"]) for q in listed
                                       if q["reason"] == "value cannot be typed"), path
            if feed.name != "ecom_order_items":
                assert untypable, f"{path} has no row that fails typing"
    assert sum(counts["bad_values"].values()) == sum(
        q["reason"] == "value cannot be typed" for q in quarantine_truth)


def test_cli_writes_files_and_rejects_bad_arguments(tmp_path: Path, capsys) -> None:
    assert generator.main(["--people", "30", "--seed", "5", "--out", str(tmp_path)]) == 0
    counts = json.loads(capsys.readouterr().out)
    assert counts["people"] == 30 and (tmp_path / "ground_truth.csv").is_file()
    with pytest.raises(SystemExit) as exit_info:
        generator.main(["--people", "0", "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "people must be at least 1" in capsys.readouterr().err


def test_households_truth_lists_every_person_once(generated: tuple[Path, dict],
                                                  ground_truth: list[dict[str, str]]) -> None:
    with (generated[0] / "households_truth.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    household_of = {r["person_id"]: r["household_id"] for r in rows}
    assert len(household_of) == len(rows) == generated[1]["people"]
    assert len(set(household_of.values())) == generated[1]["households"]
    assert {r["person_id"] for r in ground_truth} <= set(household_of)
    # Households of more than one person exist (the generator makes families).
    assert max(Counter(household_of.values()).values()) > 1
