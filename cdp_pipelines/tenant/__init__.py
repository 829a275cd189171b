"""A tenant's configuration: typed models and the one loader of every tenant file.

Layers receive a :class:`Tenant` (or the specs inside it) and never open tenant files.
"""

from cdp_pipelines.tenant.errors import ConfigError
from cdp_pipelines.tenant.loader import load_tenant
from cdp_pipelines.tenant.model import Tenant

__all__ = ["ConfigError", "Tenant", "load_tenant"]
