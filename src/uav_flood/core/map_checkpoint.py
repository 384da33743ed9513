"""The files of one flood-map checkpoint: the map and, beside it, land cover, tracks, delivery.

    <checkpoint>                 the water map (core.flood_map.FloodMap.save)
    <checkpoint>.classes.npz     the land-cover map (core.class_map.ClassMap)
    <checkpoint>.tracks.json     the drones' tracks (map ENU points)
    <checkpoint>.delivery.npz    the ids fused and the plausibility gate's state (core.delivery)

Saving writes the delivery state first: its ids carry the sequence number of their fusion and
on reload only those the map file holds are kept, so a crash between the writes never leaves an
id remembered whose evidence is not in the map. Every write is atomic. Reading a file that is
there but unreadable sets it aside (renamed, never overwritten) and says so; a missing one is
no error. No rclpy here: flood_mapper calls it and logs what it says.
"""

from __future__ import annotations

from dataclasses import dataclass
import json
import os
from pathlib import Path
import time
from typing import Any

import numpy as np

from uav_flood.core.atomic_file import write_atomic
from uav_flood.core.class_map import ClassMap, ClassMapError
from uav_flood.core.delivery import DeliveryLedger, DeliveryStateError, load_state, save_state
from uav_flood.core.flood_map import (
    FloodMap,
    FloodMapError,
    FusionConfig,
    load_or_new,
    set_aside_corrupt,
)
from uav_flood.core.geo import distance_m, GeoPoint, SAME_ORIGIN_M
from uav_flood.core.plausibility import ObservationGate

Point3 = tuple[float, float, float]


def tracks_path(checkpoint_file: str | os.PathLike[str]) -> Path:
    """Return the drone tracks file saved beside a checkpoint (<checkpoint>.tracks.json)."""
    path = Path(checkpoint_file)
    return path.with_name(path.name + '.tracks.json')


def classes_path(checkpoint_file: str | os.PathLike[str]) -> Path:
    """Return the land-cover map saved beside a checkpoint (<checkpoint>.classes.npz)."""
    path = Path(checkpoint_file)
    return path.with_name(path.name + '.classes.npz')


def delivery_path(checkpoint_file: str | os.PathLike[str]) -> Path:
    """Return the delivery state saved beside a checkpoint (<checkpoint>.delivery.npz)."""
    path = Path(checkpoint_file)
    return path.with_name(path.name + '.delivery.npz')


@dataclass(frozen=True)
class Loaded:
    """What reading one file gave.

    :param note: what to log ('' for nothing), at `level` ('info', 'warning' or 'error').
    :param set_aside: where an unreadable file was moved ('' when none was).
    """

    note: str = ''
    level: str = 'info'
    set_aside: str = ''


def _set_aside(path: Path) -> str:
    try:
        return str(set_aside_corrupt(path))
    except (OSError, FloodMapError) as error:
        return f'(not set aside: {error})'


class MapCheckpoint:
    """Save and reload the files of the checkpoint at `path` (see the module docstring)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def save(
        self,
        flood_map: FloodMap,
        classes: ClassMap,
        tracks: dict[str, list[Point3]],
        ledger: DeliveryLedger,
        gate: ObservationGate,
        frame_id: str,
    ) -> Path:
        """Write every file (delivery state first); return the map file's path.

        :raises OSError, FloodMapError: a file could not be written.
        """
        ledger_header, arrays = ledger.state()
        gate_header, traces = gate.state()
        header = {
            'ledger': ledger_header,
            'gate': gate_header,
            'observations_applied': flood_map.observations_applied,
        }
        save_state(delivery_path(self.path), header, {**arrays, **traces})
        path = flood_map.save(self.path)
        data = json.dumps({'frame': frame_id, 'tracks': tracks})
        write_atomic(tracks_path(path), data.encode('utf-8'))
        classes.save(classes_path(path))
        return path

    def load_map(self, config: FusionConfig, origin: GeoPoint | None) -> tuple[FloodMap, Loaded]:
        """Return the map of the checkpoint, or a new one when none, unreadable or elsewhere.

        A map made about another origin (more than SAME_ORIGIN_M away) is set aside: its cells
        are about another point of the Earth, never to be mixed with this mission's.

        :param origin: this mission's origin (None: unknown, the stored one is kept).
        """
        flood_map, moved = load_or_new(self.path, config)
        if moved is not None:
            note = (
                f'checkpoint {self.path} was unreadable or for another grid: set aside as '
                f'{moved}; starting an empty map'
            )
            loaded = Loaded(note, 'error', str(moved))
        elif flood_map.bounds_cells is not None:
            note = (
                f'reloaded {self.path}: {flood_map.observations_applied} observations, '
                f'{int(np.count_nonzero(flood_map.seen()))} cells known'
            )
            loaded = Loaded(note)
        else:
            loaded = Loaded()
        stored = flood_map.origin
        if (
            origin is not None
            and stored is not None
            and distance_m(stored, origin) > SAME_ORIGIN_M
        ):
            moved = set_aside_corrupt(self.path)
            note = (
                f'checkpoint {self.path} was made about origin {stored.lat_deg},'
                f'{stored.lon_deg}, this mission is about {origin.lat_deg},{origin.lon_deg}: set '
                f'aside as {moved}; starting an empty map'
            )
            flood_map, loaded = FloodMap(config), Loaded(note, 'error', str(moved))
        return flood_map, loaded

    def load_delivery(self, ledger: DeliveryLedger, gate: ObservationGate, applied: int) -> Loaded:
        """Restore the ids fused (those `applied` covers) and the gate into `ledger`, `gate`.

        On an unreadable file the caller starts both anew (Loaded.error is set).
        """
        path = delivery_path(self.path)
        try:
            header, arrays = load_state(path)
            kept = ledger.restore(header['ledger'], arrays, applied)
            gate.restore(header['gate'], arrays)
        except FileNotFoundError:
            if not applied:
                return Loaded()
            return Loaded(
                f'no delivery state {path} beside the checkpoint: observations re-sent now may '
                'be fused a second time',
                'warning',
            )
        except (DeliveryStateError, KeyError, ValueError, TypeError) as exc:
            moved = _set_aside(path)
            return Loaded(
                f'unreadable delivery state {path}: {exc}; set aside as {moved}: observations '
                're-sent now may be fused twice',
                'error',
                moved,
            )
        ago = time.time() - gate.started_s
        return Loaded(
            f'reloaded {path}: {kept} observation ids already fused, mission started '
            f'{ago:.0f} s ago'
        )

    def load_classes(self, resolution_m: float, side_cells: int) -> tuple[ClassMap, Loaded]:
        """Return the land-cover map beside the checkpoint; a new one if none or unreadable."""
        path = classes_path(self.path)
        if not path.exists():
            return ClassMap(resolution_m, side_cells), Loaded()
        try:
            loaded = ClassMap.load(path, side_cells)
            if abs(loaded.resolution_m - resolution_m) > 1e-9 * resolution_m:
                raise ClassMapError(
                    f'{path}: cells of {loaded.resolution_m} m, the map has {resolution_m}'
                )
        except ClassMapError as exc:
            moved = _set_aside(path)
            note = f'{exc}; set aside as {moved}: land cover starts empty'
            return ClassMap(resolution_m, side_cells), Loaded(note, 'error', moved)
        note = f'reloaded {path}: {loaded.observations_applied} land-cover observations'
        return loaded, Loaded(note)

    def load_tracks(self, tracks: dict[str, list[Point3]]) -> Loaded:
        """Fill `tracks` (the vehicles' names, each an empty list) from the tracks file."""
        path = tracks_path(self.path)
        try:
            loaded: Any = json.loads(path.read_text(encoding='utf-8'))['tracks']
            for name, points in loaded.items():
                if name in tracks:
                    tracks[name] = [(float(x), float(y), float(z)) for x, y, z in points]
        except FileNotFoundError:
            return Loaded()
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            return Loaded(f'ignoring unreadable tracks file {path}: {exc}', 'warning')
        return Loaded()
