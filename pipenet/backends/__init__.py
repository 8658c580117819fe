"""Backends: the kernel (netlink, namespaces), the firewall, files and processes, behind small interfaces."""
