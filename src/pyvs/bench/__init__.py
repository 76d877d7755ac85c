"""`pyvs bench`: where pyvs stands, measured the same way every time.

Sections (each a module with `run(Options) -> list[Figure]`):
per-packet cost (prog_cost), packet rate (packet_rate), HTTP (http) and the
control plane (restore, maglev, weight_changes). Everything runs in network
namespaces the benchmark creates and removes; every figure is compared with
a baseline measured in the same run (pyvs.bench.runner).
"""
