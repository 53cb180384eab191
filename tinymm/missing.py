"""What PyTorch has and tinymm does not: the messages behind ``tinymm.<name>``,
``tinymm.nn.<name>`` and ``tinymm.optim.<name>`` for names PyTorch users reach for.

Each package's module ``__getattr__`` calls ``attribute_error``: a name in its table gets an
``AttributeError`` that says tinymm lacks it and names the nearest equivalent or the way to
do it; any other name gets Python's plain ``AttributeError`` (with its "did you mean"
suggestion), since PyTorch does not have it either.
"""

from __future__ import annotations

_NO_PARALLEL = ("tinymm runs in one process; call the model directly (the Numba kernels use "
                "every core already)")

TOP = {
    "onnx": "tinymm has no ONNX exporter; save the weights with tinymm.save(model.state_dict(), "
            "path), a safetensors file that PyTorch, JAX and others read "
            "(safetensors.numpy.load_file), and rebuild the model there",
    "jit": "tinymm has no TorchScript (jit.script/trace); models are plain Python: call the "
           "Module, and save weights with tinymm.save(model.state_dict(), path)",
    "distributed": _NO_PARALLEL, "multiprocessing": _NO_PARALLEL,
    "fft": "tinymm has no FFT ops; use numpy.fft on tensor.detach().numpy() (no gradient)",
    "linalg": "tinymm has no torch.linalg; use numpy.linalg on tensor.detach().numpy() (no "
              "gradient), or matmul/einsum for differentiable products",
    "sparse": "tinymm tensors are dense; use dense tensors (nn.Embedding for sparse lookups)",
    "quantization": "tinymm has no quantization; models run in float32/float64",
    "ao": "tinymm has no quantization or pruning (torch.ao); models run in float32/float64",
    "hub": "tinymm has no model hub; build the model from tinymm.nn and load its weights with "
           "model.load_state_dict(...)",
    "func": "tinymm has no function transforms (torch.func); loop over the batch, or use "
            "tensor.backward() for gradients",
    "vmap": "tinymm has no vmap; loop over the batch or write the batched expression",
    "complex64": "tinymm tensors are bool, integer or float (float16/32/64); no complex dtype",
    "complex128": "tinymm tensors are bool, integer or float (float16/32/64); no complex dtype",
    "cfloat": "tinymm tensors are bool, integer or float (float16/32/64); no complex dtype",
    "bfloat16": "tinymm has no bfloat16; use tinymm.float16, float32 or float64",
    "set_default_device": "tinymm tensors live on 'cpu'; pass device= or call .to(device)",
    "stft": "tinymm has no spectral ops; use numpy (no gradient)",
    "svd": "no decompositions in tinymm; use numpy.linalg.svd on tensor.detach().numpy()",
    "inverse": "no matrix inverse in tinymm; use numpy.linalg.inv on tensor.detach().numpy()",
}

NN = {
    "DataParallel": _NO_PARALLEL, "DistributedDataParallel": _NO_PARALLEL,
    "parallel": _NO_PARALLEL,
    "Conv3d": "tinymm has Conv1d and Conv2d (and ConvTranspose2d), no 3-d convolution",
}

OPTIM = {
    "SparseAdam": "tinymm gradients are dense; use optim.Adam",
    "ASGD": "use optim.SGD",
    "Rprop": "use optim.RMSprop or optim.Adam",
    "swa_utils": "tinymm has no weight averaging helpers; average state_dicts by hand",
}


def attribute_error(module, name: str, table: dict[str, str]) -> AttributeError:
    """The error for ``module.name`` (``module`` is the package's module object)."""
    label = module.__name__
    if name in table:
        return AttributeError(f"module {label!r} has no attribute {name!r}: PyTorch has it, "
                              f"tinymm does not. {table[name]}", name=name, obj=module)
    return AttributeError(f"module {label!r} has no attribute {name!r}", name=name, obj=module)
