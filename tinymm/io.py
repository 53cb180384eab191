"""Checkpoints: one safetensors file that carries its own manifest, written atomically.

The weight file follows the safetensors format (https://github.com/huggingface/safetensors),
written here from its specification, without the package:

    bytes 0..8        N, the header length: unsigned 64-bit little-endian integer
    bytes 8..8+N      a UTF-8 JSON object: for every tensor name
                      {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}
                      (offsets relative to the data section, end exclusive), plus an
                      optional "__metadata__": {str: str}; padded with spaces to a multiple
                      of 8 bytes
    bytes 8+N..       the data section: each tensor's raw bytes, C order, little-endian,
                      tensors back to back with no gaps, in offset order

so a file written here opens with ``safetensors.numpy.load_file`` and the other way round.
Reading is parsing: no pickle, nothing executes. Every offset and shape is checked against
the file's size before any byte is read as a tensor, so a truncated, corrupted or foreign
file gives a ``CheckpointError`` that names the file and says what is wrong.

A checkpoint ``<stem>`` is ``<stem>.safetensors``: the weights, optimizer state under
``optimizer/...`` names, and, in the header's ``__metadata__``, the manifest (format version,
tinymm version, model config, layer list, vocabulary, optimizer hyper-parameters, training
position) as a JSON string under ``tinymm_manifest`` and a SHA-256 under ``tinymm_sha256``
of the manifest text followed by the data section, so flipped bytes in either are caught.

Why one file: the weights and their manifest must change together. Two files each replaced
atomically are not a pair (a process killed between the two replacements leaves weights
from one save and a manifest from another); one file replaced atomically is. The file is
written to a temporary file in the same directory, flushed and fsynced, then moved into
place with ``os.replace`` (atomic on POSIX and Windows), so an interrupted save (SIGKILL,
Ctrl-C, a full disk) leaves the previous checkpoint whole.

``<stem>.json`` is a readable copy of the manifest for people and tools, written after the
weight file commits (also atomically). Loading never reads it when the weight file holds a
manifest; after a crash between the two writes it may lag one save behind. Checkpoints of
format version 1 (manifest only in ``<stem>.json``, with the SHA-256 of the whole weight
file) still load.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import struct
import tempfile
from pathlib import Path

import numpy as np

from tinymm._version import __version__

FORMAT = "tinymm-checkpoint"
FORMAT_VERSION = 2  # 2: manifest inside the weight file; 1: manifest only in <stem>.json
MANIFEST_KEY = "tinymm_manifest"  # __metadata__ keys of a version-2 weight file
DIGEST_KEY = "tinymm_sha256"
MAX_HEADER_BYTES = 100_000_000  # the safetensors package's own limit

# safetensors dtype codes <-> NumPy dtypes (always little-endian on disk)
_DTYPES = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"), "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"), "U32": np.dtype("<u4"), "U16": np.dtype("<u2"), "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
_CODES = {(dt.kind, dt.itemsize): code for code, dt in _DTYPES.items()}


_UMASK = os.umask(0o022)
os.umask(_UMASK)


class CheckpointError(ValueError):
    """A checkpoint file is missing, truncated, corrupted, foreign or does not fit the model."""


# ---------------------------------------------------------------- atomic writes
def atomic_write(path: str | os.PathLike, write) -> None:
    """Call ``write(file)`` on a temporary file next to ``path``, fsync, then rename it over
    ``path``. On any exception (KeyboardInterrupt included) the temporary file is removed
    and ``path`` is left as it was; an ``OSError`` (a full disk, a quota, a read-only
    directory) is raised again as an ``OSError`` with the same errno whose message names
    ``path`` and says that the previous file is unchanged."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual permissions
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(err, OSError) and not isinstance(err, FileNotFoundError):
            reason = err.strerror or str(err)
            if err.errno in (errno.ENOSPC, errno.EDQUOT):
                reason += " (the disk or quota is full: free space and save again)"
            raise OSError(err.errno, f"{path}: could not be written: {reason}; nothing was "
                                     f"replaced, the previous {path.name} (if any) is "
                                     "unchanged") from err
        raise
    try:  # make the rename itself durable (not possible on every platform)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


# ---------------------------------------------------------------- safetensors
def _tensor_table(tensors: dict[str, np.ndarray]) -> tuple[dict, list[np.ndarray]]:
    """name -> header entry, and the arrays as C-ordered little-endian copies (offset order)."""
    table: dict = {}
    arrays = []
    offset = 0
    for name, value in tensors.items():
        if not isinstance(name, str) or not name or name == "__metadata__":
            raise ValueError(f"save_safetensors: invalid tensor name {name!r}")
        if getattr(value, "is_cuda", False):  # a cuda Tensor (a state_dict's): to the host
            value = value.cpu()
        array = np.asarray(getattr(value, "array", value))  # a Tensor or an array
        code = _CODES.get((array.dtype.kind, array.dtype.itemsize))
        if code is None:
            raise TypeError(f"save_safetensors: tensor {name!r} has dtype {array.dtype}, which "
                            "safetensors cannot store")
        shape = array.shape  # ascontiguousarray makes a 0-d array 1-d: keep the real shape
        array = np.ascontiguousarray(array, dtype=_DTYPES[code]).reshape(shape)  # C, little-endian
        table[name] = {"dtype": code, "shape": list(array.shape),
                       "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
        arrays.append(array)
    return table, arrays


def _raw(array: np.ndarray):
    return memoryview(array.reshape(-1)).cast("B") if array.size else b""


def _header_bytes(table: dict, metadata: dict[str, str] | None) -> bytes:
    header: dict = {}
    if metadata:
        bad = {k: v for k, v in metadata.items() if not (isinstance(k, str) and
                                                        isinstance(v, str))}
        if bad:
            raise TypeError(f"save_safetensors: metadata must map str to str, got {bad}")
        header["__metadata__"] = dict(metadata)
    header.update(table)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # pad so the data section starts 8-byte aligned
    return struct.pack("<Q", len(text)) + text


def _write_safetensors(path, head: bytes, arrays: list[np.ndarray]) -> str:
    digest = hashlib.sha256()

    def write(f):
        f.write(head)
        digest.update(head)
        for array in arrays:
            data = _raw(array)
            f.write(data)
            digest.update(data)

    atomic_write(path, write)
    return digest.hexdigest()


def save_safetensors(path, tensors: dict[str, np.ndarray],
                     metadata: dict[str, str] | None = None) -> str:
    """Write ``tensors`` (name -> array) to ``path`` atomically; returns the file's SHA-256."""
    table, arrays = _tensor_table(tensors)
    return _write_safetensors(path, _header_bytes(table, metadata), arrays)


def _fail(path, what: str) -> CheckpointError:
    return CheckpointError(f"{path}: {what}")


def read_safetensors_header(path) -> tuple[dict, int, int]:
    """Parse and validate the header; returns (header, data_start, file_size)."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint file")
    with open(path, "rb") as f:
        return _read_header(f, path)


def _entry_span(path: Path, name: str, info, data_size: int) -> tuple[int, int, str]:
    """(begin, end, name) of one tensor's header entry, validated against the data size."""
    if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
        raise _fail(path, f"tensor {name!r}: the header entry must have exactly dtype, "
                          f"shape and data_offsets, got {info!r}")
    if info["dtype"] not in _DTYPES:
        raise _fail(path, f"tensor {name!r}: unknown dtype {info['dtype']!r}")
    shape, offsets = info["shape"], info["data_offsets"]
    if (not isinstance(shape, list) or not all(isinstance(s, int) and s >= 0 for s in shape)
            or not isinstance(offsets, list) or len(offsets) != 2
            or not all(isinstance(o, int) for o in offsets)):
        raise _fail(path, f"tensor {name!r}: malformed shape {shape!r} or data_offsets "
                          f"{offsets!r}")
    begin, end = offsets
    expected = int(np.prod(shape, dtype=np.int64)) * _DTYPES[info["dtype"]].itemsize
    if not 0 <= begin <= end or end - begin != expected:
        raise _fail(path, f"tensor {name!r}: data_offsets {offsets} hold {end - begin} "
                          f"bytes but dtype {info['dtype']} and shape {shape} need "
                          f"{expected}")
    if end > data_size:
        raise _fail(path, f"tensor {name!r} ends at byte {end} of the data section, but "
                          f"the file holds only {data_size} data bytes: the file is "
                          "truncated")
    return begin, end, name


def _check_spans(path: Path, spans: list, data_size: int) -> None:
    """The sorted spans tile the data section: contiguous, no holes, no overlaps (the spec)."""
    position = 0
    for begin, end, name in spans:
        if begin != position:
            raise _fail(path, f"tensor {name!r} starts at byte {begin} of the data section, "
                              f"expected {position} (overlapping or missing data): corrupted")
        position = end
    if position != data_size:
        raise _fail(path, f"the data section has {data_size} bytes but the tensors account for "
                          f"{position}: the file is corrupted or has trailing data")


def _read_header(f, path: Path) -> tuple[dict, int, int]:
    """The header of the open file ``f`` (positioned at 0), validated against its size."""
    size = os.fstat(f.fileno()).st_size
    first = f.read(8)
    if len(first) < 8:
        raise _fail(path, f"is {size} bytes long, too short for a safetensors file (the "
                          "8-byte header length is missing): truncated or not a checkpoint")
    (n,) = struct.unpack("<Q", first)
    if n > MAX_HEADER_BYTES:
        raise _fail(path, f"declares a {n}-byte header, more than the {MAX_HEADER_BYTES} "
                          "bytes safetensors allows: a bad header length, or not a "
                          "safetensors file")
    if 8 + n > size:
        raise _fail(path, f"declares a {n}-byte header but the file has {size} bytes: "
                          "truncated, or not a safetensors file")
    raw = f.read(n)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise _fail(path, f"the header is not valid JSON ({err}); the file is corrupted or "
                          "not a safetensors file") from None
    if not isinstance(header, dict):
        raise _fail(path, "the header is not a JSON object; not a safetensors file")
    data_start = 8 + n
    data_size = size - data_start
    if not isinstance(header.get("__metadata__", {}), dict):
        raise _fail(path, "__metadata__ must be a JSON object")
    spans = sorted(_entry_span(path, name, info, data_size) for name, info in header.items()
                   if name != "__metadata__")
    _check_spans(path, spans, data_size)
    return header, data_start, size


def load_safetensors(path, names=None) -> dict[str, np.ndarray]:
    """Read tensors (all, or those in ``names``) from a safetensors file as NumPy arrays in
    native byte order. Never executes anything from the file."""
    header, data_start, _ = read_safetensors_header(path)
    wanted = [k for k in header if k != "__metadata__"] if names is None else list(names)
    missing = [k for k in wanted if k not in header or k == "__metadata__"]
    if missing:
        raise CheckpointError(f"{path}: no tensor named {', '.join(map(repr, missing))} (the "
                              f"file holds {len(header) - ('__metadata__' in header)} tensors)")
    with open(path, "rb") as f:
        return _read_tensors(f, header, data_start, wanted)


def _read_tensors(f, header: dict, data_start: int, names: list[str]) -> dict[str, np.ndarray]:
    out = {}
    for name in names:
        info = header[name]
        begin, end = info["data_offsets"]
        f.seek(data_start + begin)
        raw = f.read(end - begin)
        dtype = _DTYPES[info["dtype"]]
        array = np.frombuffer(raw, dtype=dtype).reshape(info["shape"])
        out[name] = array.astype(dtype.newbyteorder("="), copy=True)
    return out


def safetensors_metadata(path) -> dict[str, str]:
    header, _, _ = read_safetensors_header(path)
    return dict(header.get("__metadata__", {}))


def file_sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ---------------------------------------------------------------- checkpoints
def checkpoint_paths(path) -> tuple[Path, Path]:
    """``model``, ``model.json`` or ``model.safetensors`` -> (weights path, manifest path)."""
    path = Path(path)
    if path.suffix in (".safetensors", ".json", ".keras", ".tinymm", ".ckpt"):
        path = path.with_suffix("")
    return path.with_name(path.name + ".safetensors"), path.with_name(path.name + ".json")


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        raise TypeError("manifest values must be JSON data; put arrays in the tensors")
    return value


def _manifest_sha256(text: bytes, arrays) -> str:
    """SHA-256 of the manifest text followed by the data section (tensor bytes in order)."""
    digest = hashlib.sha256(text)
    for array in arrays:
        digest.update(array)
    return digest.hexdigest()


def save_checkpoint(path, tensors: dict[str, np.ndarray], manifest: dict | None = None) -> Path:
    """Write the checkpoint ``<stem>.safetensors`` (tensors + manifest in its header, one
    atomic replace), then the readable copy ``<stem>.json``; returns the ``.json`` path.
    ``manifest`` is any JSON-able dict (config, vocabulary, optimizer settings...)."""
    weights_path, manifest_path = checkpoint_paths(path)
    table, arrays = _tensor_table(tensors)
    full = {"format": FORMAT, "format_version": FORMAT_VERSION, "tinymm_version": __version__,
            "weights": weights_path.name,
            "tensors": {k: entry["shape"] for k, entry in table.items()},
            **_jsonable(manifest or {})}
    text = json.dumps(full, indent=1, sort_keys=False, allow_nan=False)
    digest = _manifest_sha256(text.encode("utf-8"), (_raw(a) for a in arrays))
    head = _header_bytes(table, {"format": FORMAT, MANIFEST_KEY: text, DIGEST_KEY: digest})
    file_digest = _write_safetensors(weights_path, head, arrays)  # the commit point
    copy = {"note": f"a readable copy of the manifest stored in {weights_path.name}; loading "
                    "reads that one", **full, "weights_sha256": file_digest}
    copy_text = json.dumps(copy, indent=1, sort_keys=False, allow_nan=False).encode("utf-8")
    atomic_write(manifest_path, lambda f: f.write(copy_text))
    return manifest_path


def _check_manifest(manifest, where: Path) -> dict:
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CheckpointError(f"{where}: not a tinymm checkpoint manifest (no "
                              f"\"format\": \"{FORMAT}\")")
    version = manifest.get("format_version", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise CheckpointError(f"{where}: format_version must be an integer, got {version!r}: "
                              "the manifest is corrupted")
    if version > FORMAT_VERSION:
        raise CheckpointError(f"{where}: format version {version} is newer than this tinymm "
                              f"({__version__}) reads (up to {FORMAT_VERSION}); upgrade tinymm")
    return manifest


def _read_sidecar(manifest_path: Path) -> dict:
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{manifest_path}: not valid JSON ({err}); the manifest is "
                              "truncated or corrupted") from None
    return _check_manifest(manifest, manifest_path)


def _header_manifest(f, header: dict, data_start: int, weights_path: Path, verify: bool):
    """The manifest a format-2 checkpoint keeps in its header, its SHA-256 checked if
    ``verify`` (over the manifest text and the data section of the open file ``f``)."""
    meta = header["__metadata__"]
    text = meta[MANIFEST_KEY]
    try:
        manifest = json.loads(text)
    except json.JSONDecodeError as err:
        raise _fail(weights_path, f"the manifest in the header is not valid JSON "
                                  f"({err}): the file is corrupted") from None
    _check_manifest(manifest, weights_path)
    if verify:
        f.seek(data_start)
        blocks = iter(lambda: f.read(1 << 20), b"")
        actual = _manifest_sha256(text.encode("utf-8"), blocks)
        if meta.get(DIGEST_KEY) != actual:
            raise _fail(weights_path, f"its SHA-256 does not match the one recorded "
                                      f"in its header ({DIGEST_KEY}): the manifest or "
                                      "the tensor data is corrupted")
    return manifest


def _sidecar_manifest(f, weights_path: Path, manifest_path: Path, verify: bool):
    """The manifest of a format-1 checkpoint, from ``<stem>.json``; with ``verify`` the
    whole weight file (the open ``f``) is checked against its ``weights_sha256``."""
    if not manifest_path.exists():
        raise CheckpointError(f"{weights_path}: holds no tinymm manifest in its header "
                              f"and {manifest_path.name} is missing: a plain "
                              "safetensors file (load it with io.load_safetensors)")
    manifest = _read_sidecar(manifest_path)
    if verify and manifest.get("weights_sha256"):
        f.seek(0)
        digest = hashlib.sha256()
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
        if digest.hexdigest() != manifest["weights_sha256"]:
            raise CheckpointError(f"{weights_path}: its SHA-256 does not match the "
                                  f"manifest {manifest_path.name}: the weights are "
                                  "corrupted or come from a different save")
    return manifest


def load_checkpoint(path, verify: bool = True) -> tuple[dict[str, np.ndarray], dict]:
    """Read a checkpoint written by ``save_checkpoint``: (tensors, manifest).

    The manifest comes from the weight file's header (format 2) or, for a format-1
    checkpoint, from ``<stem>.json``. With ``verify`` the SHA-256 is checked before any
    tensor is returned. The header, the hash and the tensors are read through one open file,
    so a save that replaces the checkpoint meanwhile cannot mix two saves."""
    weights_path, manifest_path = checkpoint_paths(path)
    if not weights_path.exists():
        if manifest_path.exists():
            _read_sidecar(manifest_path)  # a foreign or corrupted .json says so first
            raise CheckpointError(f"{weights_path}: no such checkpoint file (the manifest "
                                  f"{manifest_path.name} is here, its weights are not)")
        raise CheckpointError(f"{weights_path}: no checkpoint here (neither "
                              f"{weights_path.name} nor {manifest_path.name} exists)")
    with open(weights_path, "rb") as f:
        header, data_start, size = _read_header(f, weights_path)
        if MANIFEST_KEY in header.get("__metadata__", {}):
            manifest = _header_manifest(f, header, data_start, weights_path, verify)
        else:  # format 1: the manifest and the whole-file hash live in <stem>.json
            manifest = _sidecar_manifest(f, weights_path, manifest_path, verify)
        expected = manifest.get("tensors", {})
        missing = [k for k in expected if k not in header or k == "__metadata__"]
        if missing:
            raise _fail(weights_path, f"missing tensor(s) {', '.join(map(repr, missing))} "
                                      "listed in the manifest")
        names = [k for k in header if k != "__metadata__"]
        tensors = _read_tensors(f, header, data_start, names)
    for name, shape in expected.items():
        if list(tensors[name].shape) != list(shape):
            raise CheckpointError(f"{weights_path}: tensor {name!r} has shape "
                                  f"{tensors[name].shape}, the manifest says {tuple(shape)}")
    return tensors, manifest


def check_tensors_fit(tensors: dict[str, np.ndarray], expected: dict[str, tuple],
                      where: str = "checkpoint") -> None:
    """Raise a CheckpointError naming every missing tensor and shape mismatch."""
    problems = [f"missing tensor {k!r} (shape {tuple(s)})" for k, s in expected.items()
                if k not in tensors]
    problems += [f"tensor {k!r} has shape {tensors[k].shape} in the {where}, the model needs "
                 f"{tuple(s)}" for k, s in expected.items()
                 if k in tensors and tuple(tensors[k].shape) != tuple(s)]
    if problems:
        raise CheckpointError(f"the {where} does not fit the model: " + "; ".join(problems))


# ---------------------------------------------------------------- modules and optimizers
def save_module(path, module, optimizer=None, manifest: dict | None = None) -> Path:
    """Save an ``nn.Module``'s state_dict (and an optimizer's state) as a checkpoint."""
    tensors = dict(module.state_dict())
    extra = dict(manifest or {})
    if optimizer is not None:
        opt_tensors, opt_manifest = optimizer_state_to_checkpoint(optimizer)
        tensors.update(opt_tensors)
        extra["optimizer"] = opt_manifest
    return save_checkpoint(path, tensors, extra)


def load_module(path, module, optimizer=None, strict: bool = True) -> dict:
    """Load a checkpoint into ``module`` (and ``optimizer``); returns the manifest."""
    tensors, manifest = load_checkpoint(path)
    weights = {k: v for k, v in tensors.items() if not k.startswith("optimizer/")}
    expected = {k: v.shape for k, v in module.state_dict().items()}
    if strict:
        check_tensors_fit(weights, expected)
    module.load_state_dict(weights, strict=strict)
    if optimizer is not None:
        if "optimizer" not in manifest:
            raise CheckpointError(f"{path}: the checkpoint holds no optimizer state")
        optimizer_state_from_checkpoint(optimizer, tensors, manifest["optimizer"])
    return manifest


def optimizer_state_to_checkpoint(optimizer) -> tuple[dict[str, np.ndarray], dict]:
    """Split an optimizer's state_dict into arrays (tensors) and JSON (the rest)."""
    sd = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, state in sd["state"].items():
        for key, value in state.items():
            if isinstance(value, np.ndarray):
                tensors[f"optimizer/{index}/{key}"] = value
            else:
                scalars.setdefault(str(index), {})[key] = _jsonable(value)
    return tensors, {"class": type(optimizer).__name__, "param_groups": _jsonable(
        sd["param_groups"]), "scalars": scalars}


def optimizer_state_from_checkpoint(optimizer, tensors: dict, saved: dict) -> None:
    if saved.get("class") != type(optimizer).__name__:
        raise CheckpointError(f"the checkpoint holds {saved.get('class')} state, but the "
                              f"optimizer is {type(optimizer).__name__}")
    state: dict = {}
    for name, array in tensors.items():
        if name.startswith("optimizer/"):
            _, index, key = name.split("/", 2)
            state.setdefault(int(index), {})[key] = array
    for index, scalars in saved.get("scalars", {}).items():
        state.setdefault(int(index), {}).update(scalars)
    groups = []
    for g in saved["param_groups"]:
        g = dict(g)
        if "betas" in g:
            g["betas"] = tuple(g["betas"])
        groups.append(g)
    optimizer.load_state_dict({"state": state, "param_groups": groups})


__all__ = [
    "CheckpointError", "atomic_write", "check_tensors_fit", "checkpoint_paths", "file_sha256",
    "load_checkpoint", "load_module", "load_safetensors", "read_safetensors_header",
    "safetensors_metadata", "save_checkpoint", "save_module", "save_safetensors",
]
