"""A real single-node Trino server on this machine: fetch, configure, start, stop.

The server is Trino 476 (the newest release whose server artifacts are on Maven
Central) with only the Delta Lake connector installed. It reads Delta tables straight
from the local lake through Trino's native local file system (or from an S3 lake through
its native S3 file system, :mod:`.trino_catalog`), keeps table metadata in a file
metastore under the server home (on the bucket for an S3 lake), and enforces file-based access control (see
:mod:`.trino_access`). It listens on 127.0.0.1 only, speaks HTTPS only, and
authenticates every client by password (see :mod:`.trino_auth`).

Layout of a server home (``<repo>/.cdp/trino`` by default)::

    etc/            node.properties, jvm.config, config.properties, log.properties,
                    access-control.properties, rules.json, catalog/delta.properties,
                    password-authenticator.properties
    secrets/        generated passwords, Trino's password file, TLS key (owner only)
    tls/ca.pem      the certificate clients trust
    data/           Trino's node data directory
    metastore/      the Delta catalog's file metastore (a local lake's)
    var/log/        server.log (Trino's log), launcher.log (JVM stdout/stderr)
    var/run/        trino.pid, server.json (port, pid, lake root of the running server)

The distribution (and the Trino CLI) is cached once per machine by :mod:`.trino_install`
and shared by every server home.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cdp_pipelines.resources import trino_auth
from cdp_pipelines.resources.trino_access import (
    CATALOG,
    RULES_REFRESH_SECONDS,
    write_access_rules,
)
from cdp_pipelines.resources.trino_catalog import delta_catalog
from cdp_pipelines.resources.trino_install import (
    TrinoServerError,
    ensure_distribution,
    find_java_home,
)

DEFAULT_PORT = 8088
HOST = "127.0.0.1"

# The launching process hands the internal-communication secret to the server in its
# environment, so that it is written in no configuration file.
SHARED_SECRET_ENV = "CDP_TRINO_SHARED_SECRET"



@dataclass(frozen=True)
class TrinoServer:
    """A running local Trino server."""

    home: Path
    port: int
    pid: int
    lake_root: str | None = None
    host: str = HOST

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    @property
    def ca_file(self) -> Path:
        """The certificate a client trusts (``--truststore-path`` of the Trino CLI)."""
        return trino_auth.ca_file(self.home)

    def password_file(self, user: str) -> Path:
        """Where the generated password of ``user`` is kept."""
        return trino_auth.password_file(self.home, user)


# --------------------------------------------------------------------------- config


def _write_properties(path: Path, props: Mapping[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{key}={value}\n" for key, value in props.items()))


JVM_OPTIONS = (
    "-server",
    "-Xmx2G",
    "-XX:+UseG1GC",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-XX:+ExitOnOutOfMemoryError",
    "-XX:-OmitStackTraceInFastThrow",
    "-XX:ReservedCodeCacheSize=256M",
    "-XX:PerMethodRecompilationCutoff=10000",
    "-XX:PerBytecodeRecompilationCutoff=10000",
    "-XX:+EnableDynamicAgentLoading",
    "-Djdk.attach.allowAttachSelf=true",
    "-Djdk.nio.maxCachedBufferSize=2000000",
    "-Dfile.encoding=UTF-8",
)


def write_config(home: Path, port: int = DEFAULT_PORT, install: Path | None = None,
                 lake_root: str | None = None) -> None:
    """Write the server's etc/ for a small machine; rules.json only if there is none yet.
    The Delta catalog reads the lake at ``lake_root`` (:mod:`.trino_catalog`).

    Creates the server's passwords and certificate on first use (see :mod:`.trino_auth`).
    """
    home = Path(home).resolve()
    etc = home / "etc"
    trino_auth.ensure_secrets(home)
    node_id_file = home / "data" / "node-id"
    node_id_file.parent.mkdir(parents=True, exist_ok=True)
    if not node_id_file.exists():
        node_id_file.write_text(str(uuid.uuid4()))
    _write_properties(etc / "node.properties", {
        "node.environment": "cdp_local",
        "node.id": node_id_file.read_text().strip(),
        "node.data-dir": home / "data",
        "node.bind-ip": HOST,
        "node.internal-address": HOST,
    })
    (etc / "jvm.config").write_text("\n".join(JVM_OPTIONS) + "\n")
    config = {
        "coordinator": "true",
        "node-scheduler.include-coordinator": "true",
        # HTTPS only, and every client authenticates with a password (Trino's password
        # file authentication needs both TLS and a shared secret for internal calls).
        "http-server.http.enabled": "false",
        "http-server.https.enabled": "true",
        "http-server.https.port": port,
        "http-server.https.keystore.path": trino_auth.keystore(home),
        "http-server.authentication.type": "PASSWORD",
        "password-authenticator.config-files": etc / "password-authenticator.properties",
        "internal-communication.shared-secret": f"${{ENV:{SHARED_SECRET_ENV}}}",
        "internal-communication.https.required": "true",
        "internal-communication.https.keystore.path": trino_auth.keystore(home),
        "internal-communication.https.truststore.path": trino_auth.ca_file(home),
        "discovery.uri": f"https://{HOST}:{port}",
        "query.max-memory": "1GB",
        "query.max-memory-per-node": "512MB",
        "catalog.config-dir": etc / "catalog",
        # The server runs with data/ as its working directory, so no relative etc/ paths.
        "access-control.config-files": etc / "access-control.properties",
        # Small machine: fewer threads and no spare capacity held back.
        "task.concurrency": 2,
        "task.max-worker-threads": 4,
    }
    if install is not None:
        config["plugin.dir"] = install / "plugin"
    _write_properties(etc / "config.properties", config)
    _write_properties(etc / "log.properties", {"io.trino": "INFO"})
    (home / "metastore").mkdir(parents=True, exist_ok=True)
    _write_properties(etc / "catalog" / f"{CATALOG}.properties",
                      delta_catalog(home, lake_root))
    _write_properties(etc / "password-authenticator.properties", {
        "password-authenticator.name": "file",
        "file.password-file": trino_auth.password_db(home),
        "file.refresh-period": "5s",
    })
    _write_properties(etc / "access-control.properties", {
        "access-control.name": "file",
        "security.config-file": etc / "rules.json",
        "security.refresh-period": f"{RULES_REFRESH_SECONDS}s",
    })
    if not (etc / "rules.json").exists():
        write_access_rules(home, {})


# --------------------------------------------------------------------------- process

# Servers started by this process, so their exit status can be collected (no zombies).
_children: dict[int, subprocess.Popen] = {}


def _paths(home: Path) -> dict[str, Path]:
    home = Path(home).resolve()
    return {
        "pid": home / "var" / "run" / "trino.pid",
        "state": home / "var" / "run" / "server.json",
        "server_log": home / "var" / "log" / "server.log",
        "launcher_log": home / "var" / "log" / "launcher.log",
    }


def _alive(pid: int) -> bool:
    child = _children.get(pid)
    if child is not None and child.poll() is not None:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    return state != "Z" and b"io.trino.server.TrinoServer" in cmdline


def status(home: Path) -> TrinoServer | None:
    """The server running from ``home``, or None when none is."""
    paths = _paths(home)
    try:
        state = json.loads(paths["state"].read_text())
    except (OSError, ValueError):
        return None
    if not _alive(state["pid"]):
        return None
    return TrinoServer(home=Path(home).resolve(), port=state["port"], pid=state["pid"],
                       lake_root=state.get("lake_root"))


def _log_reason(home: Path, limit: int = 8) -> str:
    """The error lines of the server's logs, for an error message."""
    paths = _paths(home)
    lines: list[str] = []
    for key in ("launcher_log", "server_log"):
        try:
            text = paths[key].read_text(errors="replace")
        except OSError:
            continue
        lines += [line.strip() for line in text.splitlines()
                  if re.search(r"ERROR|Exception|Error:|^\d+\) |Caused by", line)]
    if not lines:
        return "no error in the server logs"
    seen: list[str] = []
    for line in lines:
        if line not in seen:
            seen.append(line)
    return "\n  ".join(seen[-limit:])


def _port_free(port: int) -> bool:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the JVM does: closed connections in TIME_WAIT do not make a port busy.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def _info(home: Path, port: int) -> dict | None:
    """The server's /v1/info (open to anyone), checked against the server's certificate."""
    import ssl

    context = ssl.create_default_context(cafile=str(trino_auth.ca_file(home)))
    try:
        with urllib.request.urlopen(f"https://{HOST}:{port}/v1/info", timeout=2,
                                    context=context) as response:
            return json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _select_one(home: Path, port: int, user: str) -> None:
    import trino

    password = trino_auth.password_file(home, user).read_text().strip()
    conn = trino.dbapi.connect(
        host=HOST, port=port, user=user, http_scheme="https",
        auth=trino.auth.BasicAuthentication(user, password),
        http_session=trino_auth.client_session(str(trino_auth.ca_file(home))),
    )
    try:
        cur = conn.cursor()
        cur.execute("SELECT 1")
        if cur.fetchall() != [[1]]:
            raise TrinoServerError("SELECT 1 did not return 1")
    finally:
        conn.close()


def _java_command(java_home: Path, install: Path, home: Path) -> list[str]:
    etc = home / "etc"
    node_props = [
        f"-D{line}" for line in (etc / "node.properties").read_text().splitlines() if line
    ]
    jvm = [line for line in (etc / "jvm.config").read_text().splitlines() if line]
    return [
        str(java_home / "bin" / "java"), *jvm,
        "-cp", str(install / "lib" / "*"),
        *node_props,
        f"-Dconfig={etc / 'config.properties'}",
        f"-Dlog.path={_paths(home)['server_log']}",
        "-Dlog.enable-console=false",
        f"-Dlog.levels-file={etc / 'log.properties'}",
        "io.trino.server.TrinoServer",
    ]


def start(
    home: Path,
    port: int = DEFAULT_PORT,
    lake_root: str | Path | None = None,
    timeout: float = 300.0,
    ready_user: str = "admin",
) -> TrinoServer:
    """Start the server of ``home`` on 127.0.0.1:``port`` and wait until it answers SQL.

    Returns the running server when one is already running from ``home``. ``lake_root``
    (a local directory, created if missing, or ``s3a://bucket/prefix``) is recorded; the
    catalog reads any local path, or that lake's bucket with the AWS_* variables of this
    process (passed to the server, named in the catalog file, never written there). ``ready_user``, one of the generated users, must be allowed to run queries.
    """
    home = Path(home).resolve()
    running = status(home)
    if running is not None:
        if json.loads(_paths(home)["state"].read_text()).get("scheme") != "https":
            raise TrinoServerError(
                f"The Trino server running from {home} (pid {running.pid}) was started by an "
                "older cdp-pipelines: plain HTTP, no passwords. Restart it: `cdp trino stop` "
                "then `cdp trino start`.")
        return running
    if not 0 < port < 65536:
        raise TrinoServerError(f"Trino port {port} is not a valid TCP port (1-65535).")
    if not _port_free(port):
        raise TrinoServerError(
            f"Port {port} on {HOST} is already in use by another process; choose another "
            "port for the Trino server."
        )
    install = ensure_distribution()
    java_home = find_java_home()
    if lake_root is not None:
        lake_root = str(lake_root)
        if "://" not in lake_root:
            lake_root = str(Path(lake_root).expanduser().resolve())
            Path(lake_root).mkdir(parents=True, exist_ok=True)
    write_config(home, port, install, lake_root)
    paths = _paths(home)
    for key in ("pid", "server_log"):
        paths[key].parent.mkdir(parents=True, exist_ok=True)
    paths["server_log"].unlink(missing_ok=True)
    with open(paths["launcher_log"], "w") as log:
        process = subprocess.Popen(
            _java_command(java_home, install, home),
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            cwd=home / "data", start_new_session=True,
            env={**os.environ, "JAVA_HOME": str(java_home),
                 SHARED_SECRET_ENV: trino_auth.shared_secret(home)},
        )
    _children[process.pid] = process
    paths["pid"].write_text(f"{process.pid}\n")
    paths["state"].write_text(json.dumps(
        {"pid": process.pid, "port": port, "lake_root": lake_root, "java_home": str(java_home),
         "scheme": "https"}
    ))
    server = TrinoServer(home=home, port=port, pid=process.pid, lake_root=lake_root)

    deadline = time.monotonic() + timeout
    last_error = "no answer yet"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            _children.pop(process.pid, None)
            _forget(home)
            raise TrinoServerError(
                f"Trino server in {home} exited with code {process.returncode} while "
                f"starting. From {paths['launcher_log']} and {paths['server_log']}:\n  "
                f"{_log_reason(home)}"
            )
        info = _info(home, port)
        if info is not None and info.get("starting") is False:
            try:
                _select_one(home, port, ready_user)
                return server
            except Exception as exc:  # noqa: BLE001 - retried until the deadline
                last_error = f"SELECT 1 as {ready_user!r} failed: {exc}"
        time.sleep(1.0)
    stop(home)
    raise TrinoServerError(
        f"Trino server in {home} was not ready on port {port} after {timeout:.0f}s "
        f"({last_error}). From its logs:\n  {_log_reason(home)}"
    )


def _forget(home: Path) -> None:
    paths = _paths(home)
    paths["pid"].unlink(missing_ok=True)
    paths["state"].unlink(missing_ok=True)


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def stop(home: Path, timeout: float = 60.0) -> bool:
    """Stop the server of ``home``; True if one was running. Kills it after ``timeout``."""
    paths = _paths(home)
    try:
        pid = json.loads(paths["state"].read_text())["pid"]
    except (OSError, ValueError, KeyError):
        _forget(home)
        return False
    if not _alive(pid):
        _children.pop(pid, None)
        _forget(home)
        return False
    # Trino shuts down cleanly on SIGTERM; the whole process group goes (start() made
    # the server a session leader).
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.5)
    if _alive(pid):
        _signal_group(pid, signal.SIGKILL)
        while _alive(pid):
            time.sleep(0.2)
    child = _children.pop(pid, None)
    if child is not None:
        child.wait()
    _forget(home)
    return True
