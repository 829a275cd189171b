"""An orchestration end to end: segments > campaign > delivery asset, with the real Trino,
Spark, an S3 server (moto) allowed for the sandbox, and the sandbox outbox for the other
treatment; a second run the same day sends nothing."""

from __future__ import annotations

import gzip
import io
import shutil
from pathlib import Path

import boto3
import pandas as pd
import pytest
import yaml
from dagster import AssetSelection, DagsterInstance, materialize

from cdp_pipelines.activation.audience_assets import (
    audience_rows_sql,
    build_audience_assets,
)
from cdp_pipelines.deployment import Deployment
from cdp_pipelines.keys import campaign_key, delivery_key, segment_key
from cdp_pipelines.orchestration.orchestrations import build_delivery_assets
from cdp_pipelines.tenant import load_tenant
from cdp_pipelines_tests.activation.audiences.conftest import SANDBOX, TENANT

BUCKET = "orchestration-test"


def _s3(standins):
    home = standins.home
    return boto3.client(
        "s3", endpoint_url=standins.s3_endpoint, region_name="us-east-1",
        aws_access_key_id=(home / "s3_access_key_id").read_text().strip(),
        aws_secret_access_key=(home / "s3_secret_access_key").read_text().strip())


@pytest.fixture(scope="module")
def tenant(tmp_path_factory, demo_standins) -> Path:
    root = tmp_path_factory.mktemp("orch-tenant") / "tenant"
    shutil.copytree(TENANT, root)
    campaigns = yaml.safe_load((root / "activation" / "campaigns.yaml").read_text())
    campaigns["campaigns"][0]["launch_date"] = "2026-01-01"
    # The tiny merged_customers has no surname etc.: name what "ads" receives.
    campaigns["campaigns"][0]["attributes"]["ads"] = ["given_name", "state"]
    (root / "activation" / "campaigns.yaml").write_text(yaml.safe_dump(campaigns))
    s3 = demo_standins.s3_store_config(BUCKET)
    s3.pop("type")
    files = {
        "destinations": {"destinations": [
            {"name": "email_tool", "type": "s3", "options": {**s3, "prefix": "audiences"},
             "format": "csv", "compression": "gzip", "allow_in_sandbox": True,
             "filename": "{campaign}/{treatment}_{date:%Y%m%d}{ext}"},
            {"name": "ads", "type": "local", "options": {"root": str(root / "never")},
             "format": "jsonl"}]},
        "templates": {"templates": [{
            "name": "email_fields", "required": ["email_address"],
            "fields": {"customer_id": "amperity_id", "first_name": "given_name",
                       "email_address": "email", "group": "treatment"},
            "static": {"list": "winback"}}]},
        "orchestrations": {"orchestrations": [{
            "name": "winback_out", "campaign": "winback",
            "templates": {"email_tool": "email_fields"}}]},
    }
    for name, content in files.items():
        (root / "activation" / f"{name}.yaml").write_text(yaml.safe_dump(content, sort_keys=False))
    _s3(demo_standins).create_bucket(Bucket=BUCKET)
    return root


def test_campaign_delivered_once_to_s3_and_the_sandbox_outbox(
        tenant, trino_lake, lake, admin, c360, demo_standins) -> None:
    deployment = Deployment(lake_root=str(trino_lake / "audiences"), sandbox=SANDBOX,
                            tenant_dir=tenant)
    cfg = load_tenant(tenant, env={})
    assets = [*build_audience_assets(cfg, deployment),
              *build_delivery_assets(cfg, deployment, "UTC")]
    selection = AssetSelection.assets(
        segment_key("west_high_value"), segment_key("employees"), campaign_key("winback"),
        delivery_key("winback_out"))

    def run():
        result = materialize(assets, selection=selection, resources={"lake": lake,
                             "trino": admin}, instance=DagsterInstance.ephemeral(),
                             raise_on_error=False)
        assert result.success
        [event] = [e for e in result.get_asset_materialization_events()
                   if e.asset_key == delivery_key("winback_out")]
        return {k: v.value for k, v in event.materialization.metadata.items()}

    first = run()
    day = first["delivery_date"].replace("-", "")
    deliveries = first["deliveries"]
    assert {k: v["status"] for k, v in deliveries.items()} == {
        "email_offer -> email_tool": "sent", "paid_social -> ads": "sent"}

    # S3: the file and its marker; rows = the treatment's recipients with an email.
    expected = admin.query_df(audience_rows_sql("campaign", "winback", "email_offer",
                                                ("given_name", "email"),
                                                deployment=deployment))
    expected = expected[expected["email"].notna()]
    s3 = _s3(demo_standins)
    key = f"audiences/winback/email_offer_{day}.csv.gz"
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert {key, key + ".DONE"} <= keys
    body = gzip.decompress(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    sent = pd.read_csv(io.BytesIO(body), dtype=str)
    assert list(sent.columns) == ["customer_id", "first_name", "email_address", "group",
                                  "list"]
    assert sorted(sent["customer_id"]) == sorted(expected["amperity_id"])
    assert set(sent["group"]) <= {"email_offer"} and set(sent["list"]) <= {"winback"}
    assert deliveries["email_offer -> email_tool"]["rows"] == len(sent)

    # The other destination is not allowed in sandboxes: its file is in the outbox.
    outbox = Path(deployment.path("outbox", "ads"))
    written = sorted(p.name for p in outbox.rglob("*") if p.is_file())
    assert f"winback_paid_social_{day}.jsonl" in written
    assert f"winback_paid_social_{day}.jsonl.DONE" in written
    assert not (tenant / "never").exists()

    # The same rows the same day: nothing is sent again.
    second = run()
    assert {v["status"] for v in second["deliveries"].values()} == {"skipped"}
    assert second["rows_sent"] == 0
