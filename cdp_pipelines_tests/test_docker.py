"""docker/ would start: compose validated by Debian's `docker-compose config` (no Docker
engine runs here), and every file, command and package it names exists."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from cdp_pipelines.cli import build_parser

PROJECT = Path(__file__).resolve().parents[1]
DOCKER = PROJECT / "docker"
SERVICES = {"postgres", "webserver", "daemon", "spark-master", "spark-worker", "trino",
            "collector"}
SECRET = "s3cret-from-env-file"


@pytest.fixture(scope="module")
def compose(tmp_path_factory) -> dict:
    env_file = tmp_path_factory.mktemp("compose") / "cdp.env"
    example = (DOCKER / "cdp.env.example").read_text()
    env_file.write_text(example.replace("DAGSTER_PG_PASSWORD=\n",
                                        f"DAGSTER_PG_PASSWORD={SECRET}\n"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CDP_", "DAGSTER_"))}
    out = subprocess.run(
        [shutil.which("docker-compose") or "docker-compose", "-f",
         str(DOCKER / "docker-compose.yaml"), "config"],
        env={**env, "CDP_ENV_FILE": str(env_file)}, capture_output=True, text=True,
        timeout=120)
    assert out.returncode == 0, out.stderr
    return yaml.safe_load(out.stdout)


def test_compose_has_every_service_with_health_checks_and_restarts(compose) -> None:
    services = compose["services"]
    assert set(services) == SERVICES
    for name, service in services.items():
        assert service.get("restart") == "unless-stopped", name
        assert service.get("healthcheck", {}).get("test"), name
    # Services start after what they need is healthy.
    assert services["webserver"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["daemon"]["depends_on"]["spark-master"]["condition"] == "service_healthy"
    assert services["trino"]["depends_on"]["webserver"]["condition"] == "service_healthy"


def test_the_env_file_really_reaches_every_service_that_needs_the_password(compose) -> None:
    services = compose["services"]
    for name in ("postgres", "webserver", "daemon"):
        assert services[name]["environment"]["DAGSTER_PG_PASSWORD"] == SECRET, name
    # PostgreSQL's image reads POSTGRES_PASSWORD: its entrypoint sets it from the env file's.
    entry = " ".join(services["postgres"]["entrypoint"])
    assert 'POSTGRES_PASSWORD="$$DAGSTER_PG_PASSWORD"' in entry
    # No secret is written in the project's compose file itself.
    assert SECRET not in (DOCKER / "docker-compose.yaml").read_text()
    assert "docker/cdp.env" in (PROJECT / ".gitignore").read_text().splitlines()


def test_every_file_the_compose_and_dockerfile_name_exists(compose) -> None:
    for name, service in compose["services"].items():
        build = service.get("build")
        if build:
            assert (Path(build["context"]) / build["dockerfile"]).is_file(), name
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("/"):  # a bind mount (named volumes have no slash)
                assert Path(source).exists(), f"{name}: {source}"
    dockerfile = (DOCKER / "Dockerfile").read_text()
    for line in dockerfile.splitlines():
        if line.startswith("COPY "):
            *sources, _ = shlex.split(line)[1:]
            for source in sources:
                assert (PROJECT / source).exists(), line


def test_both_instance_files_are_valid_with_what_compose_passes(compose, monkeypatch,
                                                                tmp_path) -> None:
    """dagster.yaml (compute logs on S3) and dagster-azure.yaml (on Azure Blob) load as
    Dagster instance config with the daemon's environment, and differ only in compute_logs."""
    from dagster._core.instance.config import dagster_instance_config

    for key, value in compose["services"]["daemon"]["environment"].items():
        monkeypatch.setenv(key, value or "x")
    # The Azure file's own settings, which the example env file leaves to the operator.
    monkeypatch.setenv("DAGSTER_COMPUTE_LOGS_ACCOUNT", "cdplogs")
    monkeypatch.setenv("DAGSTER_COMPUTE_LOGS_CONTAINER", "dagster")
    mounted = next(v for v in compose["services"]["daemon"]["volumes"]
                   if v.endswith(":/opt/dagster_home/dagster.yaml:ro"))
    assert Path(mounted.split(":")[0]) == DOCKER / "dagster.yaml"
    configs = {}
    for name in ("dagster.yaml", "dagster-azure.yaml"):
        home = tmp_path / name
        home.mkdir()
        (home / "dagster.yaml").write_text((DOCKER / name).read_text())
        configs[name], _ = dagster_instance_config(str(home))
    s3, azure = configs["dagster.yaml"], configs["dagster-azure.yaml"]
    assert s3["concurrency"]["pools"]["default_limit"] == 1
    assert s3["storage"]["postgres"]["postgres_db"]["port"] == {"env": "DAGSTER_PG_PORT"}
    assert compose["services"]["daemon"]["environment"]["DAGSTER_PG_PORT"] == "5432"
    assert s3["compute_logs"]["class"] == "S3ComputeLogManager"
    assert azure["compute_logs"]["class"] == "AzureBlobComputeLogManager"
    assert {**azure, "compute_logs": None} == {**s3, "compute_logs": None}
    # No credential of any kind is written in either file.
    for name in configs:
        text = (DOCKER / name).read_text()
        assert not re.search(r"(password|secret|key|token):\s*[^{\s]", text, re.I), name


def test_every_command_the_services_run_exists(compose) -> None:
    import pyspark

    bin_dir = Path(shutil.which("dagster", path=str(PROJECT / ".venv" / "bin"))
                   or PROJECT / ".venv" / "bin" / "dagster").parent
    spark_bin = Path(pyspark.__file__).parent / "bin"
    for name, service in compose["services"].items():
        if "build" not in service:
            continue
        command = service["command"]
        words = shlex.split(command[-1]) if command[0] == "/bin/sh" else command
        text = " ".join(words)
        for program in re.findall(r"(?:^|&& |exec )([\w-]+)", text):
            if program in {"exec"}:
                continue
            assert (bin_dir / program).exists() or (spark_bin / program).exists(), \
                f"{name}: {program}"
        if command[0] == "cdp":  # the project's own command line takes these arguments
            build_parser().parse_args(command[1:])
        if "cdp trino" in text:
            action = text.split("cdp trino ")[1].split()[0]
            assert build_parser().parse_args(["trino", action]).action == action
        if "workspace.yaml" in text:
            assert (PROJECT / "workspace.yaml").is_file()
    daemon_help = subprocess.run([str(bin_dir / "dagster-daemon"), "--help"],
                                 capture_output=True, text=True, timeout=120).stdout
    assert "liveness-check" in daemon_help


def test_the_base_image_is_pinned_and_has_the_packages_it_installs() -> None:
    dockerfile = (DOCKER / "Dockerfile").read_text()
    (base,) = re.findall(r"^FROM (\S+)", dockerfile, flags=re.M)
    codename = base.rsplit("-", 1)[-1]
    assert codename in {"bookworm", "trixie"} and not base.endswith(":latest"), base
    packages = re.search(r"apt-get install -y --no-install-recommends ([^&\\]+)", dockerfile)
    assert packages, "no apt-get install line"
    host = dict(line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines()
                if "=" in line)
    # This machine runs the same Debian release: its archive has what the image installs.
    assert host.get("VERSION_CODENAME") == codename, (host.get("VERSION_CODENAME"), codename)
    for package in packages.group(1).split():
        shown = subprocess.run(["apt-cache", "show", package], capture_output=True,
                               text=True, timeout=60)
        assert shown.returncode == 0 and f"Package: {package}" in shown.stdout, package
