"""Parameter helpers shared by the nodes: declare a PARAMETERS table read-only, parse vehicles."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
import re
from typing import Any

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.exceptions import InvalidParameterTypeException
from rclpy.node import Node

from uav_flood.core.errors import ConfigError

#: A vehicle namespace without slashes, e.g. 'uav0'.
VEHICLE_NAME = re.compile(r'^[A-Za-z][A-Za-z0-9_]*$')

_KINDS = {
    bool: 'true/false',
    int: 'an integer',
    float: 'a number with a decimal point',
    str: 'a string',
    list: 'a list',
}


def declare_read_only(node: Node, parameters: Mapping[str, tuple[Any, str]]) -> dict[str, Any]:
    """Declare every (default, description) of `parameters` read-only; return the values.

    :raises ConfigError: a value of the wrong type was given (e.g. `-p rate_hz:=2` for a
        float), naming the parameter and the type it needs.
    """
    for name, (default, description) in parameters.items():
        try:
            node.declare_parameter(
                name, default, ParameterDescriptor(description=description, read_only=True)
            )
        except InvalidParameterTypeException:
            kind = _KINDS.get(type(default), f'of the type of {default!r}')
            if isinstance(default, list) and default:
                kind = f'a list like {default!r}'
            raise ConfigError(f'must be {kind}, like the default {default!r}', name) from None
    return {name: node.get_parameter(name).value for name in parameters}


def parse_vehicles(raw: Iterable[Any], name: str = 'vehicles') -> tuple[str, ...]:
    """Return vehicle namespaces ('uav0', ...) from a parameter value, checked.

    :raises ConfigError: empty, an invalid name, or a repeated name.
    """
    vehicles = tuple(str(v).strip().strip('/') for v in raw)
    if not vehicles:
        raise ConfigError('must name at least one vehicle', name)
    bad = [v for v in vehicles if not VEHICLE_NAME.match(v)]
    if bad:
        raise ConfigError(f'not valid namespace names: {bad}', name)
    if len(set(vehicles)) != len(vehicles):
        raise ConfigError(f'names must be unique, got {list(vehicles)}', name)
    return vehicles
