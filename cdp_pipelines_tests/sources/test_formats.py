"""Formats on a real Spark: delimiters, JSON paths, Parquet, Avro, archives, PGP, and
malformed input quarantined with its line and reason."""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from cdp_pipelines.sources.formats import (
    CORRUPT,
    LINE,
    READ_ERROR,
    UnreadableFileError,
    read_raw,
)
from cdp_pipelines.tenant.sources import FeedSpec, FieldSpec, FormatSpec

FEED = FeedSpec(name="people", courier="c", primary_key=("id",),
                fields=(FieldSpec(name="id"), FieldSpec(name="name")))
NESTED = FeedSpec(name="nested", courier="c", primary_key=("id",),
                  fields=(FieldSpec(name="id"),
                          FieldSpec(name="city", source_column="address.city"),
                          FieldSpec(name="zip", type="int", source_column="address.zip")))


def rows(df) -> list[dict]:
    return sorted((r.asDict() for r in df.collect()), key=lambda r: r[LINE] or 0)


def good(df, column="id") -> list:
    return sorted(r[column] for r in df.where(f"{CORRUPT} IS NULL").collect())


def test_csv_bad_rows_keep_line_and_reason(spark, tmp_path) -> None:
    path = tmp_path / "people.csv"
    path.write_bytes(b'id,name\n1,Ann\n2,B\xe9a\n\n3,x,extra\n4,"Lee, Jo"\n5\n')
    out = rows(read_raw(spark, path, FormatSpec(), FEED))
    by_line = {r[LINE]: r for r in out}
    assert sorted(by_line) == [2, 3, 5, 6, 7]  # physical lines; the blank line 4 is skipped
    assert by_line[2] == {"id": "1", "name": "Ann", CORRUPT: None, LINE: 2, READ_ERROR: None}
    assert by_line[6]["name"] == "Lee, Jo" and by_line[6][CORRUPT] is None
    assert by_line[3][READ_ERROR] == "bad encoding: not valid utf-8 (byte 0xe9 at column 4)"
    assert by_line[3][CORRUPT] == "2,B\ufffda"
    assert by_line[5][CORRUPT] == "3,x,extra" and "wrong number of fields" in by_line[5][READ_ERROR]
    assert by_line[7][CORRUPT] == "5" and by_line[7][READ_ERROR]



def test_csv_row_with_wrong_field_count_is_malformed_whatever_is_read(spark, tmp_path) -> None:
    """A query reading only some columns (no cache in between) still sees the bad rows."""
    path = tmp_path / "people.csv"
    path.write_text("id,name\n1,Ann\n2,Bo,extra\n3\n")
    df = read_raw(spark, path, FormatSpec(), FEED)
    assert good(df.select("id", CORRUPT)) == ["1"]
    assert good(df.select("name", CORRUPT), "name") == ["Ann"]

def test_declared_encoding_delimiters_and_no_header(spark, tmp_path) -> None:
    latin = tmp_path / "people.tsv"
    latin.write_bytes("id\tname\n1\tZo\u00eb\n".encode("latin-1"))
    df = read_raw(spark, latin, FormatSpec(type="tsv", encoding="latin-1"), FEED)
    assert [(r["id"], r["name"]) for r in df.collect()] == [("1", "Zo\u00eb")]
    psv = tmp_path / "people.psv"
    psv.write_text("1|'A|B'\n2|C\n")
    df = read_raw(spark, psv, FormatSpec(type="psv", header=False, quote="'", escape="\\"), FEED)
    assert [(r["id"], r["name"], r[LINE]) for r in rows(df)] == [("1", "A|B", 1), ("2", "C", 2)]


def test_jsonl_nested_paths_and_bad_lines(spark, tmp_path) -> None:
    path = tmp_path / "people.jsonl"
    path.write_text('{"id": 1, "address": {"city": "Oslo", "zip": 150}}\n'
                    '{"id": 2, "address": \n'
                    '[1, 2]\n'
                    '{"id": 3}\n')
    out = {r[LINE]: r for r in rows(read_raw(spark, path, FormatSpec(type="jsonl"), NESTED))}
    assert (out[1]["id"], out[1]["address.city"], out[1]["address.zip"]) == ("1", "Oslo", "150")
    assert out[2][CORRUPT] == '{"id": 2, "address": ' and "does not parse" in out[2][READ_ERROR]
    assert out[3][READ_ERROR] == "malformed JSON line: not a JSON object"
    assert (out[4]["id"], out[4]["address.city"], out[4][CORRUPT]) == ("3", None, None)


def test_a_truncated_gzip_is_unreadable_as_a_whole(spark, tmp_path) -> None:
    # A partial file is not a delivery: none of its rows may load (issue 17).
    body = b"id,name\n" + b"".join(b"%d,n%d\n" % (i, i) for i in range(1, 3001))
    data = gzip.compress(body)
    path = tmp_path / "people.csv.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(UnreadableFileError,
                       match=r"people\.csv\.gz: truncated or corrupt archive after line \d+"):
        read_raw(spark, path, FormatSpec(), FEED)


def test_unreadable_files_fail_with_the_file_named(spark, tmp_path) -> None:
    fake = tmp_path / "people.csv.gz"
    fake.write_bytes(b"id,name\n1,a\n")
    with pytest.raises(UnreadableFileError, match=r"people\.csv\.gz: cannot be read"):
        read_raw(spark, fake, FormatSpec(), FEED)
    zipped = tmp_path / "drop.zip"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(UnreadableFileError, match=r"drop\.zip: no file .* matches .*\*\.csv"):
        read_raw(spark, zipped, FormatSpec(member_pattern="*.csv"), FEED)
    other = tmp_path / "other.csv"
    other.write_text("key,value\n1,a\n")
    with pytest.raises(UnreadableFileError, match=r"columns \['id', 'name'\] .* not in the file"):
        read_raw(spark, other, FormatSpec(), FEED)


def test_archives_read_matching_members(spark, tmp_path) -> None:
    zipped = tmp_path / "drop.zip"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("2026/a.csv", "id,name\n1,a\n")
        archive.writestr("b.csv", "id,name\n2,b\n3,c\n")
        archive.writestr("manifest.json", "{}")
    assert good(read_raw(spark, zipped, FormatSpec(member_pattern="*.csv"), FEED)) == [
        "1", "2", "3"]
    tgz = tmp_path / "drop.tgz"
    with tarfile.open(tgz, "w:gz") as archive:
        for name, text in (("x/people_1.csv", "id,name\n7,g\n"), ("x/skip.csv", "id,name\n8,h\n")):
            info = tarfile.TarInfo(name)
            info.size = len(text)
            archive.addfile(info, io.BytesIO(text.encode()))
    df = read_raw(spark, tgz, FormatSpec(member_pattern="x/people_*.csv"), FEED)
    assert good(df) == ["7"]


def test_parquet_and_avro_with_nested_paths(spark, tmp_path) -> None:
    import fastavro
    import pandas as pd

    parquet = tmp_path / "people.parquet"
    pd.DataFrame({"id": [10, 11], "name": ["p", "q"]}).to_parquet(parquet)
    df = read_raw(spark, parquet, FormatSpec(type="parquet"), FEED)
    assert [(r["id"], r["name"], r[LINE]) for r in rows(df)] == [("10", "p", 1), ("11", "q", 2)]

    schema = {"type": "record", "name": "person", "fields": [
        {"name": "id", "type": "long"},
        {"name": "address", "type": {"type": "record", "name": "address", "fields": [
            {"name": "city", "type": "string"}, {"name": "zip", "type": "int"}]}}]}
    avro = tmp_path / "people.avro"
    with avro.open("wb") as fh:
        fastavro.writer(fh, schema, [{"id": 1, "address": {"city": "Rome", "zip": 100}},
                                     {"id": 2, "address": {"city": "Bonn", "zip": 531}}])
    df = read_raw(spark, avro, FormatSpec(type="avro"), NESTED)
    assert [(r["id"], r["address.city"], r["address.zip"]) for r in rows(df)] == [
        ("1", "Rome", "100"), ("2", "Bonn", "531")]


def test_pgp_encrypted_gzip_is_decrypted_with_the_configured_key(spark, tmp_path,
                                                                   pgp_keys) -> None:
    from cdp_pipelines.transports import Pgp

    plain = tmp_path / "people.csv.gz"
    plain.write_bytes(gzip.compress(b"id,name\n1,secret\n2,agent\n"))
    encrypted = tmp_path / "people.csv.gz.pgp"
    Pgp(public_key=Path(pgp_keys["public"]).read_text()).encrypt_file(plain, encrypted)
    fmt = FormatSpec(pgp={"private_key_file": str(pgp_keys["private"]),
                          "passphrase_file": str(pgp_keys["passphrase_file"])})
    assert good(read_raw(spark, encrypted, fmt, FEED), "name") == ["agent", "secret"]
    wrong = FormatSpec(pgp={"private_key_file": str(pgp_keys["public"])})
    with pytest.raises(UnreadableFileError, match=r"people\.csv\.gz\.pgp: cannot be decrypted"):
        read_raw(spark, encrypted, wrong, FEED)
