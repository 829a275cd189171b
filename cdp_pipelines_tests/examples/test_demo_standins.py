"""The demo's S3 and SFTP stand-ins: started by the project, fed by `cdp demo publish`, and
read by the demo tenant's own courier configuration (the path `make demo` takes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cdp_pipelines.deployment import DEMO_TENANT_DIR
from cdp_pipelines.examples import standins
from cdp_pipelines.examples.demo_tenant import generator
from cdp_pipelines.sources.couriers import land
from cdp_pipelines.tenant import load_tenant


def test_publish_then_the_tenant_couriers_land_the_same_bytes(demo_standins,
                                                              tmp_path: Path) -> None:
    generator.generate(tmp_path / "demo", people=30, seed=5, days=2)
    drop = tmp_path / "demo" / "drop"
    counts = standins.publish(drop, demo_standins)
    assert counts == {"s3:ecom": 6, "sftp:email": 2}
    # Starting again is a no-op while both answer; publishing again re-uploads harmlessly.
    assert standins.start(demo_standins) == demo_standins
    assert standins.status(demo_standins) == {"s3": True, "sftp": True}

    tenant = load_tenant(DEMO_TENANT_DIR,
                         env={"CDP_DEMO_DROP": str(drop), **demo_standins.env()})
    remote = [c for _, c in tenant.couriers if c.type in ("s3", "sftp")]
    assert {c.type for c in remote} == {"s3", "sftp"}
    for courier in remote:
        landed = land(courier, tmp_path / "landing" / courier.name)
        assert len(landed) == 2 and all(f.newly_landed for f in landed), courier.name
        for item in landed:
            assert item.path.read_bytes() == (drop / item.relpath).read_bytes()
        # Incremental: nothing new on the second pull.
        assert not any(f.newly_landed for f in land(courier, tmp_path / "landing" / courier.name))


def test_publish_refuses_when_a_stand_in_is_down(tmp_path: Path) -> None:
    down = standins.StandIns.on_free_ports(tmp_path)
    with pytest.raises(standins.StandInError, match=r"not running: `cdp demo services start`"):
        standins.publish(tmp_path, down)
