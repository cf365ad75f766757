"""campaignctl: campaign-as-code for outbound sales and recruiting."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("campaignctl")   # one source of truth: pyproject.toml, via the installed metadata
except PackageNotFoundError:                # a source tree on sys.path that was never installed
    __version__ = "0+unknown"
