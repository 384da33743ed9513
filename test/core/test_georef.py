"""core.georef: pixel <-> ground projection and mask -> grid patch (no rclpy)."""

from collections.abc import Callable
import math

import cv2
import numpy as np
import pytest
import shapely

from uav_flood.core.georef import (
    CameraModel,
    CameraMount,
    footprint_outline,
    GeoreferenceError,
    GridPatch,
    GridSpec,
    ground_to_pixel,
    mask_to_patch,
    matrix_from_quaternion,
    pixel_rays,
    project_to_ground,
    quaternion_from_matrix,
    VehiclePose,
)

ALT = 100.0
PINHOLE = CameraModel.from_fov(320, 240, 60.0)
# A realistic barrel lens: radial and tangential terms, principal point off centre.
DISTORTED = CameraModel.from_camera_info_fields(
    320,
    240,
    [280.0, 0.0, 163.0, 0.0, 281.0, 118.0, 0.0, 0.0, 1.0],
    [-0.25, 0.07, 0.001, -0.0015, -0.01],
    'plumb_bob',
)
RATIONAL = CameraModel.from_camera_info_fields(
    320,
    240,
    [280.0, 0.0, 159.5, 0.0, 280.0, 119.5, 0.0, 0.0, 1.0],
    [-0.2, 0.05, 0.0, 0.0, 0.0, 0.01, 0.0, 0.0],
    'rational_polynomial',
)
NADIR = CameraMount()

CASES = {
    'nadir': (PINHOLE, NADIR, VehiclePose.from_euler((0.0, 0.0, ALT))),
    'yawed': (PINHOLE, NADIR, VehiclePose.from_euler((35.0, -12.0, ALT), yaw_deg=127.0)),
    'rolled_pitched': (
        PINHOLE,
        NADIR,
        VehiclePose.from_euler((-20.0, 8.0, ALT), roll_deg=15.0, pitch_deg=-12.0, yaw_deg=-40.0),
    ),
    'pitched_mount': (
        PINHOLE,
        CameraMount(pitch_deg=-60.0, yaw_deg=10.0, roll_deg=5.0, offset_flu_m=(0.2, 0.0, -0.1)),
        VehiclePose.from_euler((3.0, 4.0, ALT), roll_deg=-10.0, pitch_deg=10.0, yaw_deg=200.0),
    ),
    'distorted_nadir': (DISTORTED, NADIR, VehiclePose.from_euler((0.0, 0.0, ALT), yaw_deg=90.0)),
    'distorted_pitched': (
        DISTORTED,
        CameraMount(pitch_deg=-60.0),
        VehiclePose.from_euler((0.0, 0.0, ALT), roll_deg=12.0, pitch_deg=-15.0, yaw_deg=60.0),
    ),
    'rational_rolled': (
        RATIONAL,
        NADIR,
        VehiclePose.from_euler((5.0, 5.0, ALT), roll_deg=-18.0, pitch_deg=14.0),
    ),
}


def _principal_hit(camera: CameraModel, mount: CameraMount, pose: VehiclePose) -> np.ndarray:
    centre = camera.project_normalized([0.0, 0.0])
    return project_to_ground(camera, mount, pose, centre)[0]


@pytest.mark.parametrize('case', sorted(CASES))
def test_round_trip_ground_pixel_ground(case: str) -> None:
    camera, mount, pose = CASES[case]
    rng = np.random.default_rng(7)
    look = _principal_hit(camera, mount, pose)
    truth = look + rng.uniform(-150.0, 150.0, size=(4000, 2))
    uv = ground_to_pixel(camera, mount, pose, truth)
    inside = camera.contains(uv)
    assert inside.sum() >= 200, 'too few random ground points fell in the image'
    back = project_to_ground(camera, mount, pose, uv[inside])
    error = np.hypot(*(back - truth[inside]).T)
    assert np.all(error < 0.5), f'worst error {error.max():.3f} m'
    assert error.max() < 0.01  # the geometry is exact; 0.5 m is the bar
    # and the other way: pixel -> ground -> pixel
    again = ground_to_pixel(camera, mount, pose, back)
    assert np.allclose(again, uv[inside], atol=1e-3)


@pytest.mark.parametrize('camera', [DISTORTED, RATIONAL], ids=['plumb_bob', 'rational'])
def test_distortion_matches_opencv(camera: CameraModel) -> None:
    rng = np.random.default_rng(3)
    norm = rng.uniform(-0.7, 0.7, size=(500, 2))
    obj = np.concatenate([norm, np.ones((500, 1))], axis=1)
    expected, _ = cv2.projectPoints(obj, np.zeros(3), np.zeros(3), camera.k, camera.d)
    assert np.allclose(camera.project_normalized(norm), expected.reshape(-1, 2), atol=1e-9)
    assert np.allclose(camera.undistort_pixels(expected.reshape(-1, 2)), norm, atol=1e-9)


def test_rays_are_unit_and_principal_ray_is_the_optical_axis() -> None:
    pose = VehiclePose.from_euler((0.0, 0.0, ALT), yaw_deg=30.0)
    rays = pixel_rays(PINHOLE, CameraMount(pitch_deg=-45.0), pose, [[159.5, 119.5], [0, 0]])
    assert np.allclose(np.linalg.norm(rays, axis=1), 1.0)
    s = math.sqrt(0.5)
    expected = (s * math.cos(math.radians(30.0)), s * math.sin(math.radians(30.0)), -s)
    assert rays[0] == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(
    'attitude,mount,expected',
    [
        # nadir, level, facing east: straight below
        ({}, NADIR, (0.0, 0.0)),
        # right side down 15 deg: the belly, so a nadir camera, turns left = north facing east
        ({'roll_deg': 15.0}, NADIR, (0.0, ALT * math.tan(math.radians(15.0)))),
        # nose down 10 deg: a nadir camera tilts backwards = west
        ({'pitch_deg': 10.0}, NADIR, (-ALT * math.tan(math.radians(10.0)), 0.0)),
        # camera pitched -60: looks ahead; vehicle faces north
        ({'yaw_deg': 90.0}, CameraMount(pitch_deg=-60.0), (0.0, ALT / math.tan(math.radians(60)))),
        # camera yawed 90 deg to the left of a vehicle facing east: looks north
        ({}, CameraMount(pitch_deg=-45.0, yaw_deg=90.0), (0.0, ALT)),
    ],
)
def test_principal_ray_lands_where_geometry_says(
    attitude: dict[str, float], mount: CameraMount, expected: tuple[float, float]
) -> None:
    pose = VehiclePose.from_euler((0.0, 0.0, ALT), **attitude)
    assert _principal_hit(PINHOLE, mount, pose) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(
    'yaw_deg,ahead,right', [(0.0, (1, 0), (0, -1)), (90.0, (0, 1), (1, 0)), (180, (-1, 0), (0, 1))]
)
def test_image_top_is_ahead_and_image_right_is_right(
    yaw_deg: float, ahead: tuple[int, int], right: tuple[int, int]
) -> None:
    pose = VehiclePose.from_euler((10.0, 20.0, ALT), yaw_deg=yaw_deg)
    camera = CameraModel.from_fov(640, 480, 90.0)
    # with hfov 90 the image right edge is 100 m to the side and the top edge 75 m ahead
    top, right_edge = project_to_ground(camera, NADIR, pose, [[319.5, -0.5], [639.5, 239.5]])
    assert top == pytest.approx((10.0 + 75.0 * ahead[0], 20.0 + 75.0 * ahead[1]), abs=1e-6)
    assert right_edge == pytest.approx((10.0 + 100 * right[0], 20.0 + 100 * right[1]), abs=1e-6)


def _seen_extent(patch: GridPatch) -> tuple[float, float]:
    seen = patch.data != -1
    cols = np.flatnonzero(seen.any(axis=0))
    rows = np.flatnonzero(seen.any(axis=1))
    return (cols[-1] - cols[0] + 1) * patch.resolution_m, (
        rows[-1] - rows[0] + 1
    ) * patch.resolution_m


def test_nadir_footprint_size_matches_the_field_of_view() -> None:
    res = 0.5
    pose = VehiclePose.from_euler((0.3, -0.7, ALT), yaw_deg=90.0)  # facing north
    mask = np.zeros((PINHOLE.height, PINHOLE.width), np.uint8)
    patch = mask_to_patch(mask, PINHOLE, NADIR, pose, GridSpec(res))
    assert patch is not None
    across = 2.0 * ALT * math.tan(math.radians(30.0))  # image width spans east-west
    along = across * PINHOLE.height / PINHOLE.width
    extent_e, extent_n = _seen_extent(patch)
    assert extent_e == pytest.approx(across, abs=2 * res)
    assert extent_n == pytest.approx(along, abs=2 * res)
    seen = np.count_nonzero(patch.data != -1)
    assert seen * res**2 == pytest.approx(across * along, rel=0.02)
    assert set(np.unique(patch.data)) == {-1, 0} or set(np.unique(patch.data)) == {0}
    # the footprint is centred under the vehicle
    east, north = patch.cell_centres()
    seen_mask = patch.data != -1
    assert east[seen_mask].mean() == pytest.approx(0.3, abs=res)
    assert north[seen_mask].mean() == pytest.approx(-0.7, abs=res)


def _left_half_water(camera: CameraModel) -> np.ndarray:
    mask = np.zeros((camera.height, camera.width), np.uint8)
    mask[:, : camera.width // 2] = 255
    return mask


@pytest.mark.parametrize('camera', [PINHOLE, RATIONAL], ids=['pinhole', 'distorted'])
@pytest.mark.parametrize('yaw_deg', [0.0, 90.0, -135.0])
def test_left_half_water_lands_on_the_vehicles_left(camera: CameraModel, yaw_deg: float) -> None:
    position = (12.3, -7.9, ALT)
    pose = VehiclePose.from_euler(position, yaw_deg=yaw_deg)
    patch = mask_to_patch(_left_half_water(camera), camera, NADIR, pose, GridSpec(0.5))
    assert patch is not None
    east, north = patch.cell_centres()
    seen = patch.data != -1
    yaw = math.radians(yaw_deg)
    left = (-math.sin(yaw), math.cos(yaw))  # the vehicle's left in ENU
    truth_water = (east - position[0]) * left[0] + (north - position[1]) * left[1] > 0.0
    agreement = np.mean((patch.data[seen] == 100) == truth_water[seen])
    assert agreement >= 0.98
    assert 0.4 < np.mean(patch.data[seen] == 100) < 0.6


def test_every_seen_cell_round_trips_with_a_distorted_lens() -> None:
    camera, mount, pose = CASES['distorted_pitched']
    patch = mask_to_patch(_left_half_water(camera), camera, mount, pose, GridSpec(1.0))
    assert patch is not None
    east, north = patch.cell_centres()
    seen = patch.data != -1
    cells = np.stack([east[seen], north[seen]], axis=1)
    uv = ground_to_pixel(camera, mount, pose, cells)
    assert np.all(camera.contains(uv))
    back = project_to_ground(camera, mount, pose, uv)
    assert np.hypot(*(back - cells).T).max() < 0.5


def test_patches_from_two_poses_share_the_global_grid() -> None:
    res = 0.5
    mask = _left_half_water(PINHOLE)
    a = mask_to_patch(mask, PINHOLE, NADIR, VehiclePose.from_euler((0.1, 0.2, ALT)), GridSpec(res))
    b = mask_to_patch(
        mask, PINHOLE, NADIR, VehiclePose.from_euler((7.37, 3.11, ALT)), GridSpec(res)
    )
    assert a is not None and b is not None
    for patch in (a, b):
        for origin in (patch.origin_east, patch.origin_north):
            assert origin / res == pytest.approx(round(origin / res), abs=1e-9)
        east, _ = patch.cell_centres()
        assert np.allclose(east / res - 0.5, np.round(east / res - 0.5))
    # overlap in global indices: cells seen by both mostly agree (the water edge moved 3 m north)
    (ac, ar), (bc, br) = a.origin_index, b.origin_index
    c0, c1 = max(ac, bc), min(ac + a.width, bc + b.width)
    r0, r1 = max(ar, br), min(ar + a.height, br + b.height)
    assert c1 - c0 > 50 and r1 - r0 > 50
    sub_a = a.data[r0 - ar : r1 - ar, c0 - ac : c1 - ac]
    sub_b = b.data[r0 - br : r1 - br, c0 - bc : c1 - bc]
    both = (sub_a != -1) & (sub_b != -1)
    assert np.count_nonzero(both) > 1000
    _, north = a.cell_centres()
    north_overlap = north[r0 - ar : r1 - ar, c0 - ac : c1 - ac]
    # outside the 3 m band between the two water edges (north 0.2 and 3.11) they must agree
    outside_band = both & ((north_overlap < 0.2) | (north_overlap > 3.11))
    assert np.all(sub_a[outside_band] == sub_b[outside_band])


def test_camera_seeing_the_horizon_is_clipped_not_crashed() -> None:
    mount = CameraMount(pitch_deg=-10.0)
    pose = VehiclePose.from_euler((0.0, 0.0, ALT))
    f = PINHOLE.k[1, 1]
    rows = np.arange(PINHOLE.height, dtype=float)
    uv = np.stack([np.full_like(rows, 159.5), rows], axis=1)
    hits = project_to_ground(PINHOLE, mount, pose, uv, max_range_m=2000.0)
    # depression of each row's ray below the horizon (deg)
    depression = 10.0 + np.degrees(np.arctan((rows - PINHOLE.k[1, 2]) / f))
    assert np.all(np.isnan(hits[depression <= 0.0]))  # sky
    assert np.all(np.isnan(hits[(depression > 0) & (depression < 2.8)]))  # beyond 2 km
    assert np.all(np.isfinite(hits[depression > 2.9]))
    assert np.any(depression <= 0.0) and np.any(depression > 2.9)
    grid = GridSpec(4.0, max_range_m=2000.0)
    patch = mask_to_patch(_left_half_water(PINHOLE), PINHOLE, mount, pose, grid)
    assert patch is not None
    east, north = patch.cell_centres()
    seen = patch.data != -1
    slant = np.sqrt(east[seen] ** 2 + north[seen] ** 2 + ALT**2)
    assert slant.max() <= 2000.0
    assert slant.max() > 1900.0  # reaches out to the range limit
    assert east[seen].min() > 0.0  # everything seen is ahead (east)


def test_sky_only_and_underground_frames_give_no_patch() -> None:
    mask = _left_half_water(PINHOLE)
    up = CameraMount(pitch_deg=35.0)
    pose = VehiclePose.from_euler((0.0, 0.0, ALT))
    assert mask_to_patch(mask, PINHOLE, up, pose, GridSpec(1.0)) is None
    corners = [[0, 0], [319, 0], [0, 239], [319, 239]]
    assert np.all(np.isnan(project_to_ground(PINHOLE, up, pose, corners)))
    below = VehiclePose.from_euler((0.0, 0.0, -1.0))
    assert mask_to_patch(mask, PINHOLE, NADIR, below, GridSpec(1.0)) is None
    # all the ground it sees is beyond max range
    far = GridSpec(1.0, max_range_m=90.0)
    assert mask_to_patch(mask, PINHOLE, NADIR, pose, far) is None


def test_invalid_pixels_are_unseen() -> None:
    pose = VehiclePose.from_euler((0.0, 0.0, ALT))  # facing east
    valid = np.ones((PINHOLE.height, PINHOLE.width), bool)
    valid[: PINHOLE.height // 2] = False  # top half of the image = ahead = east
    mask = np.zeros(valid.shape, np.uint8)
    patch = mask_to_patch(mask, PINHOLE, NADIR, pose, GridSpec(0.5), valid=valid)
    assert patch is not None
    east, _ = patch.cell_centres()
    assert np.all(patch.data[east > 1.0] == -1)
    assert np.mean(patch.data[east < -1.0] == 0) > 0.7


@pytest.mark.parametrize(
    'build,message',
    [
        (lambda: CameraModel.from_camera_info_fields(320, 240, [0.0] * 9), 'fx, fy'),
        (lambda: CameraModel.from_camera_info_fields(320, 240, [1.0] * 8), '9 values'),
        (lambda: CameraModel.from_camera_info_fields(0, 240, np.eye(3)), 'positive'),
        (lambda: CameraModel(320, 240, np.eye(3), np.zeros(3)), '3 coefficients'),
        (lambda: CameraModel(320, 240, np.eye(3), np.zeros(4), 'equidistant'), 'not supported'),
        (lambda: CameraModel(320, 240, np.full((3, 3), np.nan)), 'not finite'),
        (lambda: CameraModel.from_fov(320, 240, 180.0), 'FOV'),
        (lambda: CameraModel(320, 240, DISTORTED.k, np.array([-2.0, 0, 0, 0, 0])), 'invert'),
        (lambda: VehiclePose((0.0, 0.0, 10.0), (0.0, 0.0, 0.0, 0.0)), 'quaternion is zero'),
        (lambda: VehiclePose((0.0, math.nan, 10.0)), 'position is not finite'),
        (lambda: VehiclePose((0.0, 10.0)), 'shape'),  # type: ignore[arg-type]
        (lambda: CameraMount(pitch_deg=math.inf), 'not finite'),
        (lambda: GridSpec(0.0), 'resolution_m'),
        (lambda: GridSpec(1.0, max_range_m=-1.0), 'max_range_m'),
    ],
)
def test_bad_inputs_raise_clear_errors(build: Callable[[], object], message: str) -> None:
    with pytest.raises(GeoreferenceError, match=message):
        build()


def test_bad_masks_and_oversized_patches_raise() -> None:
    pose = VehiclePose.from_euler((0.0, 0.0, ALT))
    with pytest.raises(GeoreferenceError, match=r'mask shape \(240, 321\)'):
        mask_to_patch(np.zeros((240, 321)), PINHOLE, NADIR, pose, GridSpec(1.0))
    with pytest.raises(GeoreferenceError, match='valid shape'):
        mask = np.zeros((240, 320))
        mask_to_patch(mask, PINHOLE, NADIR, pose, GridSpec(1.0), valid=np.ones((2, 2)))
    with pytest.raises(GeoreferenceError, match='max_cells'):
        mask_to_patch(np.zeros((240, 320)), PINHOLE, NADIR, pose, GridSpec(0.01, max_cells=1000))


def test_quaternion_is_normalised_and_matches_euler() -> None:
    pose = VehiclePose((0.0, 0.0, 1.0), (2.0, 0.0, 0.0, 2.0))  # 90 deg yaw, not unit length
    assert np.allclose(pose.map_from_body(), [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-12)
    euler = VehiclePose.from_euler((0.0, 0.0, 1.0), yaw_deg=90.0)
    assert euler.orientation_wxyz == pytest.approx(pose.orientation_wxyz)


@pytest.mark.parametrize('case', ['distorted_nadir', 'rational_rolled', 'pitched_mount'])
def test_seen_area_matches_the_projected_image_outline(case: str) -> None:
    camera, mount, pose = CASES[case]
    res = 0.5
    mask = np.zeros((camera.height, camera.width), np.uint8)
    patch = mask_to_patch(mask, camera, mount, pose, GridSpec(res))
    assert patch is not None
    # outline: the image border walked round, projected to the ground, area by the shoelace rule
    n = 400
    t = np.linspace(0.0, 1.0, n, endpoint=False)
    w, h = camera.width, camera.height
    border = np.concatenate(
        [
            np.stack([-0.5 + t * w, np.full(n, -0.5)], axis=1),
            np.stack([np.full(n, w - 0.5), -0.5 + t * h], axis=1),
            np.stack([w - 0.5 - t * w, np.full(n, h - 0.5)], axis=1),
            np.stack([np.full(n, -0.5), h - 0.5 - t * h], axis=1),
        ]
    )
    e, nn = project_to_ground(camera, mount, pose, border).T
    area = 0.5 * abs(np.dot(e, np.roll(nn, 1)) - np.dot(nn, np.roll(e, 1)))
    assert np.count_nonzero(patch.data != -1) * res**2 == pytest.approx(area, rel=0.01)


def test_a_probability_gives_percent_cells_and_the_view_weight_pulls_edges_to_50() -> None:
    pose = VehiclePose.from_euler((0.0, 0.0, ALT))
    prob = np.full((PINHOLE.height, PINHOLE.width), 0.9, np.float32)
    prob[0, 0] = np.nan  # a broken pixel says nothing
    plain = mask_to_patch(prob, PINHOLE, NADIR, pose, GridSpec(0.5))
    assert plain is not None
    seen = plain.data != -1
    assert set(np.unique(plain.data[seen]).tolist()) <= {50, 90}
    weighted = mask_to_patch(prob, PINHOLE, NADIR, pose, GridSpec(0.5), view_weight=True)
    assert weighted is not None
    east, north = weighted.cell_centres()
    values = weighted.data.astype(float)
    centre = seen & (np.hypot(east, north) < 1.0)
    rim = seen & (np.hypot(east, north) > 0.9 * np.hypot(east[seen], north[seen]).max())
    # Under the camera: all of the frame's 90 %; at the corners, slant and at the border,
    # about half its log-odds (cos 39 deg x 0.5 for a 60 x 45 degree pinhole) is left.
    assert values[centre].min() >= 89
    assert 60 < values[rim].mean() < 80
    assert values[seen].max() <= 90 and values[seen].min() >= 50


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q @ np.diag(np.sign(np.diag(r)))
    return q if np.linalg.det(q) > 0 else -q


def test_quaternion_from_matrix_inverts_matrix_from_quaternion() -> None:
    rng = np.random.default_rng(7)
    rotations = [_random_rotation(rng) for _ in range(200)]
    # Shepperd's four branches: near identity, and half turns about x, y and z.
    rotations += [np.eye(3), np.diag([1.0, -1.0, -1.0]), np.diag([-1.0, 1.0, -1.0])]
    rotations += [np.diag([-1.0, -1.0, 1.0]), NADIR.body_from_optical()]
    for rotation in rotations:
        q = quaternion_from_matrix(rotation)
        assert q[0] >= 0.0
        assert math.isclose(math.fsum(c * c for c in q), 1.0, abs_tol=1e-12)
        np.testing.assert_allclose(matrix_from_quaternion(q), rotation, atol=1e-12)


def test_nadir_mount_quaternion_is_the_known_one() -> None:
    # optical z (forward) = body -z (down), optical x (right) = body -y, optical y (down) = -x.
    q = np.array(NADIR.rotation_wxyz())
    np.testing.assert_allclose(q, [0.0, -math.sqrt(0.5), math.sqrt(0.5), 0.0], atol=1e-12)


@pytest.mark.parametrize(
    'mount',
    [
        NADIR,
        CameraMount(pitch_deg=-45.0, yaw_deg=30.0, roll_deg=10.0, offset_flu_m=(0.1, 0.0, -0.05)),
        CameraMount(pitch_deg=0.0, yaw_deg=-170.0, roll_deg=-20.0),
        CameraMount(pitch_deg=-90.0, yaw_deg=40.0, roll_deg=15.0),  # nadir, yaw and roll mix
        CameraMount(pitch_deg=90.0, yaw_deg=10.0),
        CameraMount(pitch_deg=-89.9999, yaw_deg=5.0, roll_deg=-3.0),
    ],
)
def test_mount_survives_the_transform_round_trip(mount: CameraMount) -> None:
    back = CameraMount.from_transform(mount.offset_flu_m, mount.rotation_wxyz())
    np.testing.assert_allclose(back.body_from_optical(), mount.body_from_optical(), atol=1e-9)
    assert back.offset_flu_m == mount.offset_flu_m
    assert math.isclose(back.pitch_deg, mount.pitch_deg, abs_tol=1e-6)


def test_mount_from_a_bad_transform_is_a_clear_error() -> None:
    with pytest.raises(GeoreferenceError, match='quaternion must not be zero'):
        CameraMount.from_transform((0.0, 0.0, 0.0), (0.0, 0.0, 0.0, 0.0))
    with pytest.raises(GeoreferenceError, match='quaternion'):
        CameraMount.from_transform((0.0, 0.0, 0.0), (math.nan, 0.0, 0.0, 1.0))


def test_nadir_footprint_outline_is_the_field_of_view_rectangle() -> None:
    pose = VehiclePose.from_euler((30.0, -20.0, ALT), yaw_deg=90.0)  # nose to the north
    outline = footprint_outline(PINHOLE, NADIR, pose, max_range_m=1000.0, samples_per_edge=4)
    assert outline.shape == (16, 2)
    half_w = ALT * math.tan(math.radians(30.0))
    half_h = half_w * PINHOLE.height / PINHOLE.width
    # Nose north: image right is east, image top is north.
    np.testing.assert_allclose(outline[:, 0].min(), 30.0 - half_w, rtol=1e-9)
    np.testing.assert_allclose(outline[:, 0].max(), 30.0 + half_w, rtol=1e-9)
    np.testing.assert_allclose(outline[:, 1].max(), -20.0 + half_h, rtol=1e-9)
    np.testing.assert_allclose(outline[0], [30.0 - half_w, -20.0 + half_h], rtol=1e-9)
    assert shapely.Polygon(outline).is_valid


def test_oblique_footprint_outline_ends_at_the_maximum_range() -> None:
    forward = CameraMount(pitch_deg=0.0)  # the horizon crosses the middle of the image
    pose = VehiclePose((0.0, 0.0, ALT))
    outline = footprint_outline(PINHOLE, forward, pose, max_range_m=300.0)
    assert np.all(np.isfinite(outline))
    reach = np.hypot(outline[:, 0], outline[:, 1])
    assert reach.max() == pytest.approx(math.sqrt(300.0**2 - ALT**2), rel=1e-9)
    assert shapely.Polygon(outline).is_valid
    underground = VehiclePose((0.0, 0.0, -1.0))
    assert footprint_outline(PINHOLE, NADIR, underground, 300.0).shape == (0, 2)
