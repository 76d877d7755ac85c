"""Data planes: the only package that talks to the kernel's BPF interfaces."""
