"""ping_responder under real rclpy, in process: topics, service, parameters, names and QoS."""

from rcl_interfaces.msg import SetParametersResult  # noqa: F401  (message package must import)
from rclpy.parameter import Parameter
from rclpy.qos import ReliabilityPolicy
from std_msgs.msg import String
from std_srvs.srv import Trigger

from uav_flood.nodes.ping_responder import PingResponderNode
from uav_flood.testing import spin_until


def make_nodes(ros_context, executor, namespace='/uav0', overrides=()):
    import rclpy

    node = PingResponderNode(
        context=ros_context, namespace=namespace, parameter_overrides=list(overrides)
    )
    probe = rclpy.create_node('probe', context=ros_context)
    executor.add_node(node)
    executor.add_node(probe)
    return node, probe


def test_echoes_ping_on_pong_in_its_namespace(ros_context, executor):
    node, probe = make_nodes(ros_context, executor)
    received = []
    probe.create_subscription(String, '/uav0/pong', lambda m: received.append(m.data), 10)
    pub = probe.create_publisher(String, '/uav0/ping', 10)
    assert spin_until(executor, lambda: pub.get_subscription_count() > 0, 5.0)

    pub.publish(String(data='hello'))
    assert spin_until(executor, lambda: received, 5.0)
    assert received == ['hello']

    topics = dict(probe.get_topic_names_and_types())
    assert topics['/uav0/ping'] == ['std_msgs/msg/String']
    assert topics['/uav0/pong'] == ['std_msgs/msg/String']
    infos = probe.get_publishers_info_by_topic('/uav0/pong')
    assert [i.qos_profile.reliability for i in infos] == [ReliabilityPolicy.RELIABLE]


def test_reply_prefix_from_override_and_live_change(ros_context, executor):
    node, probe = make_nodes(
        ros_context, executor, overrides=[Parameter('reply_prefix', value='uav0:')]
    )
    received = []
    probe.create_subscription(String, '/uav0/pong', lambda m: received.append(m.data), 10)
    pub = probe.create_publisher(String, '/uav0/ping', 10)
    assert spin_until(executor, lambda: pub.get_subscription_count() > 0, 5.0)
    pub.publish(String(data='a'))
    assert spin_until(executor, lambda: len(received) == 1, 5.0)

    assert node.set_parameters([Parameter('reply_prefix', value='B:')])[0].successful
    rejected = node.set_parameters([Parameter('reply_prefix', value=3)])[0]
    assert not rejected.successful
    pub.publish(String(data='b'))
    assert spin_until(executor, lambda: len(received) == 2, 5.0)
    assert received == ['uav0:a', 'B:b']


def test_trigger_service_reports_node_and_pid(ros_context, executor):
    import os

    node, probe = make_nodes(ros_context, executor, namespace='/uav3')
    client = probe.create_client(Trigger, '/uav3/ping')
    assert spin_until(executor, client.service_is_ready, 5.0)
    future = client.call_async(Trigger.Request())
    assert spin_until(executor, future.done, 5.0)
    response = future.result()
    assert response.success
    assert response.message.startswith(f'/uav3/ping_responder pid={os.getpid()} ')
