"""Fleets: many dumps analysed as independent tasks (on Dask) into one Parquet dataset.

:mod:`.inputs` finds and keys the inputs, :mod:`.tasks` analyses one input into
table rows (never raising: a bad file is an ``errors`` row), :mod:`.store`
writes each task's rows atomically under the output folder, :mod:`.runner`
schedules the tasks, and :mod:`.aggregate` reads the dataset back into the
fleet-wide answers (crash signatures, heap sites, growth).  docs/batch.md
describes the tables.
"""
