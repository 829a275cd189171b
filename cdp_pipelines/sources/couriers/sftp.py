"""Courier for files in a directory on an SFTP server (options: host, port, username, root, private_key_env or password_env, known_hosts_file, ...)."""

from __future__ import annotations

from cdp_pipelines.sources.couriers._store import StoreCourier


class SftpCourier(StoreCourier):
    """Lands files from the store configured in the courier's ``options``."""
