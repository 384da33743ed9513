"""Parse and validate node-graph files: the YAML that `uav-flood launch` and graph.launch.py run.

A graph file lists nodes; each becomes one process started as
``EXE [arguments] --ros-args -r __node:=NAME -r __ns:=NS --params-file FILE -p k:=v -r a:=b``.
Everything is checked before any process starts, and every problem is reported as a
:class:`~uav_flood.core.errors.ConfigError` that names the file, the node and the key, so a typo
costs one line of output rather than a traceback or a half-started fleet. The format is
documented in docs/node_graph.md.

Nothing here imports rclpy or launch: the supervisor and the launch file both build on it.
"""

from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass
import difflib
import itertools
import json
import math
import os
from pathlib import Path
import re
import shutil
import sys
from typing import Any, TypeAlias

import yaml

from uav_flood.core.errors import ConfigError
from uav_flood.core.user_files import MAX_DOCUMENT_BYTES, read_text, UserFileError

#: The package a node's executable is looked up in when the graph does not say.
DEFAULT_PACKAGE = 'uav_flood'
#: Seconds between a respawning node's exit and its restart, unless the graph says otherwise.
DEFAULT_RESPAWN_DELAY_S = 1.0
#: The label the runner prints its own messages under; no node may take it.
RUNNER_LABEL = 'launch'
#: Most parameters one {name: value} mapping of a node may set. YAML aliases let a few lines
#: nest a mapping in itself 9^9 times; real nodes have a few dozen parameters.
MAX_OVERRIDES = 10_000
#: Most nodes a graph may start, each its own process (the demo with 10 drones starts 36).
MAX_NODES = 1000

Scalar: TypeAlias = bool | int | float | str
#: A ROS parameter value: a scalar or a homogeneous array (a tuple keeps NodeSpec hashable).
ParameterValue: TypeAlias = Scalar | tuple[Scalar, ...]

GRAPH_KEYS = ('nodes',)
#: The nodes node_group can host (a graph node with a `group` must be one of them).
GROUP_NODES = (
    'edge_server',
    'flight_control',
    'flood_mapper',
    'foxglove_bridge',
    'link_emulator',
    'ping_responder',
    'recorder',
    'segmentation',
    'sim_camera',
    'swarm_coordinator',
)
NODE_KEYS = (
    'executable',
    'package',
    'name',
    'namespace',
    'label',
    'parameters',
    'remappings',
    'arguments',
    'env',
    'required',
    'respawn',
    'respawn_delay',
    'respawn_max',
    'group',
)
#: The program that runs the nodes of one `group` in one process (uav_flood.nodes.node_group).
GROUP_EXECUTABLE = 'node_group'

# The rules rmw applies to node names and namespaces (rmw_validate_node_name/_namespace).
_NODE_NAME = re.compile(r'[A-Za-z_][A-Za-z0-9_]*')
_NAMESPACE = re.compile(r'(/[A-Za-z_][A-Za-z0-9_]*)+')
# Topic and service names as rcl accepts them in remapping rules: relative, absolute or
# private (~/), with {node}/{ns} substitutions.
_TOPIC_NAME = re.compile(r'(~/?)?/?[A-Za-z_{][A-Za-z0-9_{}]*(/[A-Za-z_{][A-Za-z0-9_{}]*)*')
_PARAMETER_NAME = re.compile(r'[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*')
_PACKAGE_NAME = re.compile(r'[A-Za-z][A-Za-z0-9_]*')
_ENV_NAME = re.compile(r'[A-Za-z_][A-Za-z0-9_]*')
# Labels become log file paths (DIR/<label>.log): no empty, hidden or '..' path components.
_LABEL = re.compile(r'[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*')
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1

# Builds the ConfigError for one node: 'nodes[2] (uav2/ping_responder): <message>'.
_Fail: TypeAlias = Callable[[str], ConfigError]


@dataclass(frozen=True)
class ParameterFile:
    """A YAML parameter file handed to the node with ``--params-file``.

    :param path: the absolute path of the file.
    """

    path: Path


@dataclass(frozen=True)
class ParameterOverrides:
    """Parameter values handed to the node with ``-p NAME:=VALUE``, in the order written.

    :param values: (name, value) pairs; nested mappings are flattened to dotted names.
    """

    values: tuple[tuple[str, ParameterValue], ...]

    def as_dict(self) -> dict[str, Scalar | list[Scalar]]:
        """Return the overrides as a plain mapping (arrays as lists), as launch_ros takes them."""
        return {
            name: list(value) if isinstance(value, tuple) else value for name, value in self.values
        }


ParameterSource: TypeAlias = ParameterFile | ParameterOverrides


@dataclass(frozen=True)
class NodeSpec:
    """One node of a graph: what to run, how to name it and what to do when it exits.

    :param label: unique display and log name, e.g. 'uav0/ping_responder'.
    :param executable: a console script name, or an absolute path when the graph gave a path.
    :param package: the package whose lib/<package>/ directory holds the executable.
    :param name: the node name to remap to (``__node``), or None to keep the node's own.
    :param namespace: the absolute namespace to push the node into (``__ns``), or None.
    :param parameters: parameter files and overrides, applied in order (later ones win).
    :param remappings: (from, to) name remappings.
    :param arguments: extra command-line arguments, placed before ``--ros-args``.
    :param env: extra environment variables for the process.
    :param required: shut the whole graph down when this node exits.
    :param respawn: restart the node when it exits (except during shutdown).
    :param respawn_delay: wait this long before a restart (s).
    :param respawn_max: restart at most this many times; None for no limit.
    :param index: the node's position in the graph file's `nodes` list.
    :param source: the graph file the node was read from (for error messages).
    :param group: the label of the process this node shares with the other nodes of the same
        group (`uav-flood launch` starts them in one node_group process); None: its own.
    """

    label: str
    executable: str
    package: str = DEFAULT_PACKAGE
    name: str | None = None
    namespace: str | None = None
    parameters: tuple[ParameterSource, ...] = ()
    remappings: tuple[tuple[str, str], ...] = ()
    arguments: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    required: bool = False
    respawn: bool = False
    respawn_delay: float = DEFAULT_RESPAWN_DELAY_S
    respawn_max: int | None = None
    index: int = 0
    source: str = ''
    group: str | None = None

    @property
    def is_path(self) -> bool:
        """Return whether `executable` is a file path rather than a name to look up."""
        return os.path.isabs(self.executable)

    @property
    def where(self) -> str:
        """Return how error messages name this node: 'nodes[2] (uav2/ping_responder)'."""
        return f'nodes[{self.index}] ({self.label})'


@dataclass(frozen=True)
class GraphSpec:
    """A validated graph file.

    :param path: the file it was read from.
    :param nodes: its nodes, in file order (the order they are started in).
    """

    path: Path
    nodes: tuple[NodeSpec, ...]

    def node(self, label: str) -> NodeSpec:
        """Return the node labelled `label`.

        :param label: a node label, e.g. 'uav0/ping_responder'.
        :raises KeyError: if no node has that label.
        """
        for node in self.nodes:
            if node.label == label:
                return node
        raise KeyError(label)


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that rejects duplicate keys instead of keeping the last silently."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[Any] = set()
        for key_node, _value_node in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:
                # Unhashable keys: let SafeLoader report them in its own words.
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    'while constructing a mapping',
                    node.start_mark,
                    f'found duplicate key {key!r}',
                    key_node.start_mark,
                )
        return super().construct_mapping(node, deep=deep)


def _load_yaml(text: str, source: str, what: str) -> Any:
    """Parse `text` as YAML; turn syntax errors into a ConfigError with line and column."""
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader: no arbitrary objects
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        at = f' at line {mark.line + 1}, column {mark.column + 1}' if mark is not None else ''
        raise ConfigError(f'invalid YAML in {what}{at}: {exc.problem}', source) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f'invalid YAML in {what}: {exc}', source) from None
    except RecursionError:
        raise ConfigError(
            f'invalid YAML in {what}: nested too deeply (thousands of levels)', source
        ) from None


def load_graph(path: str | os.PathLike[str]) -> GraphSpec:
    """Read and validate the graph file at `path`.

    :param path: the graph file; relative paths inside it resolve against its directory.
    :raises ConfigError: if the file cannot be read or anything in it is invalid.
    """
    source = os.fspath(path)
    try:
        with open(path, 'rb') as stream:
            data = stream.read(MAX_DOCUMENT_BYTES + 1)
        if len(data) > MAX_DOCUMENT_BYTES:
            raise ConfigError(
                f'graph file is larger than {MAX_DOCUMENT_BYTES // (1024 * 1024)} MB', source
            )
        text = data.decode('utf-8')
    except FileNotFoundError:
        raise ConfigError('graph file not found', source) from None
    except IsADirectoryError:
        raise ConfigError('is a directory, not a graph file', source) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f'graph file is not UTF-8 text ({exc.reason})', source) from None
    except OSError as exc:
        raise ConfigError(f'cannot read graph file: {exc.strerror}', source) from None
    return parse_graph(text, Path(path), source=source)


def parse_graph(text: str, path: Path, source: str | None = None) -> GraphSpec:
    """Validate the graph file contents `text` as if read from `path`.

    :param text: the YAML document.
    :param path: where it came from; relative paths in it resolve against its directory.
    :param source: how error messages name the file (default: `path` as given).
    :raises ConfigError: if anything is invalid.
    """
    source = os.fspath(path) if source is None else source
    data = _load_yaml(text, source, 'graph file')
    if data is None:
        raise ConfigError(
            "the graph file is empty: expected a mapping with a 'nodes' list", source
        )
    if not isinstance(data, dict):
        raise ConfigError(
            f"expected a mapping with a 'nodes' list at the top level, got {_kind(data)}", source
        )
    for key in data:
        if key not in GRAPH_KEYS:
            raise ConfigError(_unknown_key('top level', key, GRAPH_KEYS), source)
    if 'nodes' not in data:
        raise ConfigError("missing key 'nodes' (the list of nodes to start)", source)
    raw_nodes = data['nodes']
    if not isinstance(raw_nodes, list):
        raise ConfigError(f"'nodes' must be a list, got {_kind(raw_nodes)}", source)
    if not raw_nodes:
        raise ConfigError("'nodes' is empty: a graph needs at least one node", source)
    if len(raw_nodes) > MAX_NODES:
        raise ConfigError(
            f"'nodes' lists {len(raw_nodes)} nodes; a graph may start at most {MAX_NODES} "
            'processes',
            source,
        )

    base_dir = Path(os.path.abspath(path)).parent
    nodes: list[NodeSpec] = []
    seen: dict[str, int] = {}
    fqns: dict[tuple[str, str], int] = {}
    for index, raw in enumerate(raw_nodes):
        node = _parse_node(raw, index, base_dir, source)
        if node.label in seen:
            raise ConfigError(
                f"{node.where}: duplicate label '{node.label}' (also nodes[{seen[node.label]}]);"
                " give one of them a 'label' or a different name/namespace",
                source,
            )
        seen[node.label] = index
        # Two processes registering the same node name confuse parameter services and tools.
        identity = (
            node.namespace or '/',
            node.name or f'<default name of {node.package}/{node.executable}>',
        )
        if identity in fqns:
            other = fqns[identity]
            shown = (
                f"node '{node.name}'" if node.name else f"the default node of '{node.executable}'"
            )
            raise ConfigError(
                f'{node.where}: {shown} in namespace {identity[0]} is already started by '
                f"nodes[{other}]; give one of them another 'name' or 'namespace'",
                source,
            )
        fqns[identity] = index
        nodes.append(node)
    return GraphSpec(path=Path(path), nodes=tuple(nodes))


def _parse_node(raw: Any, index: int, base_dir: Path, source: str) -> NodeSpec:
    """Validate one entry of the `nodes` list."""
    where = f'nodes[{index}]'
    if not isinstance(raw, dict):
        raise ConfigError(
            f'{where}: expected a mapping with an executable, got {_kind(raw)}', source
        )
    provisional = _provisional_label(raw)
    if provisional:
        where = f'{where} ({provisional})'

    def fail(message: str) -> ConfigError:
        return ConfigError(f'{where}: {message}', source)

    for key in raw:
        if key not in NODE_KEYS:
            raise fail(_unknown_key('node', key, NODE_KEYS))

    if 'executable' not in raw:
        raise fail("missing key 'executable' (a console script name or a path)")
    executable = _string(raw, 'executable', fail)
    _reject_substitution(executable, 'executable', fail)
    if '/' in executable:
        # A path: relative ones are relative to the graph file, like parameter files.
        executable = os.path.normpath(base_dir / Path(executable).expanduser())

    package = _optional_string(raw, 'package', fail) or DEFAULT_PACKAGE
    if not _PACKAGE_NAME.fullmatch(package):
        raise fail(f"package '{package}' is not a valid package name")

    name = _optional_string(raw, 'name', fail)
    if name is not None and not _NODE_NAME.fullmatch(name):
        raise fail(
            f"name '{name}' is not a valid node name (letters, digits and '_', "
            'not starting with a digit)'
        )

    namespace = _optional_string(raw, 'namespace', fail)
    if namespace is not None:
        if not namespace.startswith('/'):
            raise fail(f"namespace '{namespace}' must be absolute: write '/{namespace}'")
        if namespace != '/' and not _NAMESPACE.fullmatch(namespace):
            raise fail(
                f"namespace '{namespace}' is not a valid ROS namespace ('/'-separated tokens of "
                "letters, digits and '_', none starting with a digit, no trailing '/')"
            )

    label = _optional_string(raw, 'label', fail)
    what = 'label'
    if label is None:
        label = _default_label(namespace, name, executable)
        what = "the default label (from namespace and name or executable; set 'label')"
    if not _LABEL.fullmatch(label):
        raise fail(
            f"{what} '{label}' is not valid: use '/'-separated parts of letters, digits, "
            "'_', '.' and '-' (each part starting with a letter, digit or '_')"
        )
    if label == RUNNER_LABEL:
        raise fail(f"label '{RUNNER_LABEL}' is reserved for the runner's own messages")
    # From here on fail() names the node by its validated label.
    where = f'nodes[{index}] ({label})'

    parameters = _parse_parameters(raw.get('parameters'), base_dir, package, fail)
    remappings = _parse_remappings(raw.get('remappings'), fail)
    arguments = _parse_arguments(raw.get('arguments'), fail)
    env = _parse_env(raw.get('env'), fail)
    group = _optional_string(raw, 'group', fail)
    if group is not None:
        if not _LABEL.fullmatch(group) or group == RUNNER_LABEL:
            raise fail(
                f"group '{group}' is not a valid process label ('/'-separated parts of "
                "letters, digits, '_', '.' and '-')"
            )
        if arguments or '/' in executable or package != DEFAULT_PACKAGE:
            raise fail(
                f"a node in group '{group}' runs inside node_group: it takes no 'arguments' "
                f"and must be one of its own package's nodes ({', '.join(GROUP_NODES)})"
            )
        if executable not in GROUP_NODES:
            raise fail(
                f"'{executable}' cannot join group '{group}': node_group hosts "
                f'{", ".join(GROUP_NODES)}'
            )

    required = _bool(raw, 'required', fail)
    respawn = _bool(raw, 'respawn', fail)
    if required and respawn:
        raise fail(
            "'required: true' and 'respawn: true' contradict each other: a required node's "
            'exit shuts the graph down, so it is never respawned; choose one'
        )
    respawn_delay = DEFAULT_RESPAWN_DELAY_S
    if raw.get('respawn_delay') is not None:
        value = raw['respawn_delay']
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise fail(f"'respawn_delay' must be a number of seconds, got {_kind(value)}")
        if not math.isfinite(value) or value < 0:
            raise fail(f"'respawn_delay' must be a finite number >= 0, got {value}")
        respawn_delay = float(value)
    respawn_max = None
    if raw.get('respawn_max') is not None:
        value = raw['respawn_max']
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise fail(
                f"'respawn_max' must be a whole number >= 0 (or null for no limit), got {value!r}"
            )
        respawn_max = value

    return NodeSpec(
        label=label,
        executable=executable,
        package=package,
        name=name,
        namespace=namespace,
        parameters=parameters,
        remappings=remappings,
        arguments=arguments,
        env=env,
        required=required,
        respawn=respawn,
        respawn_delay=respawn_delay,
        respawn_max=respawn_max,
        index=index,
        source=source,
        group=group,
    )


def merge_groups(graph: GraphSpec) -> GraphSpec:
    """Return `graph` with the nodes of each group merged into one node_group process.

    The process takes the group's name as its label and the place of the group's first node;
    its command runs every member with its own ROS arguments (``--node EXE --ros-args ...``).
    It is required when a member is, respawned when every member is (after the longest delay,
    at most the fewest times), and gets the members' environment (which must agree).

    :raises ConfigError: a group's name is also a node's label, or its members' environments
        contradict each other.
    """
    members: dict[str, list[NodeSpec]] = {}
    for node in graph.nodes:
        if node.group is not None:
            members.setdefault(node.group, []).append(node)
    if not members:
        return graph
    labels = {node.label for node in graph.nodes if node.group is None}
    merged: list[NodeSpec] = []
    for node in graph.nodes:
        if node.group is None:
            merged.append(node)
            continue
        group = members[node.group]
        if node is not group[0]:
            continue
        if node.group in labels:
            raise ConfigError(
                f"group '{node.group}' has the label of another node: rename one", node.source
            )
        env: dict[str, str] = {}
        for member in group:
            for key, value in member.env:
                if env.setdefault(key, value) != value:
                    raise ConfigError(
                        f"group '{node.group}': {member.where} sets {key}={value}, another "
                        f'member {key}={env[key]}: one process has one environment',
                        node.source,
                    )
        arguments: list[str] = []
        for member in group:
            extra = ros_arguments(member)
            arguments += ['--node', member.executable, *(['--ros-args', *extra] if extra else [])]
        required = any(m.required for m in group)
        respawn = all(m.respawn for m in group) and not required
        limits = [m.respawn_max for m in group if m.respawn_max is not None]
        merged.append(
            NodeSpec(
                label=node.group,
                executable=GROUP_EXECUTABLE,
                arguments=tuple(arguments),
                env=tuple(env.items()),
                required=required,
                respawn=respawn,
                respawn_delay=max(m.respawn_delay for m in group),
                respawn_max=min(limits) if limits else None,
                index=node.index,
                source=node.source,
            )
        )
    return GraphSpec(graph.path, tuple(merged))


def _default_label(namespace: str | None, name: str | None, executable: str) -> str:
    """Return 'uav0/ping_responder' from the namespace and the node name (or executable)."""
    leaf = name or os.path.basename(executable)
    prefix = (namespace or '').strip('/')
    return f'{prefix}/{leaf}' if prefix else leaf


def _provisional_label(raw: dict[Any, Any]) -> str:
    """Name a node in an error message before its own keys are validated ('' if unknown)."""
    label = raw.get('label')
    if isinstance(label, str) and label:
        return label
    executable = raw.get('executable')
    name = raw.get('name')
    namespace = raw.get('namespace')
    if not isinstance(executable, str) or not executable:
        return ''
    return _default_label(
        namespace if isinstance(namespace, str) else None,
        name if isinstance(name, str) and name else None,
        executable,
    )


def _parse_parameters(
    raw: Any, base_dir: Path, package: str, fail: _Fail
) -> tuple[ParameterSource, ...]:
    """Validate `parameters`: a list of file paths and mappings of overrides."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise fail(
            "'parameters' must be a list of parameter file paths and {name: value} mappings, "
            f'got {_kind(raw)}'
        )
    sources: list[ParameterSource] = []
    for i, item in enumerate(raw):
        key = f'parameters[{i}]'
        if isinstance(item, str):
            sources.append(ParameterFile(_find_parameter_file(item, key, base_dir, package, fail)))
        elif isinstance(item, dict):
            if not item:
                raise fail(f'{key} is an empty mapping')
            # YAML aliases can nest a mapping in itself nine times nine times...: stop counting.
            values = tuple(
                itertools.islice(_flatten_overrides(item, '', key, fail), MAX_OVERRIDES + 1)
            )
            if len(values) > MAX_OVERRIDES:
                raise fail(f'{key} sets more than {MAX_OVERRIDES} parameters')
            seen: set[str] = set()
            for name, _value in values:
                if name in seen:
                    raise fail(f"{key} sets parameter '{name}' twice")
                seen.add(name)
            sources.append(ParameterOverrides(values))
        else:
            raise fail(
                f'{key} must be a parameter file path or a {{name: value}} mapping, '
                f'got {_kind(item)}'
            )
    return tuple(sources)


def _find_parameter_file(text: str, key: str, base_dir: Path, package: str, fail: _Fail) -> Path:
    """Resolve a parameter file path: graph directory first, then the package share dirs."""
    _reject_substitution(text, key, fail)
    path = Path(text).expanduser()
    candidates = (
        [path]
        if path.is_absolute()
        else [base_dir / path, *(d / path for d in share_dirs(package))]
    )
    for candidate in candidates:
        if candidate.is_file():
            found = Path(os.path.normpath(candidate))
            _check_parameter_file(found, key, fail)
            return found
    looked = ', '.join(str(c) for c in candidates)
    raise fail(f"{key}: parameter file '{text}' not found (looked for {looked})")


def _check_parameter_file(path: Path, key: str, fail: _Fail) -> None:
    """Check that a parameter file is readable YAML with a mapping at the top.

    rcl only reports a broken file when the node starts, as a terse error from inside the node.
    """
    try:
        text = read_text(path)
    except UserFileError as exc:
        raise fail(f'{key}: {exc}') from None
    try:
        data = _load_yaml(text, str(path), f'parameter file {path}')
    except ConfigError as exc:
        raise fail(f'{key}: {exc}') from None
    if not isinstance(data, dict):
        raise fail(
            f'{key}: parameter file {path} must hold a mapping such as '
            f"'/**: {{ros__parameters: {{...}}}}', got {_kind(data)}"
        )


def _flatten_overrides(
    mapping: dict[Any, Any], prefix: str, key: str, fail: _Fail
) -> Iterator[tuple[str, ParameterValue]]:
    """Yield (dotted name, value) for a mapping of overrides, nested mappings included."""
    for raw_name, value in mapping.items():
        if not isinstance(raw_name, str):
            raise fail(f'{key}: parameter names must be strings, got {raw_name!r}')
        name = f'{prefix}{raw_name}'
        if not _PARAMETER_NAME.fullmatch(name):
            raise fail(f"{key}: '{name}' is not a valid parameter name")
        if isinstance(value, dict):
            if not value:
                raise fail(f"{key}: parameter '{name}' is an empty mapping")
            yield from _flatten_overrides(value, f'{name}.', key, fail)
        else:
            yield name, _parameter_value(value, f"{key}: parameter '{name}'", fail)


def _parameter_value(value: Any, what: str, fail: _Fail) -> ParameterValue:
    """Check that `value` has a ROS parameter type; return it (arrays as tuples)."""
    if isinstance(value, (bool, str, float)):
        return value
    if isinstance(value, int):
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise fail(f'{what}: {value} does not fit a ROS integer (64 bit)')
        return value
    if value is None:
        raise fail(f'{what} has no value (null): give it one or leave it out')
    if isinstance(value, list):
        if not value:
            raise fail(f'{what} is an empty list: ROS cannot tell which array type it is')
        items: list[Scalar] = []
        for raw_item in value:
            item = _parameter_value(raw_item, what, fail)
            if isinstance(item, tuple):
                raise fail(f'{what}: ROS parameters cannot be nested lists')
            items.append(item)
        kinds = {_scalar_kind(item) for item in items}
        if kinds == {'int', 'float'}:
            # YAML reads [1, 2.5] as ints and floats; ROS needs one type, so widen to double.
            return tuple(float(item) for item in items)
        if len(kinds) > 1:
            mixed = ' and '.join(sorted(kinds))
            raise fail(f'{what} mixes {mixed} items: ROS arrays hold one type')
        return tuple(items)
    raise fail(f'{what} has unsupported type {_kind(value)}; quote it to make it a string')


def _scalar_kind(value: ParameterValue) -> str:
    if isinstance(value, bool):
        return 'bool'
    if isinstance(value, int):
        return 'int'
    if isinstance(value, float):
        return 'float'
    return 'string'


def _parse_remappings(raw: Any, fail: _Fail) -> tuple[tuple[str, str], ...]:
    """Validate `remappings`: a mapping from name to name."""
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise fail(f"'remappings' must be a mapping {{from: to}}, got {_kind(raw)}")
    pairs = []
    for src, dst in raw.items():
        for end, value in (('from', src), ('to', dst)):
            if not isinstance(value, str) or not _TOPIC_NAME.fullmatch(value):
                raise fail(f'remappings: {value!r} is not a valid topic or service name ({end})')
        if src.startswith('__'):
            raise fail(f"remappings: use 'name'/'namespace' instead of remapping '{src}'")
        pairs.append((src, dst))
    return tuple(pairs)


def _parse_arguments(raw: Any, fail: _Fail) -> tuple[str, ...]:
    """Validate `arguments`: a list of strings (numbers are written out as given)."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise fail(f"'arguments' must be a list of strings, got {_kind(raw)}")
    arguments = []
    for i, item in enumerate(raw):
        if isinstance(item, bool) or not isinstance(item, (str, int, float)):
            raise fail(f'arguments[{i}] must be a string, got {_kind(item)}')
        arguments.append(str(item))
    return tuple(arguments)


def _parse_env(raw: Any, fail: _Fail) -> tuple[tuple[str, str], ...]:
    """Validate `env`: a mapping of variable names to strings (numbers are written out)."""
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise fail(f"'env' must be a mapping {{NAME: value}}, got {_kind(raw)}")
    pairs = []
    for name, value in raw.items():
        if not isinstance(name, str) or not _ENV_NAME.fullmatch(name):
            raise fail(f'env: {name!r} is not a valid environment variable name')
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise fail(f"env: '{name}' must be a string (quote it), got {_kind(value)}")
        pairs.append((name, str(value)))
    return tuple(pairs)


def _string(raw: dict[Any, Any], key: str, fail: _Fail) -> str:
    value = raw[key]
    if not isinstance(value, str) or not value.strip():
        raise fail(f"'{key}' must be a non-empty string, got {_kind(value)}")
    return value


def _optional_string(raw: dict[Any, Any], key: str, fail: _Fail) -> str | None:
    if raw.get(key) is None:
        return None
    return _string(raw, key, fail)


def _bool(raw: dict[Any, Any], key: str, fail: _Fail) -> bool:
    value = raw.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise fail(f"'{key}' must be true or false, got {value!r}")
    return value


def _reject_substitution(text: str, key: str, fail: _Fail) -> None:
    """Refuse launch-style substitutions, which this format does not evaluate."""
    if '$(' in text:
        raise fail(
            f'{key}: substitutions such as $(find pkg) are not supported in graph files; '
            'write a path relative to the graph file (or to the package share directory)'
        )


def _unknown_key(where: str, key: Any, known: tuple[str, ...]) -> str:
    message = f'unknown key {key!r}'
    if isinstance(key, str):
        close = difflib.get_close_matches(key, known, n=1)
        if close:
            message += f" (did you mean '{close[0]}'?)"
    if where == 'top level':
        message = f'{message} at the top level (known: {", ".join(known)})'
    return message


def _kind(value: Any) -> str:
    """Name the YAML type of `value` for error messages."""
    if value is None:
        return 'null'
    for kind, name in _KINDS:
        if isinstance(value, kind):
            return name
    return type(value).__name__


# bool before int: YAML's true is a Python int too.
_KINDS: tuple[tuple[type, str], ...] = (
    (bool, 'a boolean'),
    (int, 'a number'),
    (float, 'a number'),
    (str, 'a string'),
    (list, 'a list'),
    (dict, 'a mapping'),
)


# --- Where things are installed ----------------------------------------------------------------


def share_dirs(package: str) -> list[Path]:
    """Return the share/<package> directories to search for data files, best first.

    The ament index knows colcon installs (AMENT_PREFIX_PATH); pip and venv installs put
    data_files under sys.prefix.

    :param package: the package name.
    """
    dirs: list[Path] = []
    try:
        from ament_index_python.packages import get_package_share_directory

        dirs.append(Path(get_package_share_directory(package)))
    except (ImportError, LookupError, OSError, ValueError):
        # Not installed with colcon, or AMENT_PREFIX_PATH unset: only the pip layout is left.
        pass
    pip_share = Path(sys.prefix) / 'share' / package
    if pip_share not in dirs:
        dirs.append(pip_share)
    return dirs


def executable_candidates(executable: str, package: str, path: str | None = None) -> list[Path]:
    """Return where a console script name is looked for, in order.

    :param executable: the script name, e.g. 'ping_responder'.
    :param package: the package it belongs to.
    :param path: the PATH to search last (default: the PATH of this process).
    """
    candidates: list[Path] = []
    try:
        from ament_index_python.packages import get_package_prefix

        candidates.append(Path(get_package_prefix(package)) / 'lib' / package / executable)
    except (ImportError, LookupError, OSError, ValueError):
        pass
    candidates.append(Path(sys.prefix) / 'lib' / package / executable)
    # Not resolved through symlinks: a venv's python links to the base interpreter's bin/.
    candidates.append(Path(os.path.dirname(sys.executable)) / executable)
    on_path = shutil.which(executable, path=path)
    if on_path is not None:
        candidates.append(Path(on_path))
    unique: list[Path] = []
    for candidate in candidates:
        if candidate not in unique:
            unique.append(candidate)
    return unique


def resolve_executable(node: NodeSpec, path: str | None = None) -> str:
    """Return the absolute path of the program that runs `node`.

    :param node: the node.
    :param path: the PATH to search last (default: the PATH of this process).
    :raises ConfigError: if there is no such executable file.
    """
    if node.is_path:
        candidate = Path(node.executable)
        if not candidate.is_file():
            raise ConfigError(f'{node.where}: executable {candidate} does not exist', node.source)
        if not os.access(candidate, os.X_OK):
            raise ConfigError(
                f'{node.where}: {candidate} is not executable (chmod +x?)', node.source
            )
        return str(candidate)
    candidates = executable_candidates(node.executable, node.package, path)
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    looked = ', '.join(str(c.parent) for c in candidates)
    raise ConfigError(
        f"{node.where}: executable '{node.executable}' not found "
        f"(looked in {looked} and on PATH); is package '{node.package}' installed?",
        node.source,
    )


def find_graph_file(path: str | os.PathLike[str], package: str = DEFAULT_PACKAGE) -> Path:
    """Return the graph file `path`; relative paths resolve against the package share dirs.

    This is how graph.launch.py finds `graph:=config/graphs/ping_fleet.yaml`.

    :param path: an absolute path, or one relative to share/<package>.
    :param package: the package whose share directory relative paths start from.
    :raises ConfigError: if a relative path is in none of the share directories.
    """
    given = Path(path).expanduser()
    if given.is_absolute():
        return given
    candidates = [d / given for d in share_dirs(package)]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    looked = ', '.join(str(c) for c in candidates)
    raise ConfigError(f'graph file not found (looked for {looked})', os.fspath(path))


# --- Command lines and launch_ros arguments ----------------------------------------------------


def graph_yaml(graph: Mapping[str, Any], header: str = '') -> str:
    """Return a graph mapping as graph-file YAML text, with `header` lines as comments on top.

    :param graph: ``{'nodes': [...]}`` as the graph file has it.
    :param header: text for the comment block at the top of the file.
    """
    comments = ''.join(f'# {line}\n'.replace('# \n', '#\n') for line in header.splitlines())
    return comments + yaml.safe_dump(dict(graph), sort_keys=False, width=99)


def render_parameter_value(value: ParameterValue) -> str:
    """Write `value` as the YAML that rcl parses back to the same type in ``-p name:=VALUE``.

    Strings are always quoted, so 'uav0:', '007', 'y' or 'true' stay strings instead of
    becoming a mapping, an integer or a boolean.

    :param value: a scalar or a tuple of scalars of one type.
    """
    if isinstance(value, tuple):
        return '[' + ', '.join(render_parameter_value(item) for item in value) + ']'
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return '.nan'
        if math.isinf(value):
            return '.inf' if value > 0 else '-.inf'
        # repr() always keeps a '.' or an exponent, so rcl reads a double, never an integer.
        return repr(value)
    # A JSON string is a valid YAML double-quoted scalar, escapes included.
    return json.dumps(value, ensure_ascii=False)


def ros_arguments(node: NodeSpec) -> list[str]:
    """Return the arguments that go after ``--ros-args`` for `node` (empty if none).

    :param node: the node.
    """
    args: list[str] = []
    if node.name is not None:
        args += ['-r', f'__node:={node.name}']
    if node.namespace is not None:
        args += ['-r', f'__ns:={node.namespace}']
    # One pass in file order: rcl lets a later file or -p win over an earlier one.
    for source in node.parameters:
        if isinstance(source, ParameterFile):
            args += ['--params-file', str(source.path)]
        else:
            for name, value in source.values:
                args += ['-p', f'{name}:={render_parameter_value(value)}']
    for src, dst in node.remappings:
        args += ['-r', f'{src}:={dst}']
    return args


def build_command(node: NodeSpec, executable: str | None = None) -> list[str]:
    """Return the argv that starts `node`.

    :param node: the node.
    :param executable: the resolved program (default: :func:`resolve_executable`).
    :raises ConfigError: if the executable must be resolved and cannot be.
    """
    program = resolve_executable(node) if executable is None else executable
    extra = ros_arguments(node)
    return [program, *node.arguments, *(['--ros-args', *extra] if extra else [])]


def to_launch_node_kwargs(node: NodeSpec) -> dict[str, Any]:
    """Return the keyword arguments of the launch_ros ``Node`` action equivalent to `node`.

    Plain data only: graph.launch.py adds ``on_exit=Shutdown()`` for required nodes, and drops
    ``respawn_max_retries`` where the installed launch is too old to know it.

    :param node: the node.
    """
    kwargs: dict[str, Any] = {'executable': node.executable, 'output': 'screen'}
    if not node.is_path:
        kwargs['package'] = node.package
    if node.name is not None:
        kwargs['name'] = node.name
    if node.namespace is not None:
        kwargs['namespace'] = node.namespace
    if node.parameters:
        kwargs['parameters'] = [
            str(source.path) if isinstance(source, ParameterFile) else source.as_dict()
            for source in node.parameters
        ]
    if node.remappings:
        kwargs['remappings'] = list(node.remappings)
    if node.arguments:
        kwargs['arguments'] = list(node.arguments)
    if node.env:
        kwargs['additional_env'] = dict(node.env)
    kwargs['respawn'] = node.respawn
    if node.respawn:
        kwargs['respawn_delay'] = node.respawn_delay
        if node.respawn_max is not None:
            kwargs['respawn_max_retries'] = node.respawn_max
    return kwargs


def node_environment(node: NodeSpec, base: Mapping[str, str]) -> dict[str, str]:
    """Return `base` with the node's own `env` entries added (they win).

    :param node: the node.
    :param base: the environment to start from.
    """
    env = dict(base)
    env.update(node.env)
    return env
