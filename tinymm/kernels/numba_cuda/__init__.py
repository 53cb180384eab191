"""The cuda backend: numba-cuda kernels with the reference's names (imported lazily).

Each module holds ``@cuda.jit`` kernels and the host wrappers that launch them; the launch
configuration (threads per block, grid size) lives in the wrapper. The kernels' plain Python
bodies are kept beside them (``PTX_TARGETS``) so tests can compile every kernel to PTX for a
real GPU architecture on a machine without one. A name missing here raises instead of
silently running on the host.

Wrappers accept host (NumPy) arrays or device arrays. Host inputs are copied to the GPU and
results copied back, because tinymm Tensors live on the host for now; device arrays stay on
the device, which is what a future "cuda" Tensor device will pass.
"""
