"""Error classes: the caller's fault (ConfigError) versus the system's (DataplaneError)."""

from __future__ import annotations

import errno as errno_mod
import os


class LbError(Exception):
    """Base of every error pyvs raises on purpose."""


class ConfigError(LbError):
    """Bad input from the user; the message follows ipvsadm's wording where it has one."""


class DataplaneError(LbError):
    """The kernel refused an operation; carries the errno."""

    def __init__(self, errno: int, what: str) -> None:
        self.errno = abs(errno)
        super().__init__(f"{what}: {os.strerror(self.errno)}")

    @property
    def is_missing(self) -> bool:
        return self.errno == errno_mod.ENOENT


class ServiceExists(ConfigError):
    def __init__(self) -> None:
        super().__init__("Service already exists")


class NoSuchService(ConfigError):
    def __init__(self) -> None:
        super().__init__("No such service")


class RealExists(ConfigError):
    def __init__(self) -> None:
        super().__init__("Destination already exists")


class NoSuchReal(ConfigError):
    def __init__(self) -> None:
        super().__init__("No such destination")
