"""Sandboxes: branches of the tenant configuration run as their own Dagster deployments."""
