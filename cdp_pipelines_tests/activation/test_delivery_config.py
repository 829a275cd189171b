"""Destination config: the YAML file, and errors that name file and field."""

from __future__ import annotations

import pytest

from cdp_pipelines.tenant import ConfigError
from cdp_pipelines.tenant.loader import load_destinations

GOOD = """\
destinations:
  - name: vendor_sftp
    type: sftp
    options:
      host: sftp.vendor.invalid
      username: cdp
      private_key_env: VENDOR_KEY
      root: /inbound
    format: tsv
    compression: gzip
    pgp: {public_key_file: keys/vendor.asc}
    filename: "exports/{orchestration}/{campaign}-{treatment}-{date:%Y-%m-%d}{ext}"
  - name: ads_api
    type: rest
    options: {base_url: "${ADS_URL}", token_env: ADS_TOKEN}
    path: /v1/members
    batch_size: 250
    method: PUT
  - name: dwh
    type: warehouse
    options: {url_env: DWH_URL}
    table: recipients
    schema: marketing
    mode: append
    allow_in_sandbox: true
"""


def write(tmp_path, text: str):
    (tmp_path / "activation").mkdir(exist_ok=True)
    file = tmp_path / "activation" / "destinations.yaml"
    file.write_text(text)
    return file


def test_destinations_load_with_defaults_and_tenant_relative_key(tmp_path):
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "vendor.asc").write_text("public key")
    write(tmp_path, GOOD)

    loaded = load_destinations(tmp_path, {"ADS_URL": "https://ads.invalid"})

    sftp, api, dwh = loaded["vendor_sftp"], loaded["ads_api"], loaded["dwh"]
    assert (sftp.format, sftp.compression, sftp.done_marker) == ("tsv", "gzip", True)
    assert sftp.pgp.public_key_file == str(tmp_path / "keys" / "vendor.asc")
    assert sftp.options.type == "sftp"
    assert (api.options.base_url, api.batch_size, api.method) == ("https://ads.invalid", 250,
                                                                  "PUT")
    assert (dwh.table, dwh.db_schema, dwh.mode, dwh.allow_in_sandbox) == (
        "recipients", "marketing", "append", True)
    assert not sftp.allow_in_sandbox


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("- {name: s, type: sftp, options: {host: h, username: u, password: hunter2}}",
         "destinations[0].options.sftp: Value error, ['password'] must not hold secrets"),
        ("- {name: r, type: rest, options: {base_url: 'http://x', token: abc}, path: /p}",
         "destinations[0].options.rest: Value error, ['token'] must not hold secrets"),
        ("- {name: w, type: warehouse, options: {url: 'postgresql://u:p@h/db'}, table: t}",
         "destinations[0].options.warehouse: Value error, ['url'] must not hold secrets"),
        ("- {name: s, type: s3, options: {bucket: b}, filename: '{campaign}_{segment}.csv'}",
         "destinations[0].filename: Value error, filename '{campaign}_{segment}.csv': unknown "
         "token {segment}"),
        ("- {name: s, type: s3, options: {bucket: b}, table: t}",
         "destination s (s3): ['table'] apply only to warehouse destinations"),
        ("- {name: r, type: rest, options: {base_url: 'http://x'}, path: /p, format: csv}",
         "destination r (rest): ['format'] apply only to file destinations"),
        ("- {name: r, type: rest, options: {base_url: 'http://x'}}",
         "destination r (rest): 'path' is required"),
        ("- {name: a, type: azure_blob, options: {prefix: out}}",
         "destinations[0].options.azure_blob.container: Field required"),
        ("- {name: r, type: rest, path: /p, options: {base_url: 'http://x', "
         "headers: {X-Api-Key: abc}}}",
         "destinations[0].options: Value error, headers ['X-Api-Key'] look like credentials"),
        ("- {name: s, type: ftp, options: {}}", "destinations[0].type: Input should be"),
        ("- {name: s, type: s3, options: {bucket: b}, compression: bzip2}",
         "destinations[0].compression: Input should be 'none', 'gzip' or 'zip'"),
        ("- {name: s, type: s3, options: {bucket: b}, colour: red}",
         "destinations[0].colour: Extra inputs are not permitted"),
        ("- {name: s, type: s3, options: {bucket: b}, pgp: {public_key_file: nope.asc}}",
         "destinations[0].pgp.public_key_file: "),
        ("- {name: s, type: s3, options: {bucket: b}}\n"
         "  - {name: s, type: s3, options: {bucket: c}}",
         "destinations[1].name: 's' is already used by destinations[0]"),
    ],
)
def test_config_errors_name_file_and_field(tmp_path, entry, expected):
    write(tmp_path, "destinations:\n  " + entry + "\n")
    with pytest.raises(ConfigError) as error:
        load_destinations(tmp_path, {})
    message = str(error.value)
    assert message.startswith("activation/destinations.yaml: ")
    assert expected in message
    for secret in ("hunter2", "abc", "u:p@h"):
        assert secret not in message
