"""The cuda backend: numba-cuda kernels with the reference's names (imported lazily).

Design decisions, shared by every module in this package:

* **Device arrays in, device arrays out.** A wrapper (``relu_forward``, ``matmul_forward``...)
  takes numba-cuda device arrays, allocates its outputs on the device and returns device
  arrays; caches hold device arrays too. No wrapper copies to or from the host, so a chain of
  ops on a "cuda" Tensor stays on the GPU. Handing a NumPy array to a wrapper is a TypeError
  naming the kernel and the argument (``_device.require_device``), because numba-cuda would
  otherwise copy it over and back on every launch without saying so.
* **Counted transfers.** ``_device.to_device`` and ``_device.to_host`` are the only
  host<->device copies in tinymm; each is counted (calls and bytes per direction,
  ``_device.transfer_stats()``), so tests can assert that training moves only the input batch
  in and the scalar loss out. Device allocation (``_device.empty/zeros/full``) is not a
  transfer. The layers above reach these two through ``device.py`` (public, importing
  numba-cuda only when called): Tensor, autograd, optim and ``tinymm.cuda``. Small scalars a
  wrapper needs (a learning rate, a clamp bound) are passed as
  kernel arguments, never as device arrays copied from the host.
* **Contiguity.** Wrappers require C-contiguous device arrays (strided views are a
  ValueError): kernels index flat or row-major views, and the shape kernels (permute,
  getitem, concat/split) return contiguous copies, so a cuda Tensor's storage is always
  contiguous.
* **Launch configuration lives in the host wrapper**; every kernel guards its thread index
  against the array bounds, because grids are rounded up to whole blocks and tiles overhang
  the matrix edges for sizes that are not tile multiples.
* **Checkable without a GPU.** Each module lists its kernels' plain Python bodies with their
  type signatures in ``PTX_TARGETS``; ``tests/test_cuda_kernels.py`` compiles every one to PTX
  for sm_80 and sm_90 with NVRTC and runs every wrapper under ``NUMBA_ENABLE_CUDASIM=1``
  against the reference. The simulator has no warp-level primitives (shuffles, votes), so
  reductions here use shared memory, which the simulator runs and the GPU runs too.
* **No host fallback.** A CONTRACT name missing here raises ``NotImplementedError`` from the
  backend table instead of silently running on the host.
* Integer inputs (embedding indices, cross-entropy targets) are int64 device arrays.
"""
