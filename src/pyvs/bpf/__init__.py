"""The BPF C sources (package data) and their build."""
