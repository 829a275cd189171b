"""The one error a tenant's configuration raises."""


class ConfigError(ValueError):
    """The tenant configuration is wrong; the message names file and field."""
