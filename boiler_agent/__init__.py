"""boiler-agent: the node agent of a digital heater whose heat comes from computation."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("boiler-agent")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
