"""Operations: courier groups become schedules (plus "file arrived" checks on their
couriers) and remote couriers get file-arrival sensors. Add to Definitions::

    schedules=build_schedules(config, deployment),
    sensors=build_sensors(config, deployment),
    asset_checks=build_courier_group_checks(config, deployment),
"""

from cdp_pipelines.keys import wait_minutes_for
from cdp_pipelines.orchestration.courier_groups import (
    build_courier_group_checks,
    build_schedules,
)
from cdp_pipelines.orchestration.sensors import build_sensors

__all__ = [
    "build_courier_group_checks",
    "build_schedules",
    "build_sensors",
    "wait_minutes_for",
]
