"""The exception hierarchy of uav_flood's core and tools."""


class UavFloodError(Exception):
    """Base class of every error uav_flood raises on purpose."""


class ConfigError(UavFloodError):
    """A configuration file or parameter is missing, malformed or inconsistent.

    :param message: what is wrong, in words a user can act on.
    :param source: where the bad value came from (a file path, a parameter name), if known.
    """

    def __init__(self, message: str, source: str | None = None) -> None:
        self.source = source
        super().__init__(f'{source}: {message}' if source else message)
