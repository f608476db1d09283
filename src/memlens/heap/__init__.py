"""Heap profiling over the allocation shim's in-band records."""
