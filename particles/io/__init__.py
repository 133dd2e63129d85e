"""Run files: HDF5 (H5MD layout) writer and lazy reader; no simulation code here."""
from .reader import NotARunError, Run, load
from .writer import H5Writer

__all__ = ["H5Writer", "NotARunError", "Run", "load"]
