"""ROS 2 message definitions as MCAP 'ros2msg' schema text, read from the installed .msg files.

The text is the format rosbag2 writes into MCAP files: the type's own definition, then each
nested type once, after a line of 80 '=' and a line 'MSG: pkg/Type' (no '/msg/': the parser
of the Foxglove app and Lichtblick, @foxglove/rosmsg, finds nested types only by that name and
rejects 'MSG: pkg/msg/Type'; ros2 bag and mcap_ros2 accept both).
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
import re
import sys

from uav_flood.core.errors import UavFloodError

__all__ = ['SchemaError', 'message_definition', 'find_msg_file']

#: Built-in field types of the ROS 2 interface definition language.
PRIMITIVES = frozenset(
    {
        'bool',
        'byte',
        'char',
        'float32',
        'float64',
        'int8',
        'uint8',
        'int16',
        'uint16',
        'int32',
        'uint32',
        'int64',
        'uint64',
        'string',
        'wstring',
    }
)
_SEPARATOR = '=' * 80
#: Definitions of types the recorder and the bridge write but the PyPI wheels lack
#: (tf2_msgs/msg/TFMessage: its one field, as in ROS 2's geometry2). An installed package's
#: own file is preferred.
BUNDLED = Path(__file__).resolve().parent / 'msg'


class SchemaError(UavFloodError):
    """A message type whose definition cannot be found or parsed."""


def _split_type(type_name: str) -> tuple[str, str]:
    """Return (package, name) of 'pkg/msg/Name' or 'pkg/Name'."""
    parts = type_name.split('/')
    if len(parts) == 3 and parts[1] == 'msg':
        return parts[0], parts[2]
    if len(parts) == 2:
        return parts[0], parts[1]
    raise SchemaError(f'not a ROS 2 message type name: {type_name!r}')


def _share_dirs(package: str) -> list[Path]:
    """Return the candidate share/<package> directories, most specific first."""
    prefixes = [p for p in os.environ.get('AMENT_PREFIX_PATH', '').split(os.pathsep) if p]
    prefixes.append(sys.prefix)
    try:
        module = importlib.import_module(package)
    except ImportError:
        module = None
    if module is not None and getattr(module, '__file__', None):
        # Wheels and colcon installs put share/ beside lib/pythonX.Y/site-packages.
        here = Path(str(module.__file__)).resolve().parent
        prefixes.extend(str(parent) for parent in here.parents)
    return [Path(prefix) / 'share' / package for prefix in prefixes]


def find_msg_file(type_name: str) -> Path:
    """Return the .msg file that defines `type_name` ('nav_msgs/msg/OccupancyGrid').

    :raises SchemaError: when no installed package has it (nor BUNDLED).
    """
    package, name = _split_type(type_name)
    for share in [*_share_dirs(package), BUNDLED / package]:
        candidate = share / 'msg' / f'{name}.msg'
        if candidate.is_file():
            return candidate
    raise SchemaError(f'no definition of {package}/msg/{name} found (looked for share/{package})')


def _field_types(text: str, package: str) -> list[str]:
    """Return the full names of the non-primitive types used by the fields of a definition."""
    nested = []
    for raw in text.splitlines():
        line = raw.split('#', 1)[0].strip()
        if not line:
            continue
        field_type = line.split()[0]
        rest = line[len(field_type) :].strip()
        if '=' in rest:
            continue  # a constant ('TYPE NAME=VALUE'), always of a primitive type
        base = re.sub(r'\[.*\]$', '', field_type)
        base = re.sub(r'<=\d+$', '', base)
        if base in PRIMITIVES:
            continue
        if '/' in base:
            pkg, name = _split_type(base)
        else:
            pkg, name = package, base
        nested.append(f'{pkg}/msg/{name}')
    return nested


def message_definition(type_name: str) -> str:
    """Return the 'ros2msg' schema text of a message type, nested types included.

    :param type_name: 'pkg/msg/Name', as get_topic_names_and_types reports it.
    :raises SchemaError: when a definition is missing.
    """
    package, name = _split_type(type_name)
    root = f'{package}/msg/{name}'
    texts: dict[str, str] = {}
    order: list[str] = []
    pending = [root]
    while pending:
        current = pending.pop(0)
        if current in texts:
            continue
        text = find_msg_file(current).read_text(encoding='utf-8')
        texts[current] = text
        order.append(current)
        pending.extend(_field_types(text, current.split('/')[0]))
    parts = [texts[root].rstrip('\n')]
    for dependency in order[1:]:
        pkg, name = _split_type(dependency)
        parts.append(f'{_SEPARATOR}\nMSG: {pkg}/{name}\n{texts[dependency].rstrip(chr(10))}')
    return '\n'.join(parts) + '\n'
