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


def test_mistakes_that_would_reach_a_run_are_config_errors(tenant: Path) -> None:
    """Issue 17, case 4: caught when the tenant loads, before any run."""
    shop = tenant / "sources" / "shop.yaml"
    _edit(shop, "tags: [given-name]", "tags: [given-name], regex: '[a-z'")
    with pytest.raises(ConfigError, match=r"sources/shop.yaml: feeds\[0\]\.fields\[1\]\.regex: "
                                          r".*regex '\[a-z' does not compile"):
        load_tenant(tenant, env=ENV)


def test_a_misspelled_top_level_key_is_an_error_not_an_empty_file(tenant: Path) -> None:
    (tenant / "courier_groups.yaml").write_text(
        "grups:\n  - {name: nightly, cron: '0 5 * * *', couriers: [{courier: shop_customers}]}\n")
    with pytest.raises(ConfigError, match=r"courier_groups.yaml: unknown top-level keys "
                                          r"\['grups'\]; expected 'groups'"):
        load_tenant(tenant, env=ENV)


def test_a_bad_cron_names_its_group(tenant: Path) -> None:
    (tenant / "courier_groups.yaml").write_text(
        "groups:\n  - {name: nightly, cron: 'every night', couriers: [{courier: shop_customers}]}\n")
    with pytest.raises(ConfigError, match=r"courier_groups.yaml: groups\[0\] \(nightly\)\.cron: "
                                          r"cron 'every night' is not a valid cron expression"):
        load_tenant(tenant, env=ENV)


def test_named_secrets_that_do_not_exist_are_reported_without_values(
        tenant: Path, tmp_path: Path, monkeypatch) -> None:
    from cdp_pipelines.tenant.secrets import check_secrets, missing_secrets

    dest = tenant / "activation"
    dest.mkdir(exist_ok=True)
    (dest / "destinations.yaml").write_text(
        "destinations:\n"
        "  - {name: api, type: rest, path: /m, options: {base_url: 'https://x.invalid', "
        "token_env: CDP_TEST_API_TOKEN}}\n"
        "  - {name: box, type: sftp, options: {host: h.invalid, username: u, "
        f"private_key_file: {tmp_path / 'no-such-key'}}}}}\n")
    monkeypatch.delenv("CDP_TEST_API_TOKEN", raising=False)
    config = load_tenant(tenant, env=ENV)
    problems = missing_secrets(config)
    assert len(problems) == 2
    assert "destination api: environment variable CDP_TEST_API_TOKEN" in problems[0]
    assert f"secret file {tmp_path / 'no-such-key'}" in problems[1]
    monkeypatch.setenv("CDP_TEST_API_TOKEN", "s3cr3t-value")
    (tmp_path / "no-such-key").write_text("key material")
    check_secrets(config)  # both present now: no error
    monkeypatch.setenv("CDP_TEST_API_TOKEN", "")
    with pytest.raises(ConfigError) as error:
        check_secrets(config)
    assert "s3cr3t-value" not in str(error.value) and "key material" not in str(error.value)


def test_relative_dates_use_the_tenants_time_zone(tenant: Path) -> None:
    """Issue 17: "in the last 90 days" counts the brand's days. UTC+14 and UTC-11 are 25
    hours apart, so their dates differ at every moment."""
    from datetime import date, timedelta

    from cdp_pipelines.tenant.model import tenant_today

    config = load_tenant(tenant, env=ENV)
    east = config.model_copy(update={"tenant": config.tenant.model_copy(
        update={"timezone": "Pacific/Kiritimati"})})
    west = config.model_copy(update={"tenant": config.tenant.model_copy(
        update={"timezone": "Pacific/Pago_Pago"})})
    assert tenant_today(east) - tenant_today(west) in (timedelta(days=1), timedelta(days=2))
    assert abs(tenant_today(east) - date.today()) <= timedelta(days=1)


@pytest.mark.parametrize("text, expected", [
    ("mode: fast\n", r"stitch.yaml: mode: Input should be 'full', 'incremental' or 'auto'"),
    ("incremental_max_share: 0\n", r"stitch.yaml: incremental_max_share: .*greater than 0"),
    ("incremental_max_share: 1.5\n", r"stitch.yaml: incremental_max_share: .*less than or "
                                     r"equal to 1"),
])
def test_stitch_mode_errors_name_the_field(tenant: Path, text: str, expected: str) -> None:
    (tenant / "stitch.yaml").write_text(text)
    with pytest.raises(ConfigError, match=expected):
        load_tenant(tenant, env=ENV)


def test_stitch_mode_defaults_to_auto(tenant: Path) -> None:
    (tenant / "stitch.yaml").write_text("mode: incremental\n")
    assert load_tenant(tenant, env=ENV).stitch.mode == "incremental"
    (tenant / "stitch.yaml").unlink()
    stitch = load_tenant(tenant, env=ENV).stitch
    assert (stitch.mode, stitch.incremental_max_share) == ("auto", 0.05)
