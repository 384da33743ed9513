"""segmentation's parameters: their table (name: default, description) and their reading.

The node declares PARAMETERS read-only and builds its configuration with the dataclass here,
which checks every value and names the parameter a ConfigError is about.
"""

from __future__ import annotations

from dataclasses import dataclass
import math
from typing import Any

from rclpy.node import Node

from uav_flood.core.delivery import OutboxConfig
from uav_flood.core.errors import ConfigError
from uav_flood.core.georef import (
    CameraMount,
    GeoreferenceError,
    GridSpec,
)
from uav_flood.core.offload import PolicyConfig
from uav_flood.core.segmentation import (
    MODES,
    PROVIDERS,
    resolve_model,
    SegmentationError,
    SegmenterConfig,
    SHIPPED_MODELS,
    STRIDE,
)

# name: (default, description). Defaults equal config/segmentation.yaml; all are read-only.
PARAMETERS: dict[str, tuple[Any, str]] = {
    'model_path': (
        'fast',
        'ONNX flood model: a file, or a shipped model: fast (INT8, for on-board CPUs) or '
        'accurate (float; also the empty string).',
    ),
    'providers': (
        ['cpu'],
        'onnxruntime execution providers in order of preference: tensorrt, cuda, cpu '
        '(missing ones are skipped; cpu is always the last resort).',
    ),
    'threads': (0, 'onnxruntime intra-op threads; 0 uses every core.'),
    'mode': ('resize', 'How a frame fits the network: resize (scale to max_side) or tile.'),
    'max_side': (512, 'Longer side (px) a frame is scaled to in resize mode.'),
    'threshold': (0.5, 'Water probability at or above which a pixel is water, in (0, 1).'),
    'send_probability': (
        True,
        'Observations carry the calibrated water probability (0..100); false: the thresholded '
        'mask (0 or 100).',
    ),
    'send_classes': (
        True,
        'Also send the land-cover classes of every frame (segmented on board or at the edge) on '
        'flood_observation/classes (FloodNet class and its probability per observation cell); '
        'needs a model with the 10-class output (both shipped models have it).',
    ),
    'view_weight': (
        True,
        'Move each cell of an observation towards 50 % by how well the frame saw it (incidence '
        'and distance from the image centre; core.georef.mask_to_patch).',
    ),
    'grid_resolution_m': (0.5, 'Cell size (m) of the map grid the observations snap to.'),
    'max_range_m': (300.0, 'Longest slant range (m) from the camera to a mapped ground point.'),
    'mount_pitch_deg': (
        -90.0,
        'Optical axis elevation on base_link (deg): -90 nadir, 0 forward. The one definition of '
        'the mount: published on camera/mount and /tf_static for sim_camera and viewers.',
    ),
    'mount_yaw_deg': (0.0, 'Optical axis azimuth on base_link (deg, positive to the left).'),
    'mount_roll_deg': (0.0, 'Camera roll about its optical axis (deg).'),
    'pose_history_s': (2.0, 'How much pose history (s) is kept to pair frames with poses.'),
    'max_pose_gap_s': (
        0.25,
        'Longest time (s) between two poses that a frame stamp may be interpolated across.',
    ),
    'offload_mode': (
        'off',
        'Edge offloading: off (on board, without the policy), or through the offload policy: '
        'local, edge (always that target) or adaptive (per frame, whichever is sooner).',
    ),
    'offload_direct': (
        False,
        'Talk to the edge server on edge/request and edge/result directly instead of '
        'edge/uplink and edge/downlink (through a link_emulator).',
    ),
    'deadline_ms': (500.0, 'A frame result is wanted within this time of its arrival (ms).'),
    'jpeg_quality': (80, 'JPEG quality (1-100) of the frames sent to the edge.'),
    'local_compute_scale': (
        1.0,
        'EMULATION for simulation and benchmarks only, never on real hardware: after each '
        'local inference the worker waits (scale - 1) x its measured time, as a computer that '
        'many times slower would (>= 1.0; e.g. 4.0 for a Jetson-class CPU).',
    ),
    'offload_alpha': (0.3, 'EWMA weight of new samples in the offload policy, in (0, 1].'),
    'offload_prior_rtt_ms': (100.0, 'Round-trip time assumed before any measurement (ms).'),
    'offload_prior_bandwidth_mbit_s': (5.0, 'Bandwidth assumed before any measurement (Mbit/s).'),
    'offload_prior_local_ms': (200.0, 'Local inference time assumed before measuring it (ms).'),
    'offload_prior_service_ms': (50.0, 'Edge service time assumed before it reports one (ms).'),
    'offload_timeout_factor': (0.5, 'Relative margin of an edge request timeout (>= 0).'),
    'offload_timeout_margin_ms': (50.0, 'Absolute margin of an edge request timeout (ms).'),
    'offload_probe_interval_s': (1.0, 'Time between probes while the edge is down (s).'),
    'offload_deadline_margin_ms': (
        50.0,
        'A target must be expected this long before the deadline to be chosen (ms, >= 0).',
    ),
    'offload_stale_after_s': (5.0, 'Estimates with no edge result for this long are stale (s).'),
    'offload_status_stale_s': (2.0, 'An /edge/status older than this is ignored (s).'),
    'offload_hedge': (
        True,
        'Segment an edge frame on board too when it is offload_hedge_margin_ms past its '
        'expected edge latency and the on-board model is free; the first result is used. '
        'Costs on-board compute (energy) on frames the edge may still answer.',
    ),
    'offload_hedge_margin_ms': (
        50.0,
        'How long past its expected edge latency a frame is hedged on board (ms, >= 0).',
    ),
    'outbox_max_observations': (
        2000,
        'Observations kept until the mapper acknowledges them; when full the oldest is '
        'dropped (counted). 0: publish each once and keep nothing.',
    ),
    'outbox_max_bytes': (
        67108864,
        'Bytes the kept observations may take (cells + 1 KiB each); the oldest go first.',
    ),
    'outbox_ack_timeout_s': (
        6.0,
        'First re-send this long after an unacknowledged send (s); must exceed the '
        "mapper's checkpoint_interval_s (it acknowledges once a checkpoint holds it).",
    ),
    'outbox_max_backoff_s': (30.0, 'The wait between re-sends doubles up to this (s).'),
    'outbox_resend_rate_hz': (20.0, 'At most this many re-sends a second (Hz).'),
    'outbox_resend_bytes_per_s': (250000.0, 'At most this many re-sent bytes a second.'),
}
#: offload_mode values: off, or a core.offload mode.
OFFLOAD_MODES = ('off', 'local', 'edge', 'adaptive')


@dataclass(frozen=True)
class OffloadParams:
    """The edge offloading parameters (see PARAMETERS); `policy` is None when offload is off."""

    policy: PolicyConfig | None
    direct: bool
    jpeg_quality: int
    local_compute_scale: float

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> OffloadParams:
        """Build and check the offload parameters.

        :raises ConfigError: a value is out of range.
        """
        mode = str(values['offload_mode']).strip().lower()
        if mode not in OFFLOAD_MODES:
            raise ConfigError(
                f'must be one of {", ".join(OFFLOAD_MODES)}, got {values["offload_mode"]!r}',
                'offload_mode',
            )
        quality = int(values['jpeg_quality'])
        if not 1 <= quality <= 100:
            raise ConfigError(f'must be in 1..100, got {quality}', 'jpeg_quality')
        scale = float(values['local_compute_scale'])
        if not (math.isfinite(scale) and scale >= 1.0):
            raise ConfigError(f'must be >= 1.0, got {scale}', 'local_compute_scale')
        policy = None
        if mode != 'off':
            names_ = {
                'deadline_s': ('deadline_ms', 1e-3),
                'alpha': ('offload_alpha', 1.0),
                'prior_rtt_s': ('offload_prior_rtt_ms', 1e-3),
                'prior_bandwidth_bps': ('offload_prior_bandwidth_mbit_s', 1e6),
                'prior_local_s': ('offload_prior_local_ms', 1e-3),
                'prior_service_s': ('offload_prior_service_ms', 1e-3),
                'timeout_factor': ('offload_timeout_factor', 1.0),
                'timeout_margin_s': ('offload_timeout_margin_ms', 1e-3),
                'probe_interval_s': ('offload_probe_interval_s', 1.0),
                'deadline_margin_s': ('offload_deadline_margin_ms', 1e-3),
                'stale_after_s': ('offload_stale_after_s', 1.0),
                'status_stale_s': ('offload_status_stale_s', 1.0),
                'hedge_margin_s': ('offload_hedge_margin_ms', 1e-3),
            }
            kwargs = {key: float(values[name]) * k for key, (name, k) in names_.items()}
            try:
                policy = PolicyConfig(mode=mode, hedge=bool(values['offload_hedge']), **kwargs)
            except ConfigError as exc:
                # Name the node's parameter (its unit may differ), not the policy field.
                field = exc.source or ''
                text = str(exc).removeprefix(f'{field}: ')
                name = names_[field][0] if field in names_ else 'offload_mode'
                raise ConfigError(f'{text} (in the policy unit of {field})', name) from None
        return cls(policy, bool(values['offload_direct']), quality, scale)


@dataclass(frozen=True)
class SegmentationParams:
    """segmentation's parameters, read once (see PARAMETERS for their meaning)."""

    segmenter: SegmenterConfig
    grid: GridSpec
    mount: CameraMount
    pose_history_s: float
    max_pose_gap_s: float
    offload: OffloadParams
    outbox: OutboxConfig
    send_probability: bool = True
    view_weight: bool = True
    send_classes: bool = True

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> SegmentationParams:
        """Build and check the parameters.

        :param values: parameter name -> value, every key of PARAMETERS.
        :raises ConfigError: a value is out of range or the model file does not exist.
        """
        model_path = str(values['model_path']).strip()
        if model_path and not resolve_model(model_path).is_file():
            raise ConfigError(
                f'model {model_path!r} not found (a file, or a shipped model: '
                f'{", ".join(SHIPPED_MODELS)})',
                'model_path',
            )
        providers = tuple(str(p).strip().lower() for p in values['providers'])
        unknown = [p for p in providers if p not in PROVIDERS]
        if not providers or unknown:
            raise ConfigError(
                f'must list providers from {", ".join(PROVIDERS)}, '
                f'got {list(values["providers"])}',
                'providers',
            )
        if int(values['threads']) < 0:
            raise ConfigError(f'must be 0 (all cores) or more, got {values["threads"]}', 'threads')
        mode = str(values['mode'])
        if mode not in MODES:
            raise ConfigError(f'must be one of {", ".join(MODES)}, got {mode!r}', 'mode')
        if int(values['max_side']) < STRIDE:
            raise ConfigError(f'must be >= {STRIDE}, got {values["max_side"]}', 'max_side')
        threshold = float(values['threshold'])
        if not 0.0 < threshold < 1.0:
            raise ConfigError(f'must be in (0, 1), got {values["threshold"]}', 'threshold')
        for name in ('grid_resolution_m', 'max_range_m', 'pose_history_s'):
            value = float(values[name])
            if not (math.isfinite(value) and value > 0.0):
                raise ConfigError(f'must be > 0, got {values[name]}', name)
        gap = float(values['max_pose_gap_s'])
        if not (math.isfinite(gap) and gap >= 0.0):
            raise ConfigError(f'must be >= 0, got {values["max_pose_gap_s"]}', 'max_pose_gap_s')
        segmenter = SegmenterConfig(
            model_path=model_path,
            providers=providers,
            threads=int(values['threads']),
            mode=mode,
            max_side=int(values['max_side']),
            threshold=threshold,
            classes=bool(values['send_classes']),
        )
        try:
            segmenter.validate()
        except SegmentationError as exc:
            raise ConfigError(str(exc), 'segmenter') from None
        try:
            mount = CameraMount(
                pitch_deg=float(values['mount_pitch_deg']),
                yaw_deg=float(values['mount_yaw_deg']),
                roll_deg=float(values['mount_roll_deg']),
            )
        except GeoreferenceError as exc:
            raise ConfigError(str(exc), 'mount_pitch_deg/mount_yaw_deg/mount_roll_deg') from None
        return cls(
            segmenter=segmenter,
            grid=GridSpec(float(values['grid_resolution_m']), float(values['max_range_m'])),
            mount=mount,
            pose_history_s=float(values['pose_history_s']),
            max_pose_gap_s=gap,
            offload=OffloadParams.from_values(values),
            outbox=_outbox_config(values),
            send_probability=bool(values['send_probability']),
            view_weight=bool(values['view_weight']),
            send_classes=bool(values['send_classes']),
        )

    @classmethod
    def from_node(cls, node: Node) -> SegmentationParams:
        """Read the declared parameters of `node`."""
        return cls.from_values({name: node.get_parameter(name).value for name in PARAMETERS})


def _outbox_config(values: dict[str, Any]) -> OutboxConfig:
    """Build the outbox configuration, naming the node's parameter on a bad value."""
    try:
        return OutboxConfig(
            max_pending=int(values['outbox_max_observations']),
            max_bytes=int(values['outbox_max_bytes']),
            ack_timeout_s=float(values['outbox_ack_timeout_s']),
            max_backoff_s=float(values['outbox_max_backoff_s']),
            resend_rate_hz=float(values['outbox_resend_rate_hz']),
            resend_bytes_per_s=float(values['outbox_resend_bytes_per_s']),
        )
    except ConfigError as exc:
        field = exc.source or ''
        name = {'max_pending': 'outbox_max_observations'}.get(field, f'outbox_{field}')
        raise ConfigError(str(exc).removeprefix(f'{field}: '), name) from None
