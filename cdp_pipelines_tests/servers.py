"""Real local servers for tests: S3 (moto), Azure Blob (Azurite), SFTP (OpenSSH),
REST (a scriptable http.server) and PostgreSQL, each on a free loopback port.

Each is a context manager that starts the server, yields how to reach it and stops it
(and every process it started) on exit. Debian packages and Azurite come from
``scripts/install_test_services.sh``; a missing one is a clear error naming that script.
"""

from __future__ import annotations

import getpass
import glob
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

from cdp_pipelines.resources.jars import cache_dir

INSTALL_HINT = "run scripts/install_test_services.sh"
CACHE_DIR = cache_dir()
LOOPBACK = "127.0.0.1"

# Azurite's fixed development account; Microsoft publishes this key for the emulator.
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def wait_for_port(
    port: int, process: subprocess.Popen | None, log: Path | None, what: str, timeout: float = 30
) -> None:
    """Wait until something accepts connections on ``port``; fail with the server's log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            break
        try:
            with socket.create_connection((LOOPBACK, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    output = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
    raise RuntimeError(f"{what} did not start on {LOOPBACK}:{port} within {timeout}s:\n{output}")


def stop_process(process: subprocess.Popen, timeout: float = 10) -> None:
    """Stop a server started with ``start_new_session=True`` and every process in its group
    (sshd forks one child per connection)."""

    def signal_group(sig: int) -> None:
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass

    signal_group(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        signal_group(signal.SIGKILL)
        process.wait(timeout=timeout)


def _require(path: str | Path, what: str) -> str:
    if not Path(path).exists():
        raise RuntimeError(f"{what} not found at {path}: {INSTALL_HINT}")
    return str(path)


# --- S3: moto in server mode (real HTTP S3 API) -------------------------------------------


@contextmanager
def moto_s3_server() -> Iterator[str]:
    """Yield the endpoint URL of a moto server; any access key/secret is accepted."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address=LOOPBACK, port=port, verbose=False)
    server.start()
    try:
        wait_for_port(port, None, None, "moto S3 server")
        yield f"http://{LOOPBACK}:{port}"
    finally:
        server.stop()


# --- Azure Blob: Azurite -------------------------------------------------------------------


@dataclass(frozen=True)
class AzuriteInfo:
    blob_endpoint: str
    connection_string: str = field(repr=False)


@contextmanager
def azurite_server(workdir: Path) -> Iterator[AzuriteInfo]:
    binary = _require(CACHE_DIR / "npm" / "node_modules" / ".bin" / "azurite-blob", "azurite")
    port = free_port()
    location = Path(workdir) / "azurite"
    location.mkdir(parents=True, exist_ok=True)
    log = location / "azurite.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [
                binary,
                "--blobHost",
                LOOPBACK,
                "--blobPort",
                str(port),
                "--location",
                str(location),
                "--silent",
                "--skipApiVersionCheck",
                "--loose",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_port(port, process, log, "Azurite")
        endpoint = f"http://{LOOPBACK}:{port}/{AZURITE_ACCOUNT}"
        yield AzuriteInfo(
            blob_endpoint=endpoint,
            connection_string=(
                f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
                f"AccountKey={AZURITE_KEY};BlobEndpoint={endpoint};"
            ),
        )
    finally:
        # Azurite waits for idle keep-alive connections on SIGTERM; its data is throwaway.
        stop_process(process, timeout=2)


# --- SFTP: OpenSSH sshd as the current user ------------------------------------------------


@dataclass(frozen=True)
class SshServerInfo:
    host: str
    port: int
    username: str
    root: Path
    private_key_file: Path
    known_hosts_file: Path


@contextmanager
def sftp_server(workdir: Path) -> Iterator[SshServerInfo]:
    """OpenSSH's sshd on loopback with a fresh host key and one authorized client key."""
    from cdp_pipelines.examples.standins import write_sshd_config

    sshd = _require("/usr/sbin/sshd", "OpenSSH sshd (Debian package openssh-server)")
    base = Path(workdir) / "sshd"
    port = free_port()
    config = write_sshd_config(base, port)
    known_hosts = base / "known_hosts"
    log = base / "sshd.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sshd, "-D", "-e", "-f", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_port(port, process, log, "sshd")
        yield SshServerInfo(
            host=LOOPBACK,
            port=port,
            username=getpass.getuser(),
            root=base / "files",
            private_key_file=base / "client_key",
            known_hosts_file=known_hosts,
        )
    finally:
        stop_process(process)


# --- PostgreSQL -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PostgresInfo:
    host: str
    port: int
    user: str
    password: str = field(repr=False)
    database: str = "postgres"


def _postgres_bin(name: str) -> str:
    found = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(Path(p).parts[4])
    )
    if not found:
        raise RuntimeError(
            f"PostgreSQL {name} not found (Debian package postgresql): {INSTALL_HINT}"
        )
    return found[-1]


@contextmanager
def postgres_server() -> Iterator[PostgresInfo]:
    """A throwaway PostgreSQL cluster; as root it runs as the ``postgres`` system user."""
    initdb, pg_ctl = _postgres_bin("initdb"), _postgres_bin("pg_ctl")
    as_root = os.geteuid() == 0
    # Not under pytest's tmp dir: that is private to the current user, and the server
    # may run as another one.
    base = Path(tempfile.mkdtemp(prefix="cdp-pg-"))
    run_as: list[str] = []
    if as_root:
        run_as = ["runuser", "-u", "postgres", "--"]
        shutil.chown(base, "postgres", "postgres")
    user, password, port = "cdp", secrets.token_urlsafe(16), free_port()
    pwfile = base / "pwfile"
    pwfile.write_text(password + "\n")
    if as_root:
        shutil.chown(pwfile, "postgres", "postgres")
    data, log = base / "data", base / "postgres.log"

    def run(args: list[str]) -> None:
        result = subprocess.run(run_as + args, cwd=base, capture_output=True, text=True)
        if result.returncode != 0:
            detail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(args[:2])} failed:\n{result.stderr}\n{detail}")

    started = False
    try:
        run(
            [
                initdb,
                "-D",
                str(data),
                "-U",
                user,
                f"--pwfile={pwfile}",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ]
        )
        options = (
            f"-p {port} -k {base} -c listen_addresses={LOOPBACK} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c shared_buffers=16MB"
        )
        run([pg_ctl, "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start"])
        started = True
        yield PostgresInfo(host=LOOPBACK, port=port, user=user, password=password)
    finally:
        if started:
            run([pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"])
        shutil.rmtree(base, ignore_errors=True)


# --- REST: a scriptable HTTP server ---------------------------------------------------------


@dataclass
class ScriptedResponse:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: object = None


class ScriptedHttpServer:
    """Serves ``records`` three paginated ways, records POSTs, and replays scripted answers.

    GET /items/pages?page=N&per_page=K   -> {"data": [...]}            (page number)
    GET /items/cursor?cursor=C&limit=K   -> {"data": [...], "next_cursor": C' or null}
    GET /items/link?offset=O&limit=K     -> [...] with a ``Link: <...>; rel="next"`` header
    POST <any path>                      -> JSON body kept in ``received[path]``; 200
    ``script(method, path, [ScriptedResponse, ...])`` makes the next requests to that
    method + path (query ignored) get those answers first, in order.
    If ``token`` is set, requests without ``Authorization: Bearer <token>`` get 401.
    """

    def __init__(self, records: list[dict], token: str | None = None) -> None:
        self.records = records
        self.token = token
        self.received: dict[str, list] = defaultdict(list)
        self.log: list[tuple[str, str, float]] = []
        # (path, Idempotency-Key header or None) of every request, in order.
        self.idempotency_keys: list[tuple[str, str | None]] = []
        self._scripts: dict[tuple[str, str], list[ScriptedResponse]] = defaultdict(list)
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer((LOOPBACK, 0), self._handler_class())
        self._httpd.daemon_threads = True
        self.base_url = f"http://{LOOPBACK}:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def script(self, method: str, path: str, responses: list[ScriptedResponse]) -> None:
        with self._lock:
            self._scripts[(method.upper(), path)].extend(responses)

    def reset(self) -> None:
        with self._lock:
            self._scripts.clear()
            self.received.clear()
            self.log.clear()
            self.idempotency_keys.clear()

    def requests_to(self, path: str) -> list[tuple[str, str, float]]:
        with self._lock:
            return [entry for entry in self.log if urlsplit(entry[1]).path == path]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)

    def _next_scripted(self, method: str, path: str) -> ScriptedResponse | None:
        with self._lock:
            queue = self._scripts.get((method, path))
            return queue.pop(0) if queue else None

    def _answer_get(self, path: str, query: dict[str, str]) -> ScriptedResponse:
        if path == "/items/pages":
            page, size = int(query.get("page", 1)), int(query.get("per_page", 10))
            return ScriptedResponse(
                200, body={"data": self.records[(page - 1) * size : page * size]}
            )
        if path == "/items/cursor":
            start, size = int(query.get("cursor") or 0), int(query.get("limit", 10))
            more = start + size < len(self.records)
            return ScriptedResponse(
                200,
                body={
                    "data": self.records[start : start + size],
                    "next_cursor": str(start + size) if more else None,
                },
            )
        if path == "/items/link":
            start, size = int(query.get("offset", 0)), int(query.get("limit", 10))
            headers = {}
            if start + size < len(self.records):
                nxt = urlencode({"offset": start + size, "limit": size})
                headers["Link"] = f'<{self.base_url}{path}?{nxt}>; rel="next"'
            return ScriptedResponse(200, headers, self.records[start : start + size])
        return ScriptedResponse(404, body={"error": f"no route {path}"})

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                """Quiet: tests read ``server.log`` instead."""

            def _reply(self, response: ScriptedResponse) -> None:
                body = (
                    b""
                    if response.body is None
                    else (
                        response.body.encode()
                        if isinstance(response.body, str)
                        else json.dumps(response.body).encode()
                    )
                )
                self.send_response(response.status)
                headers = {"Content-Type": "application/json", **response.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _handle(self, method: str) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                payload = self.rfile.read(length) if length else b""
                with server._lock:
                    server.log.append((method, self.path, time.monotonic()))
                    server.idempotency_keys.append(
                        (parts.path, self.headers.get("Idempotency-Key")))
                if server.token and self.headers.get("Authorization") != f"Bearer {server.token}":
                    return self._reply(ScriptedResponse(401, body={"error": "bad token"}))
                scripted = server._next_scripted(method, parts.path)
                if scripted is not None:
                    return self._reply(scripted)
                if method == "POST":
                    with server._lock:
                        server.received[parts.path].append(json.loads(payload or b"null"))
                    return self._reply(ScriptedResponse(200, body={"accepted": True}))
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                return self._reply(server._answer_get(parts.path, query))

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

        return Handler


@contextmanager
def rest_server(records: list[dict], token: str | None = None) -> Iterator[ScriptedHttpServer]:
    server = ScriptedHttpServer(records, token)
    server.start()
    try:
        yield server
    finally:
        server.stop()


# --- Spark: a standalone master and workers on loopback -------------------------------------


@dataclass
class SparkCluster:
    master_url: str
    workers: int


@contextmanager
def spark_cluster(workers: int = 2, cores: int = 1, memory: str = "1g",
                  timeout: float = 120.0) -> Iterator[SparkCluster]:
    """A real Spark standalone cluster: the master and ``workers`` workers, started with the
    ``spark-class`` launcher that ships in pyspark, all on 127.0.0.1."""
    import pyspark

    home = Path(pyspark.__file__).parent
    base = Path(tempfile.mkdtemp(prefix="cdp-spark-cluster-"))
    env = {**os.environ, "SPARK_HOME": str(home), "SPARK_LOCAL_IP": LOOPBACK,
           "SPARK_LOG_DIR": str(base), "SPARK_WORKER_DIR": str(base / "work")}
    port = free_port()
    launcher = [str(home / "bin" / "spark-class")]
    procs: list[subprocess.Popen] = []
    logs: list[Path] = []

    def start(name: str, args: list[str]) -> None:
        log = base / f"{name}.log"
        logs.append(log)
        procs.append(subprocess.Popen(launcher + args, env=env, stdout=log.open("wb"),
                                      stderr=subprocess.STDOUT, start_new_session=True))

    def wait_for(log: Path, text: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if log.exists() and text in log.read_text(errors="replace"):
                return
            if any(p.poll() is not None for p in procs):
                break
            time.sleep(0.5)
        raise RuntimeError(f"Spark cluster did not start ({text!r} not in {log}):\n"
                           + log.read_text(errors="replace")[-3000:])

    try:
        start("master", ["org.apache.spark.deploy.master.Master", "--host", LOOPBACK,
                         "--port", str(port), "--webui-port", str(free_port())])
        wait_for(logs[0], "I have been elected leader")
        url = f"spark://{LOOPBACK}:{port}"
        for i in range(workers):
            start(f"worker{i}", ["org.apache.spark.deploy.worker.Worker", url, "--host", LOOPBACK,
                                 "--cores", str(cores), "--memory", memory,
                                 "--webui-port", str(free_port()),
                                 "--work-dir", str(base / f"work{i}")])
        for log in logs[1:]:
            wait_for(log, "Successfully registered with master")
        yield SparkCluster(url, workers)
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        shutil.rmtree(base, ignore_errors=True)
