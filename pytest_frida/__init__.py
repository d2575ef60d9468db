"""pytest-frida: broker capacity tests as pytest suites."""

__version__ = "0.1.0"
