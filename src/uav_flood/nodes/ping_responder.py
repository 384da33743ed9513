"""ping_responder: a diagnostic node that proves a ROS 2 graph works end to end.

It echoes every std_msgs/String received on `ping` back on `pong` (prefixed by the parameter
`reply_prefix`), and answers the std_srvs/Trigger service `ping` with its fully qualified name and
process id. `uav-flood doctor` and the test suite use it to check discovery, topics, services and
parameters across processes; operators can start one per namespace to check a multi-vehicle
network before a mission.
"""

import os
from typing import Any

from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.parameter import Parameter
from std_msgs.msg import String
from std_srvs.srv import Trigger

from uav_flood.nodes import conversions, names


class PingResponderNode(Node):
    """Echo `ping` to `pong` and answer the `ping` Trigger service."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__('ping_responder', **kwargs)
        self._reply_prefix: str = self.declare_parameter(
            'reply_prefix',
            '',
            ParameterDescriptor(description='Text put in front of every echoed message.'),
        ).value
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._echoed = 0
        self._pong_pub = conversions.publisher(self, String, names.PONG)
        conversions.subscribe(self, String, names.PING, self._on_ping)
        self.create_service(Trigger, names.PING_SERVICE.name, self._on_ping_service)
        self.get_logger().info(
            f'ready: echoing {self.resolve_topic_name(names.PING.name)} -> '
            f'{self.resolve_topic_name(names.PONG.name)} (pid {os.getpid()})'
        )

    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        for param in params:
            if param.name == 'reply_prefix':
                if param.type_ != Parameter.Type.STRING:
                    return SetParametersResult(
                        successful=False, reason='reply_prefix must be a string'
                    )
                self._reply_prefix = param.value
        return SetParametersResult(successful=True)

    def _on_ping(self, msg: String) -> None:
        self._echoed += 1
        self._pong_pub.publish(String(data=f'{self._reply_prefix}{msg.data}'))

    def _on_ping_service(
        self, request: Trigger.Request, response: Trigger.Response
    ) -> Trigger.Response:
        response.success = True
        response.message = (
            f'{self.get_fully_qualified_name()} pid={os.getpid()} echoed={self._echoed}'
        )
        return response


def main(args: list[str] | None = None) -> None:
    """Run ping_responder until shut down (Ctrl-C, SIGTERM or context shutdown)."""
    rclpy.init(args=args)
    node = None
    try:
        node = PingResponderNode()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()


if __name__ == '__main__':
    main()
