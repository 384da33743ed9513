"""Graph files: parsing, defaults, validation errors, command lines and launch_ros arguments."""

import math
import os
from pathlib import Path
import sys
import textwrap

import pytest

import launch_fakes
from uav_flood.core.errors import ConfigError
from uav_flood.runner import spec
from uav_flood.runner.spec import (
    build_command,
    DEFAULT_RESPAWN_DELAY_S,
    find_graph_file,
    load_graph,
    NodeSpec,
    ParameterFile,
    ParameterOverrides,
    render_parameter_value,
    resolve_executable,
    to_launch_node_kwargs,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
FLEET = REPO_ROOT / 'config' / 'graphs' / 'ping_fleet.yaml'
PARAMS = REPO_ROOT / 'config' / 'ping_responder.yaml'
PARAMS_TEXT = "/**:\n  ros__parameters:\n    reply_prefix: ''\n"


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding='utf-8')
    return path


def graph_of(tmp_path, nodes_yaml, params=True):
    """Write graph.yaml (with params.yaml beside it) from the text of its `nodes` list."""
    if params:
        write(tmp_path / 'params.yaml', PARAMS_TEXT)
    body = textwrap.indent(textwrap.dedent(nodes_yaml), '  ')
    return write(tmp_path / 'graph.yaml', f'nodes:\n{body}')


def error_of(path):
    with pytest.raises(ConfigError) as info:
        load_graph(path)
    message = str(info.value)
    assert '\n' not in message, 'errors are one line'
    assert info.value.source == str(path)
    assert message.startswith(f'{path}: ')
    return message[len(f'{path}: ') :]


def fake_ament_prefix(tmp_path, monkeypatch, package='fake_pkg'):
    """Make `package` an installed ament package under tmp_path/prefix; return the prefix."""
    prefix = tmp_path / 'prefix'
    write(prefix / 'share' / 'ament_index' / 'resource_index' / 'packages' / package, '')
    (prefix / 'share' / package).mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv('AMENT_PREFIX_PATH', str(prefix))
    return prefix


def make_executable(path, text='#!/bin/sh\nexit 0\n'):
    write(path, text)
    path.chmod(0o755)
    return path


# --- The example graph and defaults ------------------------------------------------------------


def test_example_fleet_graph():
    graph = load_graph(FLEET)
    assert [n.label for n in graph.nodes] == [
        'uav0/ping_responder',
        'uav1/ping_responder',
        'uav2/ping_responder',
    ]
    assert [n.namespace for n in graph.nodes] == ['/uav0', '/uav1', '/uav2']
    uav0, uav1, uav2 = graph.nodes
    assert (uav0.required, uav0.respawn) == (True, False)
    assert (uav1.required, uav1.respawn, uav1.respawn_delay, uav1.respawn_max) == (
        False,
        True,
        1.0,
        None,
    )
    assert (uav2.required, uav2.respawn) == (False, False)
    for index, node in enumerate(graph.nodes):
        assert node.executable == 'ping_responder'
        assert node.package == 'uav_flood'
        assert node.index == index
        assert node.parameters == (
            ParameterFile(PARAMS),
            ParameterOverrides((('reply_prefix', f'uav{index}:'),)),
        )
    assert graph.node('uav1/ping_responder') is uav1
    with pytest.raises(KeyError):
        graph.node('uav9/ping_responder')


def test_example_parameter_file_sets_the_declared_default():
    import yaml

    data = yaml.safe_load(PARAMS.read_text(encoding='utf-8'))
    assert data == {'/**': {'ros__parameters': {'reply_prefix': ''}}}


def test_defaults(tmp_path):
    graph = load_graph(graph_of(tmp_path, '- executable: ping_responder\n', params=False))
    (node,) = graph.nodes
    assert node == NodeSpec(
        label='ping_responder',
        executable='ping_responder',
        package='uav_flood',
        index=0,
        source=str(tmp_path / 'graph.yaml'),
    )
    assert node.respawn_delay == DEFAULT_RESPAWN_DELAY_S
    assert node.respawn_max is None
    assert (node.name, node.namespace, node.parameters, node.remappings) == (None, None, (), ())
    assert (node.arguments, node.env, node.required, node.respawn) == ((), (), False, False)
    assert graph.path == tmp_path / 'graph.yaml'


def test_all_keys(tmp_path):
    graph = load_graph(
        graph_of(
            tmp_path,
            """\
            - executable: ping_responder
              package: uav_flood
              name: responder
              namespace: /fleet/uav3
              label: three
              parameters:
                - params.yaml
                - {reply_prefix: 'x', nested: {gain: 2, tags: [a, b]}}
              remappings: {pong: echo, /tf: tf}
              arguments: [--verbose, 3]
              env: {FOO: bar, LEVEL: 2}
              respawn: true
              respawn_delay: 0
              respawn_max: 4
            """,
        )
    )
    (node,) = graph.nodes
    assert node.label == 'three'
    assert (node.name, node.namespace) == ('responder', '/fleet/uav3')
    assert node.parameters == (
        ParameterFile(tmp_path / 'params.yaml'),
        ParameterOverrides(
            (('reply_prefix', 'x'), ('nested.gain', 2), ('nested.tags', ('a', 'b')))
        ),
    )
    assert node.remappings == (('pong', 'echo'), ('/tf', 'tf'))
    assert node.arguments == ('--verbose', '3')
    assert node.env == (('FOO', 'bar'), ('LEVEL', '2'))
    assert (node.respawn, node.respawn_delay, node.respawn_max) == (True, 0.0, 4)
    hash(node)  # frozen and hashable: nodes can be set members and dict keys


@pytest.mark.parametrize(
    'keys, label',
    [
        ('namespace: /uav0', 'uav0/ping_responder'),
        ('namespace: /uav0, name: cam', 'uav0/cam'),
        ('name: cam', 'cam'),
        ('namespace: /', 'ping_responder'),
        ('namespace: /a/b', 'a/b/ping_responder'),
        ('namespace: /uav0, label: custom-1.x', 'custom-1.x'),
    ],
)
def test_default_label(tmp_path, keys, label):
    path = graph_of(tmp_path, f'- {{executable: ping_responder, {keys}}}\n', params=False)
    assert load_graph(path).nodes[0].label == label


def test_label_of_an_absolute_executable_is_its_file_name(tmp_path):
    exe = make_executable(tmp_path / 'bin' / 'my_node.py')
    path = graph_of(tmp_path, f'- {{executable: {exe}, namespace: /uav1}}\n', params=False)
    (node,) = load_graph(path).nodes
    assert node.label == 'uav1/my_node.py'
    assert node.executable == str(exe)
    assert node.is_path


def test_list_parameter_of_ints_and_floats_widens_to_double(tmp_path):
    path = graph_of(tmp_path, '- {executable: x, parameters: [{gains: [1, 2.5]}]}\n')
    (overrides,) = load_graph(path).nodes[0].parameters
    assert overrides == ParameterOverrides((('gains', (1.0, 2.5)),))
    assert all(isinstance(v, float) for v in overrides.values[0][1])


# --- Validation errors -------------------------------------------------------------------------

NODE_ERRORS = [
    # (the node's YAML, fragment of the error after 'nodes[0] (<label>): ')
    (
        '{executable: ping_responder, label: uav2/ping_responder, namespce: /uav2}',
        "nodes[0] (uav2/ping_responder): unknown key 'namespce' (did you mean 'namespace'?)",
    ),
    ('{package: uav_flood}', "nodes[0]: missing key 'executable'"),
    ('{executable: 3}', "nodes[0]: 'executable' must be a non-empty string, got a number"),
    ("{executable: ' '}", "'executable' must be a non-empty string"),
    ('{executable: x, namespace: uav0}', "namespace 'uav0' must be absolute: write '/uav0'"),
    ('{executable: x, namespace: /uav0/}', "namespace '/uav0/' is not a valid ROS namespace"),
    ('{executable: x, namespace: /0uav}', "namespace '/0uav' is not a valid ROS namespace"),
    ("{executable: x, namespace: '/uav 0'}", 'is not a valid ROS namespace'),
    ('{executable: x, namespace: //uav0}', 'is not a valid ROS namespace'),
    ('{executable: x, name: 1cam}', "name '1cam' is not a valid node name"),
    ('{executable: x, name: a/b}', "name 'a/b' is not a valid node name"),
    ('{executable: x, package: my-pkg}', "package 'my-pkg' is not a valid package name"),
    ('{executable: x, label: ../escape}', "label '../escape' is not valid"),
    ('{executable: x, label: /abs}', "label '/abs' is not valid"),
    ('{executable: x, label: launch}', "label 'launch' is reserved"),
    (
        "{executable: 'a b'}",
        "the default label (from namespace and name or executable; set 'label')",
    ),
    ('{executable: x, required: maybe}', "'required' must be true or false, got 'maybe'"),
    ('{executable: x, required: 1}', "'required' must be true or false, got 1"),
    ('{executable: x, respawn: "true"}', "'respawn' must be true or false, got 'true'"),
    ('{executable: x, required: true, respawn: true}', 'contradict each other'),
    ('{executable: x, respawn_delay: fast}', "'respawn_delay' must be a number of seconds"),
    ('{executable: x, respawn_delay: true}', "'respawn_delay' must be a number of seconds"),
    ('{executable: x, respawn_delay: -1}', "'respawn_delay' must be a finite number >= 0"),
    ('{executable: x, respawn_delay: .inf}', "'respawn_delay' must be a finite number >= 0"),
    ('{executable: x, respawn_max: 1.5}', "'respawn_max' must be a whole number >= 0"),
    ('{executable: x, respawn_max: -1}', "'respawn_max' must be a whole number >= 0"),
    ('{executable: x, parameters: params.yaml}', "'parameters' must be a list"),
    ('{executable: x, parameters: [3]}', 'parameters[0] must be a parameter file path or a'),
    ('{executable: x, parameters: [{}]}', 'parameters[0] is an empty mapping'),
    (
        '{executable: x, parameters: [missing.yaml]}',
        "parameters[0]: parameter file 'missing.yaml'",
    ),
    ('{executable: x, parameters: [{a: null}]}', "parameter 'a' has no value (null)"),
    ('{executable: x, parameters: [{a: []}]}', "parameter 'a' is an empty list"),
    ('{executable: x, parameters: [{a: [1, x]}]}', "parameter 'a' mixes int and string items"),
    ('{executable: x, parameters: [{a: [true, 1]}]}', 'mixes bool and int items'),
    ('{executable: x, parameters: [{a: [[1]]}]}', 'cannot be nested lists'),
    ('{executable: x, parameters: [{a: 2024-01-01}]}', 'unsupported type date; quote it'),
    ('{executable: x, parameters: [{a: 99999999999999999999}]}', 'does not fit a ROS integer'),
    ("{executable: x, parameters: [{'a b': 1}]}", "'a b' is not a valid parameter name"),
    ('{executable: x, parameters: [{1: 1}]}', 'parameter names must be strings'),
    ('{executable: x, parameters: [{a: {}}]}', "parameter 'a' is an empty mapping"),
    ('{executable: x, remappings: [pong, echo]}', "'remappings' must be a mapping"),
    ("{executable: x, remappings: {pong: 'a b'}}", "'a b' is not a valid topic or service name"),
    ('{executable: x, remappings: {__node: other}}', "use 'name'/'namespace' instead"),
    ('{executable: x, arguments: {a: 1}}', "'arguments' must be a list of strings"),
    ('{executable: x, arguments: [[1]]}', 'arguments[0] must be a string, got a list'),
    ('{executable: x, env: [FOO]}', "'env' must be a mapping"),
    ("{executable: x, env: {'1FOO': a}}", "'1FOO' is not a valid environment variable name"),
    ('{executable: x, env: {FOO: [1]}}', "env: 'FOO' must be a string (quote it), got a list"),
    ('{executable: x, env: {FOO: true}}', "env: 'FOO' must be a string (quote it), got a boolean"),
    (
        "{executable: x, parameters: ['$(find uav_flood)/config/ping_responder.yaml']}",
        'substitutions such as $(find pkg) are not supported',
    ),
    ("{executable: '$(find-exec x)'}", 'substitutions such as $(find pkg) are not supported'),
]


@pytest.mark.parametrize('node_yaml, fragment', NODE_ERRORS)
def test_node_errors_name_file_node_and_key(tmp_path, node_yaml, fragment):
    message = error_of(graph_of(tmp_path, f'- {node_yaml}\n'))
    assert message.startswith('nodes[0]')
    assert fragment in message


def test_error_names_the_right_node(tmp_path):
    path = graph_of(
        tmp_path,
        """\
        - {executable: ping_responder, namespace: /uav0}
        - {executable: ping_responder, namespace: /uav1}
        - {executable: ping_responder, namespace: /uav2, respawn_delay: soon}
        """,
    )
    assert error_of(path) == (
        "nodes[2] (uav2/ping_responder): 'respawn_delay' must be a number of seconds, got a string"
    )


@pytest.mark.parametrize(
    'second, expected',
    [
        (
            '{executable: ping_responder, namespace: /uav0, label: other}',
            "nodes[1] (other): the default node of 'ping_responder' in namespace /uav0 is "
            'already started by nodes[0]',
        ),
        (
            '{executable: other_exe, name: ping, namespace: /uav0, label: b}',
            "nodes[1] (b): node 'ping' in namespace /uav0 is already started by nodes[0]",
        ),
    ],
)
def test_duplicate_node_names_in_one_namespace(tmp_path, second, expected):
    first = (
        '{executable: ping_responder, namespace: /uav0}'
        if 'default' in expected
        else '{executable: ping_responder, name: ping, namespace: /uav0, label: a}'
    )
    path = graph_of(tmp_path, f'- {first}\n- {second}\n')
    assert error_of(path).startswith(expected)


def test_same_node_name_in_different_namespaces_is_fine(tmp_path):
    path = graph_of(
        tmp_path,
        '- {executable: ping_responder, name: ping, namespace: /uav0}\n'
        '- {executable: ping_responder, name: ping, namespace: /uav1}\n',
    )
    assert [n.label for n in load_graph(path).nodes] == ['uav0/ping', 'uav1/ping']


def test_duplicate_label(tmp_path):
    path = graph_of(
        tmp_path,
        """\
        - {executable: ping_responder, namespace: /uav0}
        - {executable: ping_responder, namespace: /uav1}
        - {executable: ping_responder, namespace: /uav0}
        """,
    )
    message = error_of(path)
    assert message.startswith(
        "nodes[2] (uav0/ping_responder): duplicate label 'uav0/ping_responder' (also nodes[0])"
    )


@pytest.mark.parametrize(
    'text, fragment',
    [
        ('', "the graph file is empty: expected a mapping with a 'nodes' list"),
        ('# only a comment\n', 'the graph file is empty'),
        ('- executable: x\n', "expected a mapping with a 'nodes' list at the top level, got a"),
        ('nodes: []\n', "'nodes' is empty"),
        ('nodes: {executable: x}\n', "'nodes' must be a list, got a mapping"),
        ('nodes:\n  - ping_responder\n', 'nodes[0]: expected a mapping with an executable'),
        ('nodez: []\n', "unknown key 'nodez' (did you mean 'nodes'?) at the top level"),
        ('{}\n', "missing key 'nodes'"),
        ('launch: {}\n', "unknown key 'launch' at the top level (known: nodes)"),
        ('nodes: [\n', 'invalid YAML in graph file at line 2, column 1'),
        ('nodes:\n  - {executable: x, executable: y}\n', "found duplicate key 'executable'"),
    ],
)
def test_file_level_errors(tmp_path, text, fragment):
    path = write(tmp_path / 'graph.yaml', text)
    assert fragment in error_of(path)


def test_missing_and_unreadable_graph_files(tmp_path):
    assert error_of(tmp_path / 'nope.yaml') == 'graph file not found'
    assert error_of(tmp_path) == 'is a directory, not a graph file'
    binary = tmp_path / 'binary.yaml'
    binary.write_bytes(b'\xff\xfe\x00')
    assert 'not UTF-8 text' in error_of(binary)


@pytest.mark.parametrize(
    'content, fragment',
    [
        ('a: [\n', 'invalid YAML in parameter file'),
        ('- 1\n', "must hold a mapping such as '/**: {ros__parameters: {...}}', got a list"),
    ],
)
def test_broken_parameter_file(tmp_path, content, fragment):
    write(tmp_path / 'bad.yaml', content)
    path = graph_of(tmp_path, '- {executable: x, parameters: [bad.yaml]}\n', params=False)
    message = error_of(path)
    assert message.startswith('nodes[0] (x): parameters[0]: ')
    assert fragment in message


# --- Paths -------------------------------------------------------------------------------------


def test_relative_paths_resolve_against_the_graph_directory_not_the_cwd(tmp_path, monkeypatch):
    write(tmp_path / 'config' / 'p.yaml', PARAMS_TEXT)
    exe = make_executable(tmp_path / 'bin' / 'node.sh')
    path = write(
        tmp_path / 'config' / 'graphs' / 'g.yaml',
        'nodes:\n  - {executable: ../../bin/node.sh, parameters: [../p.yaml]}\n',
    )
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    (node,) = load_graph(os.path.relpath(path, elsewhere)).nodes
    assert node.executable == str(exe)
    assert node.parameters == (ParameterFile(tmp_path / 'config' / 'p.yaml'),)
    assert resolve_executable(node) == str(exe)


def test_parameter_file_falls_back_to_the_package_share_directory(tmp_path, monkeypatch):
    prefix = fake_ament_prefix(tmp_path, monkeypatch)
    shared = write(prefix / 'share' / 'fake_pkg' / 'config' / 'p.yaml', PARAMS_TEXT)
    graph_dir = tmp_path / 'graphs'
    path = write(
        graph_dir / 'g.yaml',
        'nodes:\n  - {executable: x, package: fake_pkg, parameters: [config/p.yaml]}\n',
    )
    assert load_graph(path).nodes[0].parameters == (ParameterFile(shared),)

    # A file beside the graph wins over the installed one.
    local = write(graph_dir / 'config' / 'p.yaml', PARAMS_TEXT)
    assert load_graph(path).nodes[0].parameters == (ParameterFile(local),)


def test_missing_parameter_file_lists_where_it_looked(tmp_path, monkeypatch):
    prefix = fake_ament_prefix(tmp_path, monkeypatch)
    path = graph_of(tmp_path, '- {executable: x, package: fake_pkg, parameters: [p.yaml]}\n')
    message = error_of(path)
    assert str(tmp_path / 'p.yaml') in message
    assert str(prefix / 'share' / 'fake_pkg' / 'p.yaml') in message


def test_share_dirs_without_ament(monkeypatch):
    monkeypatch.delenv('AMENT_PREFIX_PATH', raising=False)
    assert spec.share_dirs('uav_flood') == [Path(sys.prefix) / 'share' / 'uav_flood']


def test_find_graph_file_resolves_relative_paths_in_the_share_directory(tmp_path, monkeypatch):
    prefix = fake_ament_prefix(tmp_path, monkeypatch)
    graph = write(prefix / 'share' / 'fake_pkg' / 'config' / 'graphs' / 'g.yaml', 'nodes: []\n')
    assert find_graph_file('config/graphs/g.yaml', 'fake_pkg') == graph
    assert find_graph_file(graph, 'fake_pkg') == graph
    with pytest.raises(ConfigError, match='graph file not found'):
        find_graph_file('config/graphs/other.yaml', 'fake_pkg')


# --- Executables -------------------------------------------------------------------------------


def test_executable_lookup_order(tmp_path, monkeypatch):
    """ament index, then sys.prefix/lib/<package>, then beside python, then PATH."""
    node = NodeSpec(label='n', executable='fake_node', package='fake_pkg')
    venv = tmp_path / 'venv'
    monkeypatch.setattr(sys, 'prefix', str(venv))
    monkeypatch.setattr(sys, 'executable', str(venv / 'bin' / 'python'))
    monkeypatch.delenv('AMENT_PREFIX_PATH', raising=False)
    search_path = str(tmp_path / 'path_bin')

    on_path = make_executable(tmp_path / 'path_bin' / 'fake_node')
    assert resolve_executable(node, path=search_path) == str(on_path)
    beside_python = make_executable(venv / 'bin' / 'fake_node')
    assert resolve_executable(node, path=search_path) == str(beside_python)
    in_prefix_lib = make_executable(venv / 'lib' / 'fake_pkg' / 'fake_node')
    assert resolve_executable(node, path=search_path) == str(in_prefix_lib)
    prefix = fake_ament_prefix(tmp_path, monkeypatch)
    in_ament_lib = make_executable(prefix / 'lib' / 'fake_pkg' / 'fake_node')
    assert resolve_executable(node, path=search_path) == str(in_ament_lib)


def test_files_that_are_not_executable_are_skipped(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, 'executable', str(tmp_path / 'bin' / 'python'))
    monkeypatch.delenv('AMENT_PREFIX_PATH', raising=False)
    write(tmp_path / 'bin' / 'fake_node', 'not executable')
    on_path = make_executable(tmp_path / 'path_bin' / 'fake_node')
    node = NodeSpec(label='n', executable='fake_node', package='fake_pkg')
    assert resolve_executable(node, path=str(on_path.parent)) == str(on_path)


def test_missing_executable(tmp_path, monkeypatch):
    monkeypatch.delenv('AMENT_PREFIX_PATH', raising=False)
    path = graph_of(tmp_path, '- {executable: no_such_node_xyz, namespace: /uav4}\n')
    (node,) = load_graph(path).nodes
    with pytest.raises(ConfigError) as info:
        resolve_executable(node, path=str(tmp_path))
    message = str(info.value)
    assert message.startswith(
        f"{path}: nodes[0] (uav4/no_such_node_xyz): executable 'no_such_node_xyz' not found"
    )
    assert os.path.dirname(sys.executable) in message
    assert "is package 'uav_flood' installed?" in message


def test_executable_path_must_exist_and_be_executable(tmp_path):
    write(tmp_path / 'plain.sh', 'echo\n')
    path = graph_of(tmp_path, '- {executable: ./plain.sh}\n- {executable: ./absent.sh}\n')
    plain, absent = load_graph(path).nodes
    with pytest.raises(ConfigError, match=r'plain.sh is not executable \(chmod \+x\?\)'):
        resolve_executable(plain)
    with pytest.raises(ConfigError, match=r'nodes\[1\] \(absent.sh\): executable .* not exist'):
        build_command(absent)


# --- Command lines -----------------------------------------------------------------------------


def test_command_line(tmp_path):
    path = graph_of(
        tmp_path,
        """\
        - executable: ping_responder
          name: responder
          namespace: /uav0
          arguments: [--extra, '1']
          parameters:
            - params.yaml
            - {reply_prefix: 'uav0:', rate_hz: 5, gain: 0.5, enabled: true, ids: [1, 2]}
            - {reply_prefix: '007'}
          remappings: {pong: echo, '~/out': /global/out}
        """,
    )
    (node,) = load_graph(path).nodes
    assert build_command(node, '/opt/bin/ping_responder') == [
        '/opt/bin/ping_responder',
        '--extra',
        '1',
        '--ros-args',
        '-r',
        '__node:=responder',
        '-r',
        '__ns:=/uav0',
        '--params-file',
        str(tmp_path / 'params.yaml'),
        '-p',
        'reply_prefix:="uav0:"',
        '-p',
        'rate_hz:=5',
        '-p',
        'gain:=0.5',
        '-p',
        'enabled:=true',
        '-p',
        'ids:=[1, 2]',
        '-p',
        'reply_prefix:="007"',
        '-r',
        'pong:=echo',
        '-r',
        '~/out:=/global/out',
    ]


def test_no_ros_args_section_when_there_is_nothing_to_pass():
    node = NodeSpec(label='n', executable='x', arguments=('a',))
    assert build_command(node, '/bin/x') == ['/bin/x', 'a']


def test_node_environment_adds_the_nodes_own_variables():
    node = NodeSpec(label='n', executable='x', env=(('FOO', 'node'), ('BAR', '1')))
    base = {'FOO': 'base', 'PATH': '/bin'}
    assert spec.node_environment(node, base) == {'FOO': 'node', 'PATH': '/bin', 'BAR': '1'}
    assert base == {'FOO': 'base', 'PATH': '/bin'}


@pytest.mark.parametrize(
    'value, rendered',
    [
        ('uav0:', '"uav0:"'),
        ('', '""'),
        ('007', '"007"'),
        ('y', '"y"'),
        ('true', '"true"'),
        ('it\'s "quoted"', '"it\'s \\"quoted\\""'),
        ('tab\there\nnewline', '"tab\\there\\nnewline"'),
        ('ünïcode', '"ünïcode"'),
        (True, 'true'),
        (False, 'false'),
        (7, '7'),
        (-3, '-3'),
        (2**63 - 1, '9223372036854775807'),
        (1.5, '1.5'),
        (3.0, '3.0'),
        (1e20, '1e+20'),
        (math.inf, '.inf'),
        (-math.inf, '-.inf'),
        (math.nan, '.nan'),
        ((1, 2), '[1, 2]'),
        ((1.0, 2.5), '[1.0, 2.5]'),
        ((True, False), '[true, false]'),
        (('a', 'b:'), '["a", "b:"]'),
    ],
)
def test_render_parameter_value(value, rendered):
    assert render_parameter_value(value) == rendered


def test_rendered_values_read_back_as_the_same_yaml_values():
    import yaml

    for value in ['uav0:', '007', 'y', 'on', 'null', '', True, 5, 2.5, (1, 2), ('a', 'b:')]:
        loaded = yaml.safe_load(render_parameter_value(value))
        assert loaded == (list(value) if isinstance(value, tuple) else value)


# --- launch_ros ---------------------------------------------------------------------------------


def test_to_launch_node_kwargs_for_the_example_fleet():
    uav0, uav1, uav2 = load_graph(FLEET).nodes
    assert to_launch_node_kwargs(uav0) == {
        'executable': 'ping_responder',
        'package': 'uav_flood',
        'namespace': '/uav0',
        'parameters': [str(PARAMS), {'reply_prefix': 'uav0:'}],
        'output': 'screen',
        'respawn': False,
    }
    assert to_launch_node_kwargs(uav1) == {
        'executable': 'ping_responder',
        'package': 'uav_flood',
        'namespace': '/uav1',
        'parameters': [str(PARAMS), {'reply_prefix': 'uav1:'}],
        'output': 'screen',
        'respawn': True,
        'respawn_delay': 1.0,
    }
    assert to_launch_node_kwargs(uav2)['name'] == 'ping_responder'


def test_to_launch_node_kwargs_with_every_option(tmp_path):
    exe = make_executable(tmp_path / 'my_node')
    path = graph_of(
        tmp_path,
        f"""\
        - executable: {exe}
          name: n
          namespace: /uav3
          parameters: [params.yaml, {{a: [1, 2], b: {{c: x}}}}]
          remappings: {{pong: echo}}
          arguments: [--flag]
          env: {{FOO: bar}}
          respawn: true
          respawn_delay: 2.5
          respawn_max: 3
        """,
    )
    kwargs = to_launch_node_kwargs(load_graph(path).nodes[0])
    assert kwargs == {
        # An absolute path: launch runs it as is, with no package to look it up in.
        'executable': str(exe),
        'name': 'n',
        'namespace': '/uav3',
        'parameters': [str(tmp_path / 'params.yaml'), {'a': [1, 2], 'b.c': 'x'}],
        'remappings': [('pong', 'echo')],
        'arguments': ['--flag'],
        'additional_env': {'FOO': 'bar'},
        'output': 'screen',
        'respawn': True,
        'respawn_delay': 2.5,
        'respawn_max_retries': 3,
    }


GRAPH_LAUNCH = REPO_ROOT / 'launch' / 'graph.launch.py'


def test_launch_file_builds_one_node_action_per_graph_node(monkeypatch):
    expanded = launch_fakes.expand(monkeypatch, GRAPH_LAUNCH, {'graph': str(FLEET)})
    assert expanded.arguments['graph'].kwargs['default_value'] == 'config/graphs/ping_fleet.yaml'
    graph = load_graph(FLEET)
    assert [type(n).__name__ for n in expanded.nodes] == ['Node', 'Node', 'Node']
    uav0, uav1, uav2 = (dict(n.kwargs) for n in expanded.nodes)
    shutdown = uav0.pop('on_exit')
    assert type(shutdown).__name__ == 'Shutdown'
    assert shutdown.kwargs == {'reason': 'required node uav0/ping_responder exited'}
    assert uav0 == to_launch_node_kwargs(graph.nodes[0])
    assert uav1 == to_launch_node_kwargs(graph.nodes[1])
    assert uav2 == to_launch_node_kwargs(graph.nodes[2])
    assert 'on_exit' not in uav1 and 'on_exit' not in uav2
    assert expanded.warnings == []


def test_launch_file_drops_respawn_max_where_launch_is_too_old(tmp_path, monkeypatch):
    graph = graph_of(tmp_path, '- {executable: x, respawn: true, respawn_max: 2}\n')
    expanded = launch_fakes.expand(monkeypatch, GRAPH_LAUNCH, {'graph': str(graph)})
    (node,) = expanded.nodes
    assert node.kwargs['respawn_max_retries'] == 2

    expanded = launch_fakes.expand(
        monkeypatch, GRAPH_LAUNCH, {'graph': str(graph)}, knows_respawn_max_retries=False
    )
    (node,) = expanded.nodes
    assert 'respawn_max_retries' not in node.kwargs
    assert expanded.warnings == [
        'x: this launch version has no respawn_max_retries; respawn_max is ignored'
    ]


def test_hostile_graph_files_are_one_line_errors(tmp_path):
    deep = tmp_path / 'deep.yaml'
    deep.write_text('[' * 100_000 + ']' * 100_000)
    assert error_of(deep) == 'invalid YAML in graph file: nested too deeply (thousands of levels)'
    huge = tmp_path / 'huge.yaml'
    with huge.open('wb') as f:
        f.truncate(51 * 1024 * 1024)
    assert error_of(huge) == 'graph file is larger than 50 MB'
    many = write(tmp_path / 'many.yaml', 'nodes:\n' + '  - executable: /bin/true\n' * 1001)
    assert "'nodes' lists 1001 nodes; a graph may start at most 1000" in error_of(many)
    # A billion laughs: nine aliases of a mapping, nested nine deep, as parameter overrides.
    lines = ['    - a0: &a0 {' + ', '.join(f'k{j}: 1' for j in range(9)) + '}']
    for k in range(1, 9):
        lines.append(
            f'      a{k}: &a{k} {{' + ', '.join(f'k{j}: *a{k - 1}' for j in range(9)) + '}'
        )
    laughs = tmp_path / 'laughs.yaml'
    laughs.write_text(
        'nodes:\n  - name: x\n    executable: /bin/true\n    parameters:\n' + '\n'.join(lines)
    )
    assert 'parameters[0] sets more than 10000 parameters' in error_of(laughs)


def test_record_never_replaces_an_existing_file(tmp_path, capsys):
    from uav_flood import cli

    graph = write(tmp_path / 'graph.yaml', 'nodes:\n  - executable: /bin/true\n')
    before = graph.read_bytes()
    code = cli.main(['launch', '--dry-run', '--record', str(graph), str(graph)])
    err = capsys.readouterr().err
    assert code == 2 and err.count('\n') == 1
    assert err == (
        f'uav-flood launch: error: --record: {graph} exists: the recorder would replace it; '
        'name a new file\n'
    )
    assert graph.read_bytes() == before


def test_a_group_becomes_one_node_group_process_with_each_members_arguments(tmp_path):
    graph = load_graph(
        graph_of(
            tmp_path,
            """
            - {executable: flight_control, namespace: /uav0, group: uav0, respawn: true,
               respawn_delay: 2.0, parameters: [params.yaml, {auto_start: true}]}
            - {executable: edge_server}
            - {executable: sim_camera, namespace: /uav0, group: uav0, respawn: true,
               respawn_max: 3, env: {A: '1'}}
            - {executable: segmentation, namespace: /uav0, group: uav0, required: true}
            """,
        )
    )
    assert [n.group for n in graph.nodes] == ['uav0', None, 'uav0', 'uav0']
    merged = spec.merge_groups(graph)
    assert [n.label for n in merged.nodes] == ['uav0', 'edge_server']
    group = merged.nodes[0]
    params = str(tmp_path / 'params.yaml')
    assert build_command(group, '/bin/node_group') == [
        '/bin/node_group',
        '--node', 'flight_control', '--ros-args', '-r', '__ns:=/uav0', '--params-file', params,
        '-p', 'auto_start:=true',
        '--node', 'sim_camera', '--ros-args', '-r', '__ns:=/uav0',
        '--node', 'segmentation', '--ros-args', '-r', '__ns:=/uav0',
    ]  # fmt: skip
    # Required as one member is (so never respawned); the members' environment.
    assert (group.required, group.respawn, group.env) == (True, False, (('A', '1'),))
    assert group.executable == spec.GROUP_EXECUTABLE == 'node_group'
    both = spec.merge_groups(
        load_graph(
            graph_of(
                tmp_path,
                """
                - {executable: sim_camera, group: g, respawn: true, respawn_delay: 2.0}
                - {executable: segmentation, group: g, respawn: true, respawn_max: 3}
                """,
            )
        )
    )
    assert [(n.respawn, n.respawn_delay, n.respawn_max) for n in both.nodes] == [(True, 2.0, 3)]
    # Without groups the graph is what it was.
    plain = load_graph(FLEET)
    assert spec.merge_groups(plain) is plain


@pytest.mark.parametrize(
    ('nodes', 'message'),
    [
        ('- {executable: ping_responder, group: g, arguments: [x]}', "takes no 'arguments'"),
        ('- {executable: ./node.py, group: g}', "takes no 'arguments'"),
        ('- {executable: talker, group: g}', "'talker' cannot join group 'g'"),
        ("- {executable: ping_responder, group: 'a b'}", "group 'a b' is not a valid"),
    ],
)
def test_what_cannot_be_grouped_is_a_one_line_error(tmp_path, nodes, message):
    with pytest.raises(ConfigError, match=message):
        load_graph(graph_of(tmp_path, nodes))


def test_a_group_named_like_a_node_or_with_contradicting_environments_is_refused(tmp_path):
    clash = load_graph(
        graph_of(
            tmp_path,
            """
            - {executable: ping_responder, namespace: /a, group: uav0/ping_responder}
            - {executable: ping_responder, namespace: /uav0}
            """,
        )
    )
    with pytest.raises(ConfigError, match='has the label of another node'):
        spec.merge_groups(clash)
    envs = load_graph(
        graph_of(
            tmp_path,
            """
            - {executable: ping_responder, group: g, env: {X: '1'}}
            - {executable: ping_responder, namespace: /b, group: g, env: {X: '2'}}
            """,
        )
    )
    with pytest.raises(ConfigError, match='one process has one environment'):
        spec.merge_groups(envs)
