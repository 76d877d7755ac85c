"""How pyvsadm reports errors: one message on stderr and ipvsadm's exit status.

ipvsadm leaves in three ways, and pyvsadm copies each:

- `fail(2, ...)` for bad input (wrong option, bad address, illegal weight):
  the bare message, exit status 2.
- a return of -1 from main(), exit status 255, when popt rejects the command
  line ("-j: unknown option", "Try `ipvsadm -h' ...") or when the kernel
  refuses an edit ("Service already exists", "No such destination", ...).
- `exit(1)` when listing one service that does not exist.

ipvsadm's own messages carry no program name. Messages about features that
pyvs lacks (NotSupported) are pyvs's own and start with the program name, so a
reader can tell the two apart.
"""

from __future__ import annotations

from pyvs.model.errors import (
    ConfigError,
    DataplaneError,
    LbError,
    NoSuchReal,
    NoSuchService,
    RealExists,
    ServiceExists,
)

EXIT_USAGE = 2  # ipvsadm's fail(2, ...)
EXIT_REFUSED = 255  # ipvsadm's main() returning -1
EXIT_LIST = 1  # ipvsadm's exit(1) in list_service()
EXIT_DATAPLANE = 1  # the data plane failed (no ipvsadm equivalent)

# ipvs_strerror()'s wording for the errors the kernel returns to ipvsadm.
SERVICE_NOT_DEFINED = "Service not defined"
SCHEDULER_NOT_FOUND = "Scheduler or persistence engine not found"
INVALID_OPERATION = "Invalid operation.  Possibly wrong module version, address not unicast, ..."

# The model's errors that stand for a kernel refusal in ipvsadm.
KERNEL_REFUSALS = (ServiceExists, NoSuchService, RealExists, NoSuchReal)


class CliError(ConfigError):
    """An error with ipvsadm's wording and the exit status ipvsadm uses for it."""

    def __init__(self, message: str, status: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.status = status


class NotSupported(CliError):
    """A feature ipvsadm has and pyvs does not have yet (exit status 2)."""

    def __init__(self, what: str) -> None:
        super().__init__(what, EXIT_USAGE)


def refused(message: str) -> CliError:
    """An error the kernel would have returned to ipvsadm (exit status 255)."""
    return CliError(message, EXIT_REFUSED)


def exit_status(error: LbError) -> int:
    """The exit status ipvsadm uses for `error`."""
    if isinstance(error, CliError):
        return error.status
    if isinstance(error, KERNEL_REFUSALS):
        return EXIT_REFUSED
    if isinstance(error, DataplaneError):
        return EXIT_DATAPLANE
    return EXIT_USAGE


def message(error: LbError, program: str) -> str:
    """The line pyvsadm prints on stderr for `error`."""
    if isinstance(error, NotSupported):
        return f"{program}: {error}"
    return str(error)
