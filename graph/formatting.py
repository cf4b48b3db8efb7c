"""How counts are written for people: the CLI's table, the inspector, the status bar, the
template guides, export reports and download progress all use these, so a number reads the
same everywhere."""
from __future__ import annotations


def format_count(n: int) -> str:
    """A count with thousands separators: 1,234,567."""
    return f"{n:,}"


def format_macs(n: int) -> str:
    """A compact multiply-accumulate count: 950, 73.7K, 1.2M, 3.4G."""
    value, suffix = float(n), ""
    for unit in ("K", "M", "G", "T"):
        if abs(value) < 999.5:  # would still print as at most "999"
            break
        value, suffix = value / 1000, unit
    if not suffix:
        return str(n)
    text = f"{value:.1f}" if abs(value) < 99.95 else f"{value:.0f}"
    return text.removesuffix(".0") + suffix


def format_bytes(n: int) -> str:
    """A file size: 12 B, 640.0 kB, 9.9 MB."""
    for unit, size in (("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"
