"""Delivery files: every format parsed back, compression, PGP, file names."""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from datetime import date

import pandas as pd
import pytest

from cdp_pipelines.activation import files
from cdp_pipelines.transports import Pgp, PgpOptions


@pytest.fixture
def rows(audience, template):
    from cdp_pipelines.activation.templates import apply_template

    return apply_template(audience, template).rows


def parse(data: bytes, fmt: str) -> pd.DataFrame:
    if fmt == "csv":
        return pd.read_csv(io.BytesIO(data))
    if fmt == "tsv":
        return pd.read_csv(io.BytesIO(data), sep="\t")
    if fmt == "jsonl":
        return pd.DataFrame([json.loads(line) for line in data.decode().splitlines()])
    return pd.read_parquet(io.BytesIO(data))


@pytest.mark.parametrize("fmt", files.FORMATS)
def test_each_format_parses_back_to_the_same_rows(rows, fmt):
    back = parse(files.render(rows, fmt), fmt)
    pd.testing.assert_frame_equal(back, rows, check_dtype=False)


def test_csv_quotes_delimiters_and_keeps_unicode():
    frame = pd.DataFrame({"name": ['Dée, "DJ"', "plain"], "n": [1, 2]})
    data = files.render(frame, "csv")
    assert data.decode("utf-8").splitlines()[1] == '"Dée, ""DJ""",1'
    pd.testing.assert_frame_equal(parse(data, "csv"), frame)


def test_gzip_and_zip_round_trip_and_are_deterministic(rows):
    plain = files.render(rows, "csv")
    gz = files.compress(plain, "gzip", "x.csv")
    assert gzip.decompress(gz) == plain
    assert files.compress(plain, "gzip", "x.csv") == gz  # same bytes on a re-render

    archive = zipfile.ZipFile(io.BytesIO(files.compress(plain, "zip", "spring_a_20261123.csv")))
    assert archive.namelist() == ["spring_a_20261123.csv"]
    assert archive.read("spring_a_20261123.csv") == plain


def test_pgp_file_decrypts_with_the_private_key_to_the_rows(rows, pgp_keys, monkeypatch):
    data = files.render_file(
        rows, fmt="jsonl", compression="gzip", file_name="out.jsonl.gz.pgp",
        pgp=PgpOptions(public_key_file=str(pgp_keys["public"])),
    )
    assert b"ann@example.com" not in data and not data.startswith(b"\x1f\x8b")
    monkeypatch.setenv("DELIVERY_PGP_KEY", pgp_keys["private"].read_text())
    decrypter = Pgp.from_options(
        PgpOptions(private_key_env="DELIVERY_PGP_KEY",
                   passphrase_file=str(pgp_keys["passphrase_file"]))
    )
    back = parse(gzip.decompress(decrypter.decrypt(data)), "jsonl")
    pd.testing.assert_frame_equal(back, rows, check_dtype=False)


def test_filename_tokens_and_extension():
    name = files.render_filename(
        "{orchestration}/{campaign}_{treatment}_{date:%Y%m%d}{ext}",
        campaign="spring", treatment="a", orchestration="daily", delivery_date=date(2026, 11, 23),
        ext=files.extension("csv", "gzip", encrypted=True),
    )
    assert name == "daily/spring_a_20261123.csv.gz.pgp"
    assert files.extension("parquet", "zip", encrypted=False) == ".zip"
    with pytest.raises(files.FileRenderError, match="only {date} takes a format"):
        files.check_filename_template("{campaign:>10}.csv")


def test_content_hash_ignores_row_order_but_not_values(rows):
    shuffled = rows.iloc[::-1].reset_index(drop=True)
    assert files.content_sha256(shuffled) == files.content_sha256(rows)
    pd.testing.assert_frame_equal(files.canonical_order(shuffled), files.canonical_order(rows))
    changed = rows.copy()
    changed.loc[0, "ltv"] = 1.0
    assert files.content_sha256(changed) != files.content_sha256(rows)
