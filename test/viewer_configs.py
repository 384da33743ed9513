"""The topics that the shipped RViz config and Foxglove layout show (for the tests)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

CONFIG = Path(__file__).resolve().parents[1] / 'config'
RVIZ = CONFIG / 'uav_flood.rviz'
FOXGLOVE = CONFIG / 'foxglove_layout.json'


def rviz() -> dict[str, Any]:
    """Return config/uav_flood.rviz parsed (RViz configs are YAML)."""
    config: dict[str, Any] = yaml.safe_load(RVIZ.read_text(encoding='utf-8'))
    return config


def rviz_topics() -> set[str]:
    """Return every topic a display of the RViz config subscribes to."""
    displays = rviz()['Visualization Manager']['Displays']
    return {d['Topic']['Value'] for d in displays if 'Topic' in d}


def foxglove() -> dict[str, Any]:
    """Return config/foxglove_layout.json parsed."""
    layout: dict[str, Any] = json.loads(FOXGLOVE.read_text(encoding='utf-8'))
    return layout


def foxglove_topics() -> set[str]:
    """Return every topic a panel of the Foxglove layout shows."""
    topics: set[str] = set()
    for panel_id, config in foxglove()['configById'].items():
        kind = panel_id.split('!')[0]
        if kind == '3D':
            topics |= set(config['topics'])
        elif kind == 'Image':
            topics |= {v for k, v in config['imageMode'].items() if k.endswith('Topic')}
        elif kind == 'map':
            topics |= set(config['topicColors']) | {config['followTopic']}
        elif kind == 'DiagnosticSummary':
            topics.add(config['topicToRender'])
    return topics
