"""Stand-ins for ROS 2's launch and launch_ros packages, which have no PyPI wheels.

The launch files in launch/ are imported against these, and their descriptions are expanded the
way `ros2 launch` would: arguments take their defaults (or the test's values), OpaqueFunctions
run with a context, TimerActions open. Every stand-in keeps the keyword-only signature of the
real class (launch 3.x / launch_ros 0.26+, Jazzy and Kilted; Humble's ExecuteProcess lacks
respawn_max_retries, which `knows_respawn_max_retries=False` models), so a misspelt or
unknown argument fails here as it would under ros2 launch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import importlib.util
import inspect
from pathlib import Path
import sys
import types
from typing import Any


class Action:
    """Records what an action was built with."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.kwargs = kwargs


@dataclass
class Context:
    """The part of launch.LaunchContext that substitutions read."""

    launch_configurations: dict[str, str] = field(default_factory=dict)


@dataclass
class Expanded:
    """A launch description expanded: declared arguments and the actions it starts."""

    arguments: dict[str, Action]
    nodes: list[Action]
    processes: list[Action]
    #: seconds after launch at which each process starts (TimerAction periods), by name
    delays: dict[str, float]
    warnings: list[str]


def install(monkeypatch: Any, knows_respawn_max_retries: bool = True) -> list[str]:
    """Put the stand-ins in sys.modules; return the list that logger warnings go to."""
    warnings: list[str] = []

    class LaunchDescription(Action):
        def __init__(self, initial_entities: Any = None) -> None:
            super().__init__(list(initial_entities or []))

    class DeclareLaunchArgument(Action):
        def __init__(
            self, name: str, *, default_value: Any = None, description: Any = None, choices=None
        ) -> None:
            super().__init__(name, default_value=default_value, description=description)

    class OpaqueFunction(Action):
        def __init__(self, *, function: Any, args: Any = None, kwargs: Any = None) -> None:
            super().__init__(function=function)

    class Shutdown(Action):
        def __init__(self, *, reason: str = 'reason not given') -> None:
            super().__init__(reason=reason)

    class TimerAction(Action):
        def __init__(self, *, period: Any, actions: Any, cancel_on_shutdown: bool = True) -> None:
            super().__init__(period=period, actions=list(actions))

    class ExecuteLocal(Action):
        def __init__(
            self,
            *,
            process_description: Any = None,
            shell: bool = False,
            sigterm_timeout: Any = 5,
            sigkill_timeout: Any = 5,
            emulate_tty: bool = False,
            output: Any = 'log',
            output_format: str = '[{this.process_description.final_name}] {line}',
            cached_output: bool = False,
            log_cmd: bool = False,
            on_exit: Any = None,
            respawn: Any = False,
            respawn_delay: Any = None,
            respawn_max_retries: int = -1,
            **kwargs: Any,
        ) -> None:
            pass

    if not knows_respawn_max_retries:
        # Humble's ExecuteLocal: the same without respawn_max_retries.
        full = inspect.signature(ExecuteLocal.__init__)
        ExecuteLocal.__init__.__signature__ = full.replace(
            parameters=[p for p in full.parameters.values() if p.name != 'respawn_max_retries']
        )

    local_signature = inspect.signature(ExecuteLocal.__init__)

    def check_local(kwargs: dict[str, Any]) -> None:
        # The real ExecuteLocal takes **kwargs for Action and rejects unknown keys there.
        unknown = set(kwargs) - set(local_signature.parameters)
        if unknown:
            raise TypeError(f'unexpected keyword arguments {sorted(unknown)}')

    class ExecuteProcess(ExecuteLocal):
        def __init__(
            self,
            *,
            cmd: Any,
            prefix: Any = None,
            name: Any = None,
            cwd: Any = None,
            env: Any = None,
            additional_env: Any = None,
            **kwargs: Any,
        ) -> None:
            check_local(kwargs)
            Action.__init__(
                self,
                cmd=cmd,
                name=name,
                cwd=cwd,
                env=env,
                additional_env=additional_env,
                **kwargs,
            )

    class Node(ExecuteProcess):
        def __init__(
            self,
            *,
            executable: Any,
            package: Any = None,
            name: Any = None,
            namespace: Any = None,
            exec_name: Any = None,
            parameters: Any = None,
            remappings: Any = None,
            ros_arguments: Any = None,
            arguments: Any = None,
            **kwargs: Any,
        ) -> None:
            passed = {
                k: v
                for k, v in {
                    'executable': executable,
                    'package': package,
                    'name': name,
                    'namespace': namespace,
                    'parameters': parameters,
                    'remappings': remappings,
                    'arguments': arguments,
                }.items()
                if v is not None
            }
            # What ExecuteProcess does not take itself goes on to ExecuteLocal.
            process_keys = ('cwd', 'env', 'additional_env', 'prefix')
            local = {k: v for k, v in kwargs.items() if k not in process_keys}
            check_local(local)
            Action.__init__(self, **passed, **kwargs)

    class LaunchConfiguration:
        def __init__(self, variable_name: str, *, default: Any = None) -> None:
            self.name = variable_name

        def perform(self, context: Context) -> str:
            return context.launch_configurations[self.name]

    class Logger:
        def warning(self, message: str) -> None:
            warnings.append(message)

    launch = types.ModuleType('launch')
    actions = types.ModuleType('launch.actions')
    substitutions = types.ModuleType('launch.substitutions')
    logging = types.ModuleType('launch.logging')
    description = types.ModuleType('launch.launch_description')
    launch_ros = types.ModuleType('launch_ros')
    ros_actions = types.ModuleType('launch_ros.actions')
    launch.LaunchDescription = LaunchDescription
    description.LaunchDescription = LaunchDescription
    launch.actions = actions
    launch.substitutions = substitutions
    launch.logging = logging
    actions.DeclareLaunchArgument = DeclareLaunchArgument
    actions.OpaqueFunction = OpaqueFunction
    actions.Shutdown = Shutdown
    actions.TimerAction = TimerAction
    actions.ExecuteProcess = ExecuteProcess
    substitutions.LaunchConfiguration = LaunchConfiguration
    logging.get_logger = lambda name=None: Logger()
    launch_ros.actions = ros_actions
    ros_actions.Node = Node
    for name, module in {
        'launch': launch,
        'launch.actions': actions,
        'launch.substitutions': substitutions,
        'launch.logging': logging,
        'launch.launch_description': description,
        'launch_ros': launch_ros,
        'launch_ros.actions': ros_actions,
    }.items():
        monkeypatch.setitem(sys.modules, name, module)
    return warnings


def load(path: Path) -> types.ModuleType:
    """Import a launch file (after :func:`install`)."""
    spec = importlib.util.spec_from_file_location(path.stem.replace('.', '_'), path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def expand(
    monkeypatch: Any,
    path: Path,
    arguments: dict[str, str] | None = None,
    knows_respawn_max_retries: bool = True,
) -> Expanded:
    """Import a launch file against the stand-ins and expand its description.

    :param path: the launch file.
    :param arguments: `name:=value` overrides of declared arguments.
    :raises KeyError: an argument that the file does not declare.
    """
    warnings = install(monkeypatch, knows_respawn_max_retries)
    description = load(path).generate_launch_description()
    context = Context()
    declared: dict[str, Action] = {}
    nodes: list[Action] = []
    processes: list[Action] = []
    delays: dict[str, float] = {}

    def visit(action: Any, delay: float) -> None:
        kind = type(action).__name__
        if kind == 'TimerAction':
            for inner in action.kwargs['actions']:
                visit(inner, delay + float(action.kwargs['period']))
        elif kind == 'Node':
            nodes.append(action)
        elif kind == 'ExecuteProcess':
            processes.append(action)
            delays[action.kwargs['name']] = delay
        else:
            raise AssertionError(f'unexpected action {kind}')

    for entity in description.args[0]:
        kind = type(entity).__name__
        if kind == 'DeclareLaunchArgument':
            name = entity.args[0]
            declared[name] = entity
            context.launch_configurations[name] = entity.kwargs['default_value']
        elif kind == 'OpaqueFunction':
            for name, value in (arguments or {}).items():
                if name not in declared:
                    raise KeyError(f'{path.name} declares no argument {name!r}')
                context.launch_configurations[name] = value
            for action in entity.kwargs['function'](context) or []:
                visit(action, 0.0)
        else:
            visit(entity, 0.0)
    return Expanded(declared, nodes, processes, delays, warnings)
