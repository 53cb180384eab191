"""The reference backend: plain NumPy, one module per stem, each docstring a derivation.

This backend is the executable specification of the CONTRACT (``tinymm/kernels``): clarity
beats speed here, and every other backend is tested against it.
"""
