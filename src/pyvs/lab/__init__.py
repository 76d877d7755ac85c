"""Network-namespace labs: the seed experiment, the e2e tests' and the benchmarks' topologies.

Everything here runs as root and creates only uniquely named namespaces,
which it removes again; nothing is added to the caller's namespace.
"""

from pyvs.lab.commands import pyvs_argv, pyvsadm_argv

__all__ = ["pyvs_argv", "pyvsadm_argv"]
