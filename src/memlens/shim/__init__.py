"""The allocation shim (C): built into libmemlens_shim.so by the package build (setup.py)."""
