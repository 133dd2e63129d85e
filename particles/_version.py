"""The package version (read by the facade, the run-file layout and the CLI)."""
__version__ = "0.3.0"
