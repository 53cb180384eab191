"""Ops: one ``ArrayFunction`` per operation, forward and backward side by side.

Each module is named after its kernel stem (``ops/linear.py`` calls the ``linear_*`` kernels of
the active backend through ``ctx.backend``) and ends with the lowercase functional wrapper
that ``tinymm.functional`` (``tinymm.F``) re-exports. Ops validate their inputs: shapes,
dtypes and index ranges are checked here, before anything reaches a kernel.
"""
