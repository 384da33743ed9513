"""The MAVLink side of flight control: PX4 modes, NED, MAVSDK/pymavlink stay in here."""
