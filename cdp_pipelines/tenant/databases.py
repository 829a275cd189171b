"""Custom Customer 360 tables: `databases/<database>/<table>.sql` (Spark SQL)."""

from __future__ import annotations

from pathlib import Path

from cdp_pipelines.tenant.base import Name, TenantModel


class DatabaseTable(TenantModel):
    """One custom table of a tenant database; the file name is the table name."""

    database: Name
    name: Name
    sql: str
    path: Path

    @property
    def file(self) -> str:
        return f"databases/{self.database}/{self.path.name}"
