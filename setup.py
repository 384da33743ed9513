"""ament_python package definition for uav_flood (also installable with pip)."""

import os
import re

from setuptools import find_packages, setup

PACKAGE = 'uav_flood'
HERE = os.path.dirname(os.path.abspath(__file__))


def read_version() -> str:
    """Return the version from src/uav_flood/__init__.py, the single source of truth."""
    with open(os.path.join(HERE, 'src', PACKAGE, '__init__.py'), encoding='utf-8') as f:
        match = re.search(r"^__version__ = '([^']+)'", f.read(), re.MULTILINE)
    if match is None:
        raise RuntimeError('__version__ not found in src/uav_flood/__init__.py')
    return match.group(1)


def tree(directory: str) -> list[tuple[str, list[str]]]:
    """List (install dir, files) pairs that install `directory` under share/<package>/."""
    entries: list[tuple[str, list[str]]] = []
    for root, _dirs, files in os.walk(directory):
        paths = sorted(os.path.join(root, name) for name in files if not name.endswith('.pyc'))
        if paths:
            entries.append((os.path.join('share', PACKAGE, root), paths))
    return sorted(entries)


setup(
    name=PACKAGE,
    version=read_version(),
    package_dir={'': 'src'},
    packages=find_packages('src'),
    package_data={
        PACKAGE: [
            'py.typed',
            'sim/data/*',
            'sim/data/**/*',
            'models/*',
            'recording/msg/*/msg/*.msg',
        ]
    },
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + PACKAGE]),
        ('share/' + PACKAGE, ['package.xml']),
        *tree('launch'),
        *tree('config'),
        *tree('worlds'),
        *tree('models'),
    ],
    # Runtime libraries come from the ROS 2 installation (package.xml / rosdep) or from the pinned
    # requirements/ files (tools/install.py); listing them here would make setuptools' script
    # wrappers refuse to start on a ROS install whose numpy or OpenCV come from apt.
    install_requires=['setuptools'],
    # colcon reads the 'test' extra (tests_require is ignored by recent setuptools).
    extras_require={'test': ['pytest']},
    zip_safe=False,
    maintainer='uav_flood developers',
    maintainer_email='dev@uav-flood.org',
    description='Real-time flood mapping with a swarm of PX4 multirotors on ROS 2.',
    license='Apache-2.0',
    python_requires='>=3.10',
    entry_points={
        'console_scripts': [
            'uav-flood = uav_flood.cli:main',
            'ping_responder = uav_flood.nodes.ping_responder:main',
            'flight_control = uav_flood.nodes.flight_control:main',
            'sim_camera = uav_flood.nodes.sim_camera:main',
            'segmentation = uav_flood.nodes.segmentation:main',
            'swarm_coordinator = uav_flood.nodes.swarm_coordinator:main',
            'flood_mapper = uav_flood.nodes.flood_mapper:main',
            'recorder = uav_flood.nodes.recorder:main',
            'foxglove_bridge = uav_flood.nodes.foxglove_bridge:main',
            'edge_server = uav_flood.nodes.edge_server:main',
            'link_emulator = uav_flood.nodes.link_emulator:main',
            'gz_camera_bridge = uav_flood.nodes.gz_camera_bridge:main',
            'node_group = uav_flood.nodes.node_group:main',
        ],
    },
)
