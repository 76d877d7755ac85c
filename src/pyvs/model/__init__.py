"""Pure configuration model: services, real servers, enums and errors. No I/O."""

from pyvs.model.enums import DropReason, FlowState, FwdMethod, Protocol, Scheduler
from pyvs.model.errors import ConfigError, DataplaneError, LbError
from pyvs.model.service import RealServer, ServiceKey, VirtualService

__all__ = [
    "ConfigError",
    "DataplaneError",
    "DropReason",
    "FlowState",
    "FwdMethod",
    "LbError",
    "Protocol",
    "RealServer",
    "Scheduler",
    "ServiceKey",
    "VirtualService",
]
