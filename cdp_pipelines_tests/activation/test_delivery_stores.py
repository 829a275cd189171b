"""deliver() to real file stores (moto S3, Azurite, OpenSSH sftp, local disk), read back."""

from __future__ import annotations

import gzip
import io
import json
import uuid
from datetime import date

import pandas as pd
import pytest

from cdp_pipelines.activation.destinations import DeliveryError, deliver
from cdp_pipelines.activation.templates import apply_template
from cdp_pipelines.tenant.delivery import DestinationSpec
from cdp_pipelines.transports import Pgp, PgpOptions, make_store
from cdp_pipelines_tests.activation.conftest import S3_BUCKET

DAY = date(2026, 11, 23)
S3_SECRET = "s3-secret-never-shown"


def options_for(kind: str, request, monkeypatch) -> dict:
    prefix = f"t-{uuid.uuid4().hex[:8]}"
    if kind == "s3":
        monkeypatch.setenv("DELIVERY_S3_KEY_ID", "test-key")
        monkeypatch.setenv("DELIVERY_S3_SECRET", S3_SECRET)
        return {
            "bucket": S3_BUCKET, "prefix": prefix, "region": "us-east-1",
            "endpoint_url": request.getfixturevalue("s3_endpoint"),
            "access_key_id_env": "DELIVERY_S3_KEY_ID",
            "secret_access_key_env": "DELIVERY_S3_SECRET",
        }
    if kind == "azure_blob":
        monkeypatch.setenv("DELIVERY_AZURE", request.getfixturevalue("azurite").connection_string)
        return {"container": "deliveries", "prefix": prefix, "create_container": True,
                "connection_string_env": "DELIVERY_AZURE"}
    sshd = request.getfixturevalue("sshd")
    root = sshd.root / prefix
    root.mkdir()
    monkeypatch.setenv("DELIVERY_SFTP_KEY", sshd.private_key_file.read_text())
    return {"host": sshd.host, "port": sshd.port, "username": sshd.username, "root": str(root),
            "private_key_env": "DELIVERY_SFTP_KEY", "known_hosts_file": str(sshd.known_hosts_file)}


def run(frame, destination, template, deployment, log, treatment="a"):
    return deliver(
        frame, destination, template, orchestration="daily", treatment=treatment,
        campaign="spring", delivery_date=DAY, deployment=deployment, log=log,
    )


# Each store gets a different format/compression so every combination crosses a real server.
CASES = {
    "s3": {"format": "csv", "compression": "gzip"},
    "azure_blob": {"format": "parquet", "compression": "none"},
    "sftp": {"format": "tsv", "compression": "zip"},
}


def unpack(data: bytes, fmt: str, compression: str) -> pd.DataFrame:
    import zipfile

    if compression == "gzip":
        data = gzip.decompress(data)
    elif compression == "zip":
        archive = zipfile.ZipFile(io.BytesIO(data))
        (member,) = archive.namelist()
        data = archive.read(member)
    if fmt == "parquet":
        return pd.read_parquet(io.BytesIO(data))
    return pd.read_csv(io.BytesIO(data), sep="\t" if fmt == "tsv" else ",")


@pytest.mark.parametrize("kind", list(CASES))
def test_file_lands_with_its_done_marker_and_is_logged(
    kind, request, monkeypatch, audience, template, deployment, log
):
    destination = DestinationSpec(
        name=f"vendor_{kind}", type=kind, options=options_for(kind, request, monkeypatch),
        filename="{orchestration}/{campaign}_{treatment}_{date:%Y%m%d}{ext}", **CASES[kind],
    )
    result = run(audience, destination, template, deployment, log)

    ext = {"s3": ".csv.gz", "azure_blob": ".parquet", "sftp": ".zip"}[kind]
    name = f"daily/spring_a_20261123{ext}"
    assert result.status == "sent"
    assert (result.rows, result.rejected) == (5, 1)
    assert result.files == (name, name + ".DONE")
    assert result.rejects["customer_id"].tolist() == ["a3"]
    store = make_store(destination.options)
    try:
        assert sorted(f.path for f in store.list()) == [name, name + ".DONE"]
        assert store.read_bytes(name + ".DONE") == b""
        back = unpack(store.read_bytes(name), destination.format, destination.compression)
        expected = apply_template(audience, template).rows
        pd.testing.assert_frame_equal(
            back.sort_values("customer_id").reset_index(drop=True), expected, check_dtype=False
        )
        [entry] = log.entries()
        assert (entry.status, entry.rows, entry.target) == ("complete", 5, result.target)
        assert entry.batch_key == result.batch_key and entry.destination == f"vendor_{kind}"
        assert S3_SECRET not in result.target
    finally:
        store.close()


def test_a_repeat_of_the_same_rows_the_same_day_sends_nothing(
    request, monkeypatch, audience, template, deployment, log
):
    destination = DestinationSpec(
        name="vendor_s3", type="s3", options=options_for("s3", request, monkeypatch)
    )
    first = run(audience, destination, template, deployment, log)
    store = make_store(destination.options)
    try:
        # Same rows in another order: skipped, and nothing touches the store.
        store.delete(first.files[0])
        again = run(audience.iloc[::-1], destination, template, deployment, log)
        assert again.status == "skipped" and again.batch_key == first.batch_key
        assert again.rows == 5 and again.target == first.target
        assert "already delivered" in again.message and "nothing sent" in again.message
        assert not store.exists(first.files[0])
        assert len(log.entries()) == 1
    finally:
        store.close()


def test_pgp_file_on_s3_decrypts_to_the_rows(
    request, monkeypatch, audience, template, deployment, log, pgp_keys
):
    destination = DestinationSpec(
        name="secure_vendor", type="s3", options=options_for("s3", request, monkeypatch),
        format="jsonl", compression="gzip", pgp={"public_key_file": str(pgp_keys["public"])},
    )
    result = run(audience, destination, template, deployment, log)
    assert result.files == ("spring_a_20261123.jsonl.gz.pgp", "spring_a_20261123.jsonl.gz.pgp.DONE")

    store = make_store(destination.options)
    encrypted = store.read_bytes(result.files[0])
    store.close()
    monkeypatch.setenv("DELIVERY_PGP_KEY", pgp_keys["private"].read_text())
    plain = Pgp.from_options(
        PgpOptions(private_key_env="DELIVERY_PGP_KEY",
                   passphrase_file=str(pgp_keys["passphrase_file"]))
    ).decrypt(encrypted)
    back = [json.loads(line) for line in gzip.decompress(plain).decode().splitlines()]
    assert sorted(r["customer_id"] for r in back) == ["a1", "a2", "a4", "a5", "a6"]
    assert {r["customer_id"]: r["First Name"] for r in back}["a4"] == "Dée"


def test_failed_upload_leaves_no_marker_and_no_log_row_and_a_retry_delivers(
    tmp_path, audience, template, deployment, log
):
    root = tmp_path / "vendor"
    destination = DestinationSpec(name="vendor_disk", type="local", options={"root": str(root)})
    name = "spring_a_20261123.csv"
    # A directory where the file should go makes the real upload fail.
    (root / name).mkdir(parents=True)
    (root / (name + ".DONE")).write_text("stale marker from an earlier run")

    with pytest.raises(DeliveryError) as error:
        run(audience, destination, template, deployment, log)
    assert "destination 'vendor_disk' (local)" in str(error.value) and name in str(error.value)
    assert not (root / (name + ".DONE")).exists()
    assert log.entries() == []

    (root / name).rmdir()
    result = run(audience, destination, template, deployment, log)
    assert result.status == "sent"
    assert (root / (name + ".DONE")).is_file()
    assert len(pd.read_csv(root / name)) == 5


def test_upload_to_a_missing_bucket_fails_clearly_without_secrets(
    request, monkeypatch, audience, template, deployment, log
):
    options = {**options_for("s3", request, monkeypatch), "bucket": "no-such-bucket"}
    destination = DestinationSpec(name="vendor_s3", type="s3", options=options)
    with pytest.raises(DeliveryError) as error:
        run(audience, destination, template, deployment, log)
    message = str(error.value)
    assert "no-such-bucket" in message and "NoSuchBucket" in message
    assert S3_SECRET not in message
    assert log.entries() == []


def test_changed_rows_the_same_day_are_a_new_delivery(tmp_path, audience, template, deployment,
                                                      log):
    destination = DestinationSpec(name="vendor_disk", type="local",
                                  options={"root": str(tmp_path / "out")})
    first = run(audience, destination, template, deployment, log)
    second = run(audience.iloc[:3], destination, template, deployment, log)
    other_treatment = run(audience, destination, template, deployment, log, treatment="b")
    assert [first.status, second.status, other_treatment.status] == ["sent"] * 3
    assert len({first.batch_key, second.batch_key, other_treatment.batch_key}) == 3
    assert len(pd.read_csv(tmp_path / "out" / "spring_a_20261123.csv")) == 2


def test_sandbox_delivers_to_its_outbox_unless_allowed(tmp_path, spark, audience, template, rest,
                                                       log):
    from cdp_pipelines.activation.delivery_log import DeliveryLog
    from cdp_pipelines.deployment import Deployment

    sandbox = Deployment(lake_root=str(tmp_path / "lake"), sandbox="try-it")
    sandbox_log = DeliveryLog(spark, sandbox)
    real_root = tmp_path / "vendor"
    disk = DestinationSpec(name="vendor_disk", type="local", options={"root": str(real_root)})
    api = DestinationSpec(
        name="ads_api", type="rest", path="/members",
        options={"base_url": rest.base_url, "token_env": "DELIVERY_REST_TOKEN"},
    )

    with pytest.raises(DeliveryError, match="log belongs to deployment 'prod', not 'try-it'"):
        run(audience, disk, template, sandbox, log)
    to_disk = run(audience, disk, template, sandbox, sandbox_log)
    to_api = run(audience, api, template, sandbox, sandbox_log)

    outbox = tmp_path / "lake" / "branches" / "try-it" / "outbox"
    assert not real_root.exists() and rest.requests_to("/members") == []
    assert len(pd.read_csv(outbox / "vendor_disk" / "spring_a_20261123.csv")) == 5
    assert (outbox / "vendor_disk" / "spring_a_20261123.csv.DONE").is_file()
    posted = (outbox / "ads_api" / "spring_a_20261123.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["customer_id"] for line in posted) == ["a1", "a2", "a4", "a5",
                                                                         "a6"]
    assert to_disk.target.startswith(str(outbox)) and to_api.target.startswith(str(outbox))
    assert sandbox_log.path.startswith(str(tmp_path / "lake" / "branches" / "try-it"))

    allowed = disk.model_copy(update={"allow_in_sandbox": True})
    assert run(audience, allowed, template, sandbox, sandbox_log, treatment="b").status == "sent"
    assert (real_root / "spring_b_20261123.csv.DONE").is_file()


def test_a_sandbox_on_an_s3_lake_delivers_to_its_outbox_on_the_bucket(
        tmp_path, spark, s3_endpoint, monkeypatch, audience, template):
    import boto3

    from cdp_pipelines.activation.delivery_log import DeliveryLog
    from cdp_pipelines.deployment import Deployment
    from cdp_pipelines.resources.lake_storage import configure_lake_access

    for name, value in (("AWS_ENDPOINT_URL_S3", s3_endpoint), ("AWS_ACCESS_KEY_ID", "test"),
                        ("AWS_SECRET_ACCESS_KEY", "test"), ("AWS_REGION", "us-east-1")):
        monkeypatch.setenv(name, value)
    lake = f"s3a://{S3_BUCKET}/outbox-lake-{uuid.uuid4().hex[:8]}"
    configure_lake_access(spark, [lake])
    sandbox = Deployment(lake_root=lake, sandbox="try-it")
    sandbox_log = DeliveryLog(spark, sandbox)
    real_root = tmp_path / "vendor"
    disk = DestinationSpec(name="vendor_disk", type="local", options={"root": str(real_root)})

    sent = run(audience, disk, template, sandbox, sandbox_log)
    again = run(audience, disk, template, sandbox, sandbox_log)

    prefix = f"{lake.split('/', 3)[3]}/branches/try-it/outbox/vendor_disk/"
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")
    keys = sorted(o["Key"] for o in client.list_objects_v2(
        Bucket=S3_BUCKET, Prefix=prefix)["Contents"])
    assert keys == [prefix + "spring_a_20261123.csv", prefix + "spring_a_20261123.csv.DONE"]
    body = client.get_object(Bucket=S3_BUCKET, Key=keys[0])["Body"].read()
    assert len(pd.read_csv(io.BytesIO(body))) == 5
    assert not real_root.exists()
    assert sent.status == "sent" and again.status == "skipped"
    assert sent.target == f"s3://{S3_BUCKET}/{keys[0]}"


def test_a_sandbox_on_an_azure_lake_delivers_to_its_outbox_in_the_container(
        tmp_path, spark, azurite, monkeypatch, audience, template):
    """The outbox is reached as the lake is: the account key by its variable's name, the
    Blob endpoint of the lake's account (Azurite's here). Read back with Azure's SDK."""
    from azure.storage.blob import BlobServiceClient

    from cdp_pipelines.activation.delivery_log import DeliveryLog
    from cdp_pipelines.deployment import Deployment
    from cdp_pipelines.resources.lake_storage import configure_lake_access
    from cdp_pipelines_tests import servers

    monkeypatch.setenv("AZURE_STORAGE_KEY", servers.AZURITE_KEY)
    monkeypatch.setenv("CDP_AZURE_BLOB_ENDPOINT", azurite.blob_endpoint.rsplit("/", 1)[0])
    blobs = BlobServiceClient.from_connection_string(azurite.connection_string)
    container = blobs.get_container_client("outbox-lake")
    if not container.exists():
        container.create_container()
    prefix = f"acme-{uuid.uuid4().hex[:8]}"
    lake = f"abfs://outbox-lake@{servers.AZURITE_ACCOUNT}.dfs.core.windows.net/{prefix}"
    configure_lake_access(spark, [lake])
    sandbox = Deployment(lake_root=lake, sandbox="try-it")
    disk = DestinationSpec(name="vendor_disk", type="local",
                           options={"root": str(tmp_path / "vendor")})
    try:
        log = DeliveryLog(spark, sandbox)
        sent = run(audience, disk, template, sandbox, log)
        again = run(audience, disk, template, sandbox, log)
    finally:
        # Closed while Azurite runs: at the JVM's exit its finalizer would wait for it.
        jvm = spark.sparkContext._jvm
        jvm.org.apache.hadoop.fs.Path(lake).getFileSystem(
            spark.sparkContext._jsc.hadoopConfiguration()).close()
    outbox = f"{prefix}/branches/try-it/outbox/vendor_disk/"
    names = sorted(b.name for b in container.list_blobs(name_starts_with=outbox))
    assert names == [outbox + "spring_a_20261123.csv", outbox + "spring_a_20261123.csv.DONE"]
    body = container.download_blob(names[0]).readall()
    assert len(pd.read_csv(io.BytesIO(body))) == 5
    assert not (tmp_path / "vendor").exists()
    assert sent.status == "sent" and again.status == "skipped"
    assert servers.AZURITE_KEY not in repr(sent)
