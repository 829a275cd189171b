import shutil
from pathlib import Path

import pytest

from cdp_pipelines.tenant import ConfigError, load_tenant
from cdp_pipelines_tests.conftest import TINY_TENANT

ENV = {"CDP_TEST_DROP": "/data/drop"}


@pytest.fixture
def tenant(tmp_path: Path) -> Path:
    dest = tmp_path / "tenant"
    shutil.copytree(TINY_TENANT, dest)
    return dest


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_tiny_tenant_loads_with_env_interpolation(tenant: Path) -> None:
    config = load_tenant(tenant, env=ENV)
    assert config.tenant.name == "tiny_shop"
    assert [s.name for s in config.sources] == ["club", "shop"]
    shop = config.source("shop")
    assert shop.couriers[0].root == "/data/drop"
    customers = config.feed("shop_customers")
    assert customers.primary_key == ("customer_id",)
    assert customers.updated_at == "updated_at"
    assert customers.field("first_name").file_column == "First Name"
    assert set(customers.pii_columns) == {"first_name", "last_name", "email", "birthdate"}
    [custom] = config.custom_domain_tables
    assert custom.name == "customer_order_totals" and custom.primary_key == ("customer_id",)


@pytest.mark.parametrize(
    "file, old, new, expected",
    [
        ("sources/shop.yaml", "courier: shop_orders", "courier: shop_order",
         r"sources/shop.yaml: .*feeds\[1\] \(shop_orders\) names courier 'shop_order'"),
        ("sources/shop.yaml", "primary_key: [order_id]", "primary_key: [order_no]",
         r"sources/shop.yaml: feeds\.1\.primary_key|sources/shop.yaml: feeds\[1\].*order_no"),
        ("sources/shop.yaml", "tags: [given-name]", "tags: [first-name]",
         r"sources/shop.yaml: feeds\[0\]\.fields\[1\]\.tags: .*unknown semantic tag 'first-name'"),
        ("sources/shop.yaml", "type: date, tags: [order-date]", "type: datetime, tags: [order-date]",
         r"sources/shop.yaml: feeds\[1\]\.fields\[2\]\.type"),
        ("sources/shop.yaml", "references: shop_customers", "references: nobody",
         r"sources/shop.yaml: feeds\[1\]\.fields\[1\]\.references: no feed named 'nobody'"),
        ("sources/club.yaml", "name: club_members\n    courier", "name: shop_customers\n    courier",
         r"sources/shop.yaml: feeds\[0\]\.name: name 'shop_customers' is already used"),
        ("sources/club.yaml", "pattern: club", "patern: club",
         r"sources/club.yaml: couriers\[0\]\.pattern: Field required; couriers\[0\]\.patern: Extra inputs"),
        ("tenant.yaml", "name: tiny_shop", "name: Tiny Shop",
         r"tenant.yaml: name: .*must be lower-case"),
        ("sources/shop.yaml", "${CDP_TEST_DROP}", "${CDP_NOT_SET_ANYWHERE}",
         r"sources/shop.yaml: couriers\[0\]\.root: environment variable CDP_NOT_SET_ANYWHERE"),
        ("sources/club.yaml", "name: club\n", "name: club\n  bad: [\n",
         r"sources/club.yaml: not valid YAML"),
    ],
)
def test_config_errors_name_file_and_field(tenant: Path, file, old, new, expected) -> None:
    _edit(tenant / file, old, new)
    with pytest.raises(ConfigError, match=expected):
        load_tenant(tenant, env=ENV)


def test_missing_tenant_file_is_explained(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no tenant.yaml"):
        load_tenant(tmp_path, env=ENV)
