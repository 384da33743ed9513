"""Swarm coverage planning: area partitioning, boustrophedon paths, replanning (no rclpy)."""

from uav_flood.core.coverage.area import Area, check_polygon, first_vertex
from uav_flood.core.coverage.errors import PlanningError
from uav_flood.core.coverage.footprint import Camera, swath_m
from uav_flood.core.coverage.planner import (
    CoveragePlan,
    Drone,
    DronePlan,
    free_region,
    plan_coverage,
    PlanConfig,
    PlanMetrics,
    replan_coverage,
)

__all__ = [
    'Area',
    'Camera',
    'CoveragePlan',
    'Drone',
    'DronePlan',
    'PlanConfig',
    'PlanMetrics',
    'PlanningError',
    'check_polygon',
    'first_vertex',
    'free_region',
    'plan_coverage',
    'replan_coverage',
    'swath_m',
]
