"""Two processes on this machine discover each other and talk over DDS.

The test process and a ping_responder started as a separate process exchange messages, a service
call and parameters (get and set through the node's rcl_interfaces parameter services).
"""

import signal
import subprocess

from rcl_interfaces.msg import Parameter as ParameterMsg
from rcl_interfaces.msg import ParameterType, ParameterValue
from rcl_interfaces.srv import GetParameters, SetParameters
import rclpy
from std_msgs.msg import String
from std_srvs.srv import Trigger

from uav_flood.testing import spin_until

NS = '/uav7'


def call(executor, client, request, timeout=10.0):
    assert spin_until(executor, client.service_is_ready, timeout), f'{client.srv_name} not ready'
    future = client.call_async(request)
    assert spin_until(executor, future.done, timeout), f'{client.srv_name} did not answer'
    return future.result()


def test_topics_services_parameters_across_processes(
    ros_context, executor, child_env, bin_dir, tmp_path
):
    log = (tmp_path / 'ping_responder.log').open('w+')
    child = subprocess.Popen(
        [
            str(bin_dir / 'ping_responder'),
            '--ros-args',
            '-r',
            f'__ns:={NS}',
            '-p',
            'reply_prefix:=first-',
        ],
        env=child_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        probe = rclpy.create_node('probe', context=ros_context)
        executor.add_node(probe)

        # Discovery: the other process's node shows up in this process's graph view.
        assert spin_until(
            executor,
            lambda: ('ping_responder', NS) in probe.get_node_names_and_namespaces(),
            15.0,
        ), 'the ping_responder process was not discovered'

        # Topics both ways.
        replies = []
        probe.create_subscription(String, f'{NS}/pong', lambda m: replies.append(m.data), 10)
        pub = probe.create_publisher(String, f'{NS}/ping', 10)
        assert spin_until(
            executor,
            lambda: pub.get_subscription_count() > 0 and probe.count_publishers(f'{NS}/pong'),
            15.0,
        )
        pub.publish(String(data='one'))
        assert spin_until(executor, lambda: replies, 10.0)
        assert replies == ['first-one']

        # A service answered by the other process (its pid, not ours).
        trigger = probe.create_client(Trigger, f'{NS}/ping')
        response = call(executor, trigger, Trigger.Request())
        assert response.success
        assert f'pid={child.pid} ' in response.message

        # Parameters: read the override given on its command line, then change it remotely.
        get = probe.create_client(GetParameters, f'{NS}/ping_responder/get_parameters')
        values = call(executor, get, GetParameters.Request(names=['reply_prefix'])).values
        assert [v.string_value for v in values] == ['first-']

        set_ = probe.create_client(SetParameters, f'{NS}/ping_responder/set_parameters')
        new = ParameterMsg(
            name='reply_prefix',
            value=ParameterValue(type=ParameterType.PARAMETER_STRING, string_value='second-'),
        )
        results = call(executor, set_, SetParameters.Request(parameters=[new])).results
        assert [r.successful for r in results] == [True]
        bad = ParameterMsg(
            name='reply_prefix',
            value=ParameterValue(type=ParameterType.PARAMETER_INTEGER, integer_value=7),
        )
        results = call(executor, set_, SetParameters.Request(parameters=[bad])).results
        assert [r.successful for r in results] == [False]

        pub.publish(String(data='two'))
        assert spin_until(executor, lambda: len(replies) == 2, 10.0)
        assert replies[1] == 'second-two'
    finally:
        child.send_signal(signal.SIGINT)
        try:
            code = child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            code = child.wait()
        log.seek(0)
        output = log.read()
        log.close()
    assert code == 0, f'ping_responder did not exit cleanly on SIGINT ({code}):\n{output}'
