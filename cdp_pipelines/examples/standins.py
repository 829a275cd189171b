"""Local stand-ins for the demo tenant's remote systems: an S3 server and an SFTP server.

The demo tenant pulls its e-commerce exports from an S3 bucket and its email-platform
files from an SFTP directory, and delivers a campaign to another S3 bucket, exactly as a
brand's tenant would; on one machine those systems are moto in server mode (a real HTTP
S3 API) and OpenSSH's sshd on loopback. ``cdp demo services start|stop|status`` runs
them in the background (state, keys and logs under ``CDP_DEMO_SERVICES``, default
``.cdp/demo/services``) and ``cdp demo publish`` copies the generated drop onto them.

Ports are fixed (``CDP_DEMO_S3_PORT``, default 9574; ``CDP_DEMO_SFTP_PORT``, 9575) because
the tenant's YAML names them; the credentials are files the tenant's YAML points at.
"""

from __future__ import annotations

import getpass
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

LOOPBACK = "127.0.0.1"
S3_INBOUND_BUCKET = "cdp-demo-ecom"
S3_OUTBOUND_BUCKET = "cdp-demo-activation"
# Which generated source directories live on which stand-in (the rest stay local).
PUBLISHED = {"ecom": "s3", "email": "sftp"}


class StandInError(RuntimeError):
    """A stand-in could not start or be reached; the message says why and what to do."""


@dataclass(frozen=True)
class StandIns:
    home: Path
    s3_port: int
    sftp_port: int

    @classmethod
    def on_free_ports(cls, home: Path) -> "StandIns":
        """Stand-ins on ports nothing listens on (tests and benchmarks run beside a demo)."""
        ports = []
        for _ in range(2):
            with socket.socket() as sock:
                sock.bind((LOOPBACK, 0))
                ports.append(sock.getsockname()[1])
        return cls(home=Path(home), s3_port=ports[0], sftp_port=ports[1])

    def env(self) -> dict[str, str]:
        """The variables the demo tenant's YAML reads to reach these stand-ins."""
        return {"CDP_DEMO_SERVICES": str(self.home), "CDP_DEMO_S3_PORT": str(self.s3_port),
                "CDP_DEMO_SFTP_PORT": str(self.sftp_port),
                "CDP_DEMO_SFTP_USER": getpass.getuser()}

    @property
    def s3_endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.s3_port}"

    @property
    def sshd_dir(self) -> Path:
        return self.home / "sshd"

    def s3_store_config(self, bucket: str) -> dict:
        return {"type": "s3", "bucket": bucket, "endpoint_url": self.s3_endpoint,
                "region": "us-east-1",
                "access_key_id_file": str(self.home / "s3_access_key_id"),
                "secret_access_key_file": str(self.home / "s3_secret_access_key")}

    def sftp_store_config(self) -> dict:
        return {"type": "sftp", "host": LOOPBACK, "port": self.sftp_port,
                "username": getpass.getuser(), "root": str(self.sshd_dir / "files"),
                "private_key_file": str(self.sshd_dir / "client_key"),
                "known_hosts_file": str(self.sshd_dir / "known_hosts")}


def services_home(env: dict[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get("CDP_DEMO_SERVICES", ".cdp/demo/services")).resolve()


def configured(env: dict[str, str] | None = None) -> StandIns:
    env = os.environ if env is None else env
    return StandIns(home=services_home(env), s3_port=int(env.get("CDP_DEMO_S3_PORT", "9574")),
                    sftp_port=int(env.get("CDP_DEMO_SFTP_PORT", "9575")))


def _answers(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.5):
            return True
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _state_file(home: Path) -> Path:
    return home / "state.json"


def _read_state(home: Path) -> dict:
    path = _state_file(home)
    return json.loads(path.read_text()) if path.exists() else {}


def _wait(port: int, process: subprocess.Popen, log: Path, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _answers(port):
            return
        if process.poll() is not None:
            break
        time.sleep(0.2)
    tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
    raise StandInError(f"{what} did not start on {LOOPBACK}:{port} (log {log}):\n{tail}")


def _spawn(args: list[str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)


def _write_secret(path: Path, value: str) -> None:
    path.write_text(value + "\n")
    path.chmod(0o600)


def write_sshd_config(base: Path, port: int, *, log_level: str = "ERROR") -> Path:
    """Keys (host + one authorized client), known_hosts and an sshd_config serving SFTP
    from ``base/files`` on loopback; returns the config file. Reuses existing keys."""
    (base / "files").mkdir(parents=True, exist_ok=True)
    for name in ("host_key", "client_key"):
        if not (base / name).exists():
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name,
                            "-f", str(base / name)], check=True)
    authorized = base / "authorized_keys"
    shutil.copy(base / "client_key.pub", authorized)
    authorized.chmod(0o600)
    if os.geteuid() == 0:
        # sshd refuses to start as root without its privilege separation directory.
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    host_public = (base / "host_key.pub").read_text().split()
    (base / "known_hosts").write_text(f"[{LOOPBACK}]:{port} {host_public[0]} {host_public[1]}\n")
    config = base / "sshd_config"
    config.write_text("\n".join([
        f"ListenAddress {LOOPBACK}", f"Port {port}", f"HostKey {base / 'host_key'}",
        f"PidFile {base / 'sshd.pid'}", f"AuthorizedKeysFile {authorized}",
        # Key files may live under a world-writable temp dir, which StrictModes rejects.
        "StrictModes no", "PubkeyAuthentication yes",
        # Password login is on so that path is exercised; it cannot succeed: root may only
        # use keys here, and other users of these tests have no password.
        "PasswordAuthentication yes", "KbdInteractiveAuthentication no", "UsePAM no",
        "PermitRootLogin prohibit-password", "Subsystem sftp internal-sftp",
        f"LogLevel {log_level}", ""]))
    return config


def _sshd_binary() -> str:
    for candidate in ("/usr/sbin/sshd", shutil.which("sshd")):
        if candidate and Path(candidate).exists():
            return candidate
    raise StandInError("OpenSSH sshd not found (Debian package openssh-server); "
                       "`make setup` installs it")


def status(standins: StandIns | None = None) -> dict[str, bool]:
    """Which stand-ins answer on their ports."""
    standins = standins or configured()
    return {"s3": _answers(standins.s3_port), "sftp": _answers(standins.sftp_port)}


def start(standins: StandIns | None = None) -> StandIns:
    """Start whichever stand-in is not answering yet; idempotent."""
    standins = standins or configured()
    home = standins.home
    home.mkdir(parents=True, exist_ok=True)
    state = _read_state(home)
    if not (home / "s3_access_key_id").exists():
        # moto accepts any key pair; the demo still reads them from files like production.
        _write_secret(home / "s3_access_key_id", "demo-access-key")
        _write_secret(home / "s3_secret_access_key", "demo-secret-key")
    if not _answers(standins.s3_port):
        moto = Path(sys.executable).with_name("moto_server")
        if not moto.exists():
            raise StandInError(f"{moto} not found: install the project (`make setup`)")
        log = home / "moto.log"
        process = _spawn([str(moto), "-H", LOOPBACK, "-p", str(standins.s3_port)], log)
        _wait(standins.s3_port, process, log, "moto S3 server")
        state["s3_pid"] = process.pid
    if not _answers(standins.sftp_port):
        config = write_sshd_config(standins.sshd_dir, standins.sftp_port)
        log = standins.sshd_dir / "sshd.log"
        process = _spawn([_sshd_binary(), "-D", "-e", "-f", str(config)], log)
        _wait(standins.sftp_port, process, log, "sshd")
        state["sftp_pid"] = process.pid
    _state_file(home).write_text(json.dumps(state))
    return standins


def stop(standins: StandIns | None = None) -> list[str]:
    """Stop the stand-ins this module started; returns what was stopped."""
    standins = standins or configured()
    state = _read_state(standins.home)
    stopped = []
    for name in ("s3", "sftp"):
        pid = state.pop(f"{name}_pid", None)
        if pid and _alive(pid):
            try:
                os.killpg(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            stopped.append(name)
    if standins.home.exists():
        _state_file(standins.home).write_text(json.dumps(state))
    return stopped


def _create_buckets(standins: StandIns, buckets: tuple[str, ...]) -> None:
    import boto3

    client = boto3.client(
        "s3", endpoint_url=standins.s3_endpoint, region_name="us-east-1",
        aws_access_key_id=(standins.home / "s3_access_key_id").read_text().strip(),
        aws_secret_access_key=(standins.home / "s3_secret_access_key").read_text().strip())
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    for bucket in buckets:
        if bucket not in existing:
            client.create_bucket(Bucket=bucket)


def inbound_stores(standins: StandIns) -> dict[str, dict]:
    return {"s3": standins.s3_store_config(S3_INBOUND_BUCKET),
            "sftp": standins.sftp_store_config()}


def publish(drop: Path, standins: StandIns | None = None) -> dict[str, int]:
    """Copy the generated files of the remote sources onto their stand-ins (same relative
    paths); unchanged files are uploaded again, which is harmless: couriers load by checksum."""
    from cdp_pipelines.transports import make_store, parse_options

    standins = standins or configured()
    missing = [name for name, up in status(standins).items() if not up]
    if missing:
        raise StandInError(f"stand-in(s) {missing} not running: `cdp demo services start`")
    _create_buckets(standins, (S3_INBOUND_BUCKET, S3_OUTBOUND_BUCKET))
    counts: dict[str, int] = {}
    stores = inbound_stores(standins)
    for directory, kind in PUBLISHED.items():
        files = sorted(p for p in (Path(drop) / directory).glob("*") if p.is_file())
        if not files:
            raise StandInError(f"{Path(drop) / directory}: no generated files to publish; "
                               "run `cdp demo generate` first")
        store = make_store(parse_options(stores[kind]))
        try:
            for path in files:
                store.upload_file(path, f"{directory}/{path.name}")
        finally:
            store.close()
        counts[f"{kind}:{directory}"] = len(files)
    return counts
