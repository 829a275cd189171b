from pathlib import Path

import pytest

from cdp_pipelines.deployment import DeploymentError, get_deployment


def test_prod_and_sandbox_prefixes(tmp_path: Path) -> None:
    prod = get_deployment({"CDP_LAKE_ROOT": str(tmp_path)})
    box = get_deployment({"CDP_LAKE_ROOT": str(tmp_path), "CDP_SANDBOX": "feature-x"})
    assert prod.path("domain", "t") == f"{tmp_path}/prod/domain/t"
    assert box.path("domain", "t") == f"{tmp_path}/branches/feature-x/domain/t"
    # A sandbox replays production's landing files.
    assert box.landing_read_path("pos") == f"{tmp_path}/prod/landing/pos"


def test_sandbox_cannot_write_outside_its_prefix(tmp_path: Path) -> None:
    box = get_deployment({"CDP_LAKE_ROOT": str(tmp_path), "CDP_SANDBOX": "feature-x"})
    assert box.check_writable(box.path("stitch", "unified_scores"))
    for outside in (f"{tmp_path}/prod/domain/t", f"{tmp_path}/branches/other/domain/t",
                    f"{tmp_path}/branches/feature-x/../../prod/domain/t",
                    f"{tmp_path}/branches/feature-x-evil/domain/t", "/tmp/elsewhere"):
        with pytest.raises(DeploymentError, match="may only write under"):
            box.check_writable(outside)
    with pytest.raises(DeploymentError, match="may not contain"):
        box.path("domain", "../../prod")


def test_bad_sandbox_name_and_layer(tmp_path: Path) -> None:
    with pytest.raises(DeploymentError, match="not a valid sandbox name"):
        get_deployment({"CDP_LAKE_ROOT": str(tmp_path), "CDP_SANDBOX": "../prod"})
    with pytest.raises(DeploymentError, match="unknown lake layer"):
        get_deployment({"CDP_LAKE_ROOT": str(tmp_path)}).path("nowhere")
