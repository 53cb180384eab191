"""Backend selection: which implementation of the kernel CONTRACT the ops call.

Three backends implement the same kernel names (see ``tinymm/kernels/__init__.py``):

* ``reference``: plain NumPy, the executable specification;
* ``numba``: ``@njit`` CPU kernels in ``kernels/numba_cpu``; a name it does not implement
  falls back to the reference (listed in ``Backend.fallbacks`` and by ``tinymm info``);
* ``cuda``: numba-cuda kernels in ``kernels/numba_cuda``; a GPU backend never falls back to
  the host silently, so a missing name raises ``NotImplementedError``.

Which backend an op uses, in order of precedence:

* the calling thread's selection: ``with tinymm.use_backend("reference"): ...`` selects a
  backend for the code inside the block in this thread only (a ``contextvars`` variable, so
  other threads and asyncio tasks keep theirs) and restores the previous one on exit; a
  plain call ``tinymm.use_backend("numba")`` selects it for the rest of this thread's run;
* the process default, for every thread that has selected none: set by
  ``tinymm.set_default_backend(name)`` or the ``TINYMM_BACKEND`` environment variable, else
  ``numba`` when Numba imports, else ``reference``.

A new ``threading.Thread`` starts with no selection of its own (it sees the process default,
not its creator's ``use_backend``), as Python's threads start with an empty context.
"""

from __future__ import annotations

import contextvars
import importlib
import os
import pkgutil
import threading
from types import ModuleType

from tinymm.kernels import CONTRACT

BACKEND_NAMES = ("reference", "numba", "cuda")
_PACKAGES = {
    "reference": "tinymm.kernels.reference",
    "numba": "tinymm.kernels.numba_cpu",
    "cuda": "tinymm.kernels.numba_cuda",
}


class _KernelTable(dict):
    """A backend's ``kernels`` dict that mirrors every entry into the backend's instance
    attributes, so ``backend.add_forward`` is a plain attribute read (no ``__getattr__``
    call per op) and stays right when code swaps entries (``kernels[name] = fn``, ``clear``,
    ``update``, monkeypatch's ``setitem``)."""

    def __init__(self, owner: Backend, kernels: dict):
        super().__init__(kernels)
        self._owner = owner
        self._sync()

    def _sync(self) -> None:
        owner = self.__dict__.get("_owner")
        if owner is None:  # a copy being rebuilt entry by entry (copy, pickle)
            return
        attrs = owner.__dict__
        for name in [n for n in attrs if n in CONTRACT and n not in self]:
            del attrs[name]
        attrs.update((n, f) for n, f in self.items() if n in CONTRACT)

    def __setitem__(self, name, fn) -> None:
        super().__setitem__(name, fn)
        self._sync()

    def __delitem__(self, name) -> None:
        super().__delitem__(name)
        self._sync()

    def _synced(method):  # noqa: N805 - wraps the dict methods below
        def call(self, *args, **kwargs):
            result = method(self, *args, **kwargs)
            self._sync()
            return result

        return call

    clear, update, pop = _synced(dict.clear), _synced(dict.update), _synced(dict.pop)
    popitem, setdefault = _synced(dict.popitem), _synced(dict.setdefault)
    __ior__ = _synced(dict.__ior__)


class Backend:
    """A table of kernels: ``backend.linear_forward(x, w, b)`` calls this backend's version."""

    def __init__(self, name: str, kernels: dict, fallbacks: tuple[str, ...], device: str):
        self.name = name
        self.kernels = kernels  # kernel name -> function (also read as attributes)
        self.fallbacks = fallbacks  # names served by the reference backend instead
        self.device = device  # "cpu" or "cuda": where its arrays live

    def __setattr__(self, name: str, value) -> None:
        if name == "kernels":  # a new table: mirror it (a _KernelTable keeps it mirrored)
            value = _KernelTable(self, value)
        super().__setattr__(name, value)

    def __getattr__(self, name: str):
        # Only called when normal lookup fails: names no kernel entry serves.
        kernels = self.__dict__.get("kernels", {})
        if name in kernels:
            return kernels[name]
        if name in CONTRACT:
            raise NotImplementedError(
                f"backend '{self.name}' has no kernel '{name}' and a {self.device} backend "
                f"does not fall back to the host; use tinymm.use_backend('numba') for this op"
            )
        raise AttributeError(f"'{name}' is not a kernel in the CONTRACT (tinymm/kernels)")

    def __repr__(self) -> str:
        return (f"Backend({self.name!r}, {len(self.kernels)} kernels, "
                f"{len(self.fallbacks)} fallbacks)")


def _collect(package_name: str) -> dict:
    """Import every stem module of a backend package and collect its CONTRACT functions."""
    package = importlib.import_module(package_name)
    found: dict = {}
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("_"):
            continue
        module: ModuleType = importlib.import_module(f"{package_name}.{info.name}")
        for name in CONTRACT:
            fn = getattr(module, name, None)
            if fn is not None and getattr(fn, "__module__", None) == module.__name__:
                found[name] = fn
    return found


def coverage() -> dict[str, tuple[int, int] | None]:
    """Each backend's native kernels: name -> (implemented, CONTRACT size), or None when its
    package cannot be imported here (numba-cuda not installed). Needs no GPU: the cuda
    modules import without one; only launching a kernel does not."""
    result: dict[str, tuple[int, int] | None] = {}
    for name in BACKEND_NAMES:
        try:
            result[name] = (len(_collect(_PACKAGES[name])), len(CONTRACT))
        except ImportError:
            result[name] = None
    return result


def _probe(name: str) -> str | None:
    """Why backend ``name`` cannot be used here, or None when it can."""
    if name == "reference":
        return None
    if name == "numba":
        try:
            import numba  # noqa: F401
        except ImportError as exc:  # pragma: no cover - numba is a dependency
            return f"numba does not import ({exc})"
        return None
    if name == "cuda":
        try:
            from numba import cuda
        except ImportError:
            return "numba-cuda is not installed (pip install 'tinymm[cuda]')"
        if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
            return None
        try:
            if cuda.is_available():
                return None
        except Exception as exc:  # driver errors surface here
            return f"CUDA driver error: {exc}"
        return "no CUDA GPU found (set NUMBA_ENABLE_CUDASIM=1 to use the simulator)"
    return f"unknown backend '{name}'; valid names: {', '.join(BACKEND_NAMES)}"


_LOADED: dict[str, Backend] = {}
_LOADING = threading.RLock()  # two threads asking for one backend first load it once


def get_backend(name: str) -> Backend:
    """Load (once) and return the backend called ``name``."""
    if name not in BACKEND_NAMES:
        raise ValueError(f"unknown backend '{name}'; valid names: {', '.join(BACKEND_NAMES)}")
    if name in _LOADED:
        return _LOADED[name]
    with _LOADING:
        if name in _LOADED:
            return _LOADED[name]
        return _load(name)


def _load(name: str) -> Backend:
    reason = _probe(name)
    if reason is not None:
        raise RuntimeError(f"backend '{name}' is not available: {reason}")
    kernels = _collect(_PACKAGES[name])
    fallbacks: tuple[str, ...] = ()
    if name == "numba":
        reference = get_backend("reference")
        fallbacks = tuple(n for n in CONTRACT if n not in kernels)
        for n in fallbacks:
            kernels[n] = reference.kernels[n]
    backend = Backend(name, kernels, fallbacks, device="cuda" if name == "cuda" else "cpu")
    _LOADED[name] = backend
    return backend


def backends() -> dict[str, str | None]:
    """Every backend name mapped to None when usable, else the reason it is not."""
    return {name: _probe(name) for name in BACKEND_NAMES}


def _default_name() -> str:
    env = os.environ.get("TINYMM_BACKEND")
    if env:
        if env not in BACKEND_NAMES:
            raise ValueError(
                f"TINYMM_BACKEND={env!r} is not a backend; valid names: {', '.join(BACKEND_NAMES)}"
            )
        return env
    return "numba" if _probe("numba") is None else "reference"


_default: Backend | None = None  # the process default, loaded on first use
_selected: contextvars.ContextVar[Backend | None] = contextvars.ContextVar(
    "tinymm_backend", default=None)  # this thread's (context's) selection, if any


def current_backend() -> Backend:
    """The backend new ops in this thread use: its own selection, else the process default."""
    selected = _selected.get()
    if selected is not None:
        return selected
    global _default
    if _default is None:
        with _LOADING:
            if _default is None:
                _default = get_backend(_default_name())
    return _default


def set_default_backend(name: str) -> Backend:
    """Make ``name`` the process default: the backend of every thread that has not selected
    one with ``use_backend``. Returns it."""
    global _default
    backend = get_backend(name)
    _default = backend
    return backend


class use_backend:
    """Select a backend for the calling thread: ``use_backend("numba")`` or
    ``with use_backend("reference"): ...``.

    As a plain call the choice stays in force in this thread; as a context manager the
    thread's previous selection is restored when the block exits. Other threads are never
    affected (see ``set_default_backend`` for a process-wide choice).
    """

    def __init__(self, name: str):
        self.backend = get_backend(name)
        self._token = _selected.set(self.backend)

    def __enter__(self) -> Backend:
        return self.backend

    def __exit__(self, *exc) -> None:
        _selected.reset(self._token)
