"""pyvs: an LVS-style layer-4 load balancer in tunnel mode, with an XDP data plane."""

__version__ = "0.1.0"
