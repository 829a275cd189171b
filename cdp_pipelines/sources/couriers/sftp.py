"""Courier for files in a directory on an SFTP server.

Options: ``host``, ``port``, ``username``, ``root``, ``private_key_env``/``_file`` and/or
``password_env``/``_file``, ``known_hosts_file``, ``host_key_policy``.
"""

from __future__ import annotations

from cdp_pipelines.sources.couriers._store import StoreCourier


class SftpCourier(StoreCourier):
    """Lands files from the store configured in the courier's ``options``."""
