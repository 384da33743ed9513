"""`uav-flood doctor`: check, one item at a time, that this machine can run uav_flood.

Every check imports what it tests lazily, so a missing piece is reported with a fix instead of
stopping the whole report. Required checks failing make the command exit 1.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
import importlib.metadata
import os
from pathlib import Path
import shutil
import signal
import subprocess
import sys
import time
from typing import Any
import uuid

INSTALL_HINT = 'run `python3 tools/install.py` in the uav_flood checkout (README, "Install")'
ROS_HINT = (
    'run `python3 tools/install.py` (ROS 2 Kilted wheels), or source a ROS 2 installation '
    '(`source /opt/ros/<distro>/setup.bash`) before running uav-flood'
)


@dataclass
class CheckResult:
    """The outcome of one check.

    :param name: short name of what was checked.
    :param status: 'ok', 'fail' (required piece missing), 'warn' (optional piece missing or
        degraded) or 'skip' (could not run because an earlier check failed).
    :param detail: what was found (versions, paths, timings).
    :param fix: what the user should do, for 'fail' and 'warn'.
    """

    name: str
    status: str
    detail: str
    fix: str = ''


class CheckFailedError(Exception):
    """Raised inside a check to report a failure with a fix."""

    def __init__(self, detail: str, fix: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.fix = fix


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _import(module: str, fix: str = INSTALL_HINT) -> Any:
    try:
        return __import__(module, fromlist=['_'])
    except ImportError as exc:
        raise CheckFailedError(f'cannot import {module}: {exc}', fix) from exc


def check_python() -> str:
    """Report the interpreter; the ROS 2 wheels need 3.11, a sourced ROS uses its own."""
    info = sys.version_info
    venv = sys.prefix if sys.prefix != sys.base_prefix else 'no virtual environment'
    return f'{info.major}.{info.minor}.{info.micro} ({sys.executable}; {venv})'


def check_rclpy() -> str:
    """Import rclpy and say where it comes from."""
    rclpy = _import('rclpy', ROS_HINT)
    wheel = _version('ros-rclpy')
    distro = os.environ.get('ROS_DISTRO')
    if wheel:
        source = f'ros-rclpy {wheel} from PyPI (ROS 2 Kilted wheels)'
    else:
        source = f'ROS 2 {distro or "installation"} at {Path(rclpy.__file__).parent}'
    return source


def check_rmw() -> str:
    """Report the RMW implementation and the discovery settings in effect."""
    rclpy = _import('rclpy', ROS_HINT)
    rmw = rclpy.get_rmw_implementation_identifier()
    domain = os.environ.get('ROS_DOMAIN_ID', '0')
    if 'ROS_AUTOMATIC_DISCOVERY_RANGE' in os.environ or 'ROS_LOCALHOST_ONLY' not in os.environ:
        discovery = f'discovery range {os.environ.get("ROS_AUTOMATIC_DISCOVERY_RANGE", "default")}'
    else:
        discovery = f'ROS_LOCALHOST_ONLY={os.environ["ROS_LOCALHOST_ONLY"]}'
    return f'{rmw} (ROS_DOMAIN_ID {domain}, {discovery})'


@contextmanager
def _responder(namespace: str) -> Iterator[subprocess.Popen[bytes]]:
    """Run ping_responder in another process for the duration of the block."""
    cmd = [
        sys.executable,
        '-m',
        'uav_flood.nodes.ping_responder',
        '--ros-args',
        '-r',
        f'__ns:={namespace}',
        '-p',
        'reply_prefix:=pong-',
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


def check_round_trip(timeout_sec: float = 20.0) -> str:
    """Exchange a message and a service call with a ping_responder in a second process."""
    rclpy = _import('rclpy', ROS_HINT)
    from rclpy.context import Context
    from std_msgs.msg import String
    from std_srvs.srv import Trigger

    from uav_flood.nodes import names

    namespace = f'/uav_flood_doctor_{os.getpid()}_{uuid.uuid4().hex[:6]}'
    payload = uuid.uuid4().hex
    discovery_fix = (
        'processes did not discover each other: on a single machine set '
        '`export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST` (Jazzy and later) or '
        '`ROS_LOCALHOST_ONLY=1` (Humble); check that a firewall allows UDP multicast/loopback '
        'and that ROS_DOMAIN_ID is below 102'
    )
    context = Context()
    rclpy.init(context=context)
    started = time.monotonic()
    try:
        with _responder(namespace) as proc:
            node = rclpy.create_node('uav_flood_doctor', context=context)
            executor = rclpy.executors.SingleThreadedExecutor(context=context)
            executor.add_node(node)
            replies: list[str] = []
            node.create_subscription(
                String,
                f'{namespace}/{names.PONG.name}',
                lambda msg: replies.append(msg.data),
                names.PONG.qos,
            )
            pub = node.create_publisher(String, f'{namespace}/{names.PING.name}', names.PING.qos)
            client = node.create_client(Trigger, f'{namespace}/{names.PING_SERVICE.name}')

            def wait(predicate: Callable[[], bool]) -> bool:
                deadline = started + timeout_sec
                while not predicate():
                    if time.monotonic() > deadline or proc.poll() is not None:
                        return predicate()
                    executor.spin_once(timeout_sec=0.05)
                return True

            matched = wait(
                lambda: (
                    pub.get_subscription_count() > 0
                    and node.count_publishers(f'{namespace}/{names.PONG.name}') > 0
                )
            )
            if not matched:
                if proc.poll() is not None:
                    err = proc.stderr.read().decode(errors='replace') if proc.stderr else ''
                    last = [line for line in err.splitlines() if line.strip()][-1:] or ['']
                    raise CheckFailedError(
                        f'the ping_responder process exited with code {proc.returncode}: '
                        f'{last[0].strip()}',
                        INSTALL_HINT,
                    )
                raise CheckFailedError(f'no discovery within {timeout_sec:.0f} s', discovery_fix)
            discovered = time.monotonic() - started
            sent = time.monotonic()
            pub.publish(String(data=payload))
            if not wait(lambda: bool(replies)):
                raise CheckFailedError(
                    'discovered the peer but got no reply on pong', discovery_fix
                )
            rtt_ms = (time.monotonic() - sent) * 1000.0
            if replies[0] != f'pong-{payload}':
                raise CheckFailedError(f'unexpected reply {replies[0]!r}', 'report this as a bug')
            ready = wait(client.service_is_ready)
            future = client.call_async(Trigger.Request()) if ready else None
            if future is None or not wait(future.done) or not future.result().success:
                raise CheckFailedError(
                    'topics work but the service call got no answer', discovery_fix
                )
            executor.shutdown()
            node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)
    return (
        f'topic and service with a second process: discovered in {discovered:.1f} s, '
        f'message round trip {rtt_ms:.1f} ms'
    )


def check_onnxruntime() -> str:
    """Import onnxruntime and list its execution providers (CPU required)."""
    ort = _import('onnxruntime')
    providers = ort.get_available_providers()
    if 'CPUExecutionProvider' not in providers:
        raise CheckFailedError(
            f'onnxruntime {ort.__version__} has no CPUExecutionProvider',
            'reinstall onnxruntime (`python3 tools/install.py --force`)',
        )
    return f'{ort.__version__}, execution providers: {", ".join(providers)}'


def check_accelerators() -> str:
    """Say whether a GPU execution provider (CUDA, TensorRT) is available; optional."""
    ort = _import('onnxruntime')
    gpu = [
        p
        for p in ort.get_available_providers()
        if p in ('CUDAExecutionProvider', 'TensorrtExecutionProvider')
    ]
    if not gpu:
        raise CheckFailedError(
            'no CUDA or TensorRT execution provider: segmentation runs on the CPU',
            'optional; on a Jetson or a CUDA machine install onnxruntime-gpu instead of '
            'onnxruntime',
        )
    return ', '.join(gpu)


def check_opencv() -> str:
    """Import OpenCV and round-trip an image through JPEG and PNG codecs."""
    cv2 = _import('cv2')
    np = _import('numpy')
    image = np.zeros((48, 64, 3), dtype=np.uint8)
    image[:, :32] = (255, 128, 0)
    for ext in ('.jpg', '.png'):
        ok, buf = cv2.imencode(ext, image)
        decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else None
        if decoded is None or decoded.shape != image.shape:
            raise CheckFailedError(
                f'OpenCV {cv2.__version__} cannot encode/decode {ext}',
                'reinstall opencv-python-headless (`python3 tools/install.py --force`)',
            )
    return f'{cv2.__version__} (JPEG and PNG codecs work)'


def check_mavsdk() -> str:
    """Import MAVSDK-Python and check its native part (C library or mavsdk_server binary)."""
    mavsdk = _import('mavsdk')
    version = getattr(mavsdk, '__version__', None) or _version('mavsdk') or '?'
    loader = sys.modules.get('mavsdk.cmavsdk_loader')
    if loader is not None:
        lib = getattr(loader, '_cmavsdk_lib', None)
        return f'{version}, C library {getattr(lib, "_name", "loaded")} (no server needed)'
    server = Path(mavsdk.__file__).parent / 'bin' / 'mavsdk_server'
    if not server.exists():
        raise CheckFailedError(
            f'MAVSDK-Python {version} has no mavsdk_server binary at {server}',
            'install the pinned mavsdk>=4.1 (`python3 tools/install.py --force`)',
        )
    if not os.access(server, os.X_OK):
        raise CheckFailedError(f'{server} is not executable', f'chmod +x {server}')
    return f'{version}, mavsdk_server at {server}'


def check_pymavlink() -> str:
    """Encode and decode a MAVLink 2 HEARTBEAT as PX4 sends it."""
    _import('pymavlink')
    os.environ.setdefault('MAVLINK20', '1')
    common = _import('pymavlink.dialects.v20.common')
    mav = common.MAVLink(None, srcSystem=1, srcComponent=1)
    msg = mav.heartbeat_encode(
        common.MAV_TYPE_QUADROTOR,
        common.MAV_AUTOPILOT_PX4,
        common.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED,
        0,
        common.MAV_STATE_STANDBY,
    )
    decoded = common.MAVLink(None).decode(bytearray(msg.pack(mav)))
    if decoded.get_type() != 'HEARTBEAT' or decoded.autopilot != common.MAV_AUTOPILOT_PX4:
        raise CheckFailedError(
            'MAVLink 2 HEARTBEAT did not survive encode/decode',
            'reinstall pymavlink (`python3 tools/install.py --force`)',
        )
    return f'{_version("pymavlink") or "?"} (MAVLink 2 common dialect)'


def check_geo() -> str:
    """Import shapely and pyproj and transform a WGS84 point to UTM (needs PROJ data)."""
    shapely = _import('shapely')
    pyproj = _import('pyproj')
    try:
        transformer = pyproj.Transformer.from_crs('EPSG:4326', 'EPSG:32615', always_xy=True)
        x, _y = transformer.transform(-95.36, 29.76)  # Houston
    except pyproj.exceptions.ProjError as exc:
        raise CheckFailedError(f'pyproj cannot transform: {exc}', 'reinstall pyproj') from exc
    if not 270_000 < x < 280_000:
        raise CheckFailedError(
            f'pyproj gave an implausible UTM easting {x:.0f}', 'reinstall pyproj'
        )
    return f'shapely {shapely.__version__}, pyproj {pyproj.__version__} (PROJ data found)'


def check_numpy_yaml() -> str:
    """Import NumPy and PyYAML."""
    np = _import('numpy')
    yaml = _import('yaml')
    return f'numpy {np.__version__}, PyYAML {yaml.__version__}'


def check_setpriv() -> str:
    """Find setpriv, which the node-graph runner uses so no child outlives it."""
    path = shutil.which('setpriv')
    if path is None:
        raise CheckFailedError(
            'setpriv not found: nodes may outlive a runner killed with SIGKILL',
            'sudo apt install util-linux',
        )
    return path


@dataclass(frozen=True)
class Check:
    """A named check, whether it is required, and the function that runs it."""

    name: str
    func: Callable[[], str]
    required: bool = True
    needs_rclpy: bool = False


def all_checks(round_trip_timeout: float = 20.0) -> list[Check]:
    """Return the checks in the order they run."""
    return [
        Check('python', check_python),
        Check('rclpy', check_rclpy),
        Check('rmw', check_rmw, needs_rclpy=True),
        Check('round trip', lambda: check_round_trip(round_trip_timeout), needs_rclpy=True),
        Check('onnxruntime', check_onnxruntime),
        Check('gpu providers', check_accelerators, required=False),
        Check('opencv', check_opencv),
        Check('mavsdk', check_mavsdk),
        Check('pymavlink', check_pymavlink),
        Check('geo', check_geo),
        Check('numpy/yaml', check_numpy_yaml),
        Check('setpriv', check_setpriv, required=False),
    ]


def run_checks(checks: list[Check]) -> Iterator[tuple[Check, CheckResult]]:
    """Run each check, yielding its result as soon as it is known."""
    rclpy_ok = True
    for check in checks:
        if check.needs_rclpy and not rclpy_ok:
            result = CheckResult(check.name, 'skip', 'skipped: rclpy is not importable')
        else:
            try:
                result = CheckResult(check.name, 'ok', check.func())
            except CheckFailedError as exc:
                status = 'fail' if check.required else 'warn'
                result = CheckResult(check.name, status, exc.detail, exc.fix)
            except Exception as exc:  # noqa: BLE001  (a broken library must not end the report)
                status = 'fail' if check.required else 'warn'
                result = CheckResult(
                    check.name,
                    status,
                    f'{type(exc).__name__}: {exc}',
                    'report this with the output of `uav-flood doctor`',
                )
        if check.name == 'rclpy':
            rclpy_ok = result.status == 'ok'
        yield check, result


def as_dict(result: CheckResult) -> dict[str, str]:
    """Return the result as a JSON-ready dict."""
    return asdict(result)
