"""A multirotor as a point mass under PX4-like position/velocity control (local NED, metres).

Not a flight-dynamics model: the vehicle's acceleration follows a velocity controller with PX4's
limits (horizontal acceleration, climb and descent rates, tilt), attitude is derived from the
commanded acceleration, and the air drags it quadratically. A constant wind is compensated by
the controller (as PX4's integrators do) until the tilt limit saturates; it tilts the vehicle,
costs battery, and pushes a vehicle whose motors are off.
"""

from __future__ import annotations

from dataclasses import dataclass
import math

GRAVITY = 9.80665
#: Quadratic drag (1/m): 12 m/s of airspeed needs about 15 degrees of tilt.
DRAG_COEFF = 0.018
#: Velocity loop gain (1/s): the velocity error decays with a time constant of 0.5 s.
VEL_GAIN = 2.0
#: Position loop gain (1/s), close to PX4's MPC_XY_P / MPC_Z_P.
POS_GAIN = 1.0


@dataclass
class Limits:
    """Kinematic limits of one control step.

    :param speed_xy: horizontal speed limit (m/s).
    :param speed_up: climb rate limit (m/s).
    :param speed_down: descent rate limit (m/s).
    :param acc_xy: horizontal acceleration limit (m/s^2).
    :param acc_up: upward acceleration limit (m/s^2).
    :param acc_down: downward acceleration limit (m/s^2).
    :param tilt_max_rad: largest tilt the controller may command (rad).
    :param yaw_rate_max: yaw rate limit (rad/s).
    :param pos_gain: position loop gain (1/s): the speed toward a position target is at most
        this times the distance, so the vehicle creeps in over the last metres as PX4 does.
    :param jerk: jerk limit of the braking toward a horizontal position target (m/s^3), 0 for
        none: PX4's computeMaxSpeedFromDistance brakes earlier under MPC_JERK_AUTO.
    """

    speed_xy: float = 5.0
    speed_up: float = 3.0
    speed_down: float = 1.5
    acc_xy: float = 3.0
    acc_up: float = 4.0
    acc_down: float = 3.0
    tilt_max_rad: float = math.radians(45.0)
    yaw_rate_max: float = math.radians(60.0)
    pos_gain: float = POS_GAIN
    jerk: float = 0.0


@dataclass
class Setpoint:
    """What the controller tracks in one step (local NED).

    :param position: target position (m); None components are not controlled by position.
    :param velocity: velocity target, or feed-forward when a position is given (m/s).
    :param yaw: heading target (rad from north), None to keep the heading.
    :param yaw_rate: yaw rate target (rad/s) when `yaw` is None.
    :param hold_xy: without a horizontal position or velocity, brake to zero ground speed (True)
        or keep the attitude level and drift with the air (False, as PX4's Descend mode).
    :param speed_at_target: horizontal speed the vehicle may still have when it reaches the
        position target (m/s): PX4 flies through a mission waypoint at the corner speed.
    """

    position: tuple[float | None, float | None, float | None] = (None, None, None)
    velocity: tuple[float | None, float | None, float | None] = (None, None, None)
    yaw: float | None = None
    yaw_rate: float | None = None
    hold_xy: bool = True
    speed_at_target: float = 0.0


class Multirotor:
    """The vehicle's kinematic state and its one-step integrator.

    :param north_m: initial position north of the local origin (m).
    :param east_m: initial position east of the local origin (m).
    """

    def __init__(self, north_m: float = 0.0, east_m: float = 0.0) -> None:
        self.n = north_m
        self.e = east_m
        self.d = 0.0
        self.vn = 0.0
        self.ve = 0.0
        self.vd = 0.0
        self.yaw = 0.0
        self.yaw_rate = 0.0
        self.roll = 0.0
        self.pitch = 0.0
        #: Thrust over weight, for the battery model (1 in hover).
        self.thrust_ratio = 0.0
        self.on_ground = True

    @property
    def ground_speed(self) -> float:
        """Return the horizontal speed over ground (m/s)."""
        return math.hypot(self.vn, self.ve)

    def step(
        self,
        dt: float,
        setpoint: Setpoint | None,
        limits: Limits,
        wind_ne: tuple[float, float] = (0.0, 0.0),
    ) -> None:
        """Advance the state by `dt` simulated seconds.

        :param dt: time step (s).
        :param setpoint: what to track, or None when the motors produce no thrust (disarmed,
            spooling up or killed): on the ground it stays put, in the air it falls.
        :param limits: kinematic limits.
        :param wind_ne: wind velocity (north, east) (m/s).
        """
        air_n = self.vn - wind_ne[0]
        air_e = self.ve - wind_ne[1]
        air = math.hypot(air_n, air_e)
        drag_n = -DRAG_COEFF * air * air_n
        drag_e = -DRAG_COEFF * air * air_e
        if setpoint is None:
            self._coast(dt, drag_n, drag_e)
            return
        vn_des, ve_des, free_xy = self._desired_xy(setpoint, limits)
        vd_des = self._desired_down(setpoint, limits)
        # Velocity loop, limited in acceleration; the drag is compensated on top.
        an = VEL_GAIN * (vn_des - self.vn)
        ae = VEL_GAIN * (ve_des - self.ve)
        norm = math.hypot(an, ae)
        if norm > limits.acc_xy > 0.0:
            an *= limits.acc_xy / norm
            ae *= limits.acc_xy / norm
        if free_xy:
            an = ae = 0.0
            thrust_n = thrust_e = 0.0
        else:
            thrust_n = an - drag_n
            thrust_e = ae - drag_e
        ad = VEL_GAIN * (vd_des - self.vd)
        ad = min(max(ad, -limits.acc_up), limits.acc_down)
        lift = GRAVITY - ad  # upward specific force the rotors must produce
        max_h = max(lift, 0.1) * math.tan(limits.tilt_max_rad)
        thrust_h = math.hypot(thrust_n, thrust_e)
        if thrust_h > max_h:
            thrust_n *= max_h / thrust_h
            thrust_e *= max_h / thrust_h
        an_real = thrust_n + drag_n
        ae_real = thrust_e + drag_e
        if self.on_ground and ad >= 0.0:
            # Resting on the ground: the ground takes the weight, nothing moves; the motors run
            # (PX4's takeoff ramp brings the thrust up to about hover before liftoff).
            self.vn = self.ve = self.vd = 0.0
            self.thrust_ratio = 1.0
            self.roll = self.pitch = 0.0
            self._yaw_step(dt, setpoint, limits)
            return
        self.vn += an_real * dt
        self.ve += ae_real * dt
        self.vd += ad * dt
        self.n += self.vn * dt
        self.e += self.ve * dt
        self.d += self.vd * dt
        self.on_ground = False
        self._ground_contact()
        self._yaw_step(dt, setpoint, limits)
        self._attitude(thrust_n, thrust_e, lift)

    def _desired_xy(self, sp: Setpoint, lim: Limits) -> tuple[float, float, bool]:
        pn, pe, _ = sp.position
        fvn, fve, _ = sp.velocity
        if pn is not None and pe is not None:
            err_n = pn - self.n
            err_e = pe - self.e
            dist = math.hypot(err_n, err_e)
            vn = fvn or 0.0
            ve = fve or 0.0
            if dist > 1e-6:
                # Arrive without overshoot: the speed a constant deceleration can still bring
                # down to the speed wanted at the target.
                end = min(sp.speed_at_target, lim.speed_xy)
                speed = min(
                    lim.speed_xy,
                    _braking_speed(lim.acc_xy, lim.jerk, dist, end),
                    max(end, lim.pos_gain * dist),
                )
                vn += err_n / dist * speed
                ve += err_e / dist * speed
            return _clamp_norm(vn, ve, max(lim.speed_xy, math.hypot(fvn or 0.0, fve or 0.0)))
        if fvn is not None or fve is not None:
            return _clamp_norm(fvn or 0.0, fve or 0.0, lim.speed_xy)
        if sp.hold_xy:
            return 0.0, 0.0, False
        return self.vn, self.ve, True

    def _desired_down(self, sp: Setpoint, lim: Limits) -> float:
        pd = sp.position[2]
        fvd = sp.velocity[2]
        if pd is not None:
            err = pd - self.d
            speed = min(math.sqrt(2.0 * lim.acc_down * abs(err)), lim.pos_gain * abs(err))
            vd = (fvd or 0.0) + math.copysign(speed, err)
        elif fvd is not None:
            vd = fvd
        else:
            vd = 0.0
        return min(max(vd, -lim.speed_up), lim.speed_down)

    def _coast(self, dt: float, drag_n: float, drag_e: float) -> None:
        self.thrust_ratio = 0.0
        self.yaw_rate = 0.0
        if self.on_ground:
            self.vn = self.ve = self.vd = 0.0
            return
        self.vn += drag_n * dt
        self.ve += drag_e * dt
        self.vd += GRAVITY * dt
        self.n += self.vn * dt
        self.e += self.ve * dt
        self.d += self.vd * dt
        self._ground_contact()

    def _ground_contact(self) -> None:
        if self.d >= 0.0 and self.vd >= 0.0:
            self.d = 0.0
            self.vn = self.ve = self.vd = 0.0
            self.on_ground = True

    def _yaw_step(self, dt: float, sp: Setpoint, lim: Limits) -> None:
        if sp.yaw is not None:
            err = _wrap_pi(sp.yaw - self.yaw)
            rate = min(max(2.0 * err, -lim.yaw_rate_max), lim.yaw_rate_max)
        elif sp.yaw_rate is not None:
            rate = min(max(sp.yaw_rate, -lim.yaw_rate_max), lim.yaw_rate_max)
        else:
            rate = 0.0
        self.yaw_rate = rate
        self.yaw = _wrap_pi(self.yaw + rate * dt)

    def _attitude(self, thrust_n: float, thrust_e: float, lift: float) -> None:
        cos_y = math.cos(self.yaw)
        sin_y = math.sin(self.yaw)
        forward = cos_y * thrust_n + sin_y * thrust_e
        right = -sin_y * thrust_n + cos_y * thrust_e
        self.pitch = -math.atan2(forward, lift)
        self.roll = math.atan2(right, math.hypot(forward, lift))
        self.thrust_ratio = math.sqrt(thrust_n**2 + thrust_e**2 + lift**2) / GRAVITY


def _braking_speed(acc: float, jerk: float, dist: float, end: float) -> float:
    """Return the speed from which braking at `acc` (and `jerk`) ends at `end` after `dist`."""
    if jerk <= 0.0:
        return math.sqrt(end * end + 2.0 * acc * dist)
    # PX4 math::trajectory::computeMaxSpeedFromDistance: the jerk phase costs 4 a^2 / j.
    b = 4.0 * acc * acc / jerk
    return 0.5 * (-b + math.sqrt(b * b + 4.0 * (2.0 * acc * dist + end * end)))


def _clamp_norm(x: float, y: float, limit: float) -> tuple[float, float, bool]:
    norm = math.hypot(x, y)
    if norm > limit > 0.0:
        return x * limit / norm, y * limit / norm, False
    return x, y, False


def _wrap_pi(angle: float) -> float:
    return (angle + math.pi) % (2.0 * math.pi) - math.pi
