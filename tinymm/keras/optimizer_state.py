"""The optimizer's state as Keras 3 keeps it in a ``.keras`` file's ``optimizer/vars``:
``0`` iterations, ``1`` the learning rate, then the per-variable slots over the trainable
variables (in ``model.trainable_variables`` order, each in Keras's layout), then any scalar.

Keras's slots and their order (``build`` of each optimizer; a call to
``add_optimizer_variables`` with several names interleaves them per variable, separate calls
follow one another), with the tinymm state each one is:

    Adam, AdamW   momentum, velocity interleaved     exp_avg, exp_avg_sq
    Nadam         momentum, velocity interleaved     exp_avg, exp_avg_sq; then u_product
                                                     (mu_product)
    Adamax        m, u interleaved                   m, u
    RMSprop       velocities; momentums if           velocity, momentum, average_grad
                  momentum > 0; average gradients
                  if centered
    Adagrad       accumulators                       accumulator
    SGD           momentums if momentum != 0         momentum_buffer b, where Keras's
                                                     m = -lr b (Keras: m = mu m - lr g,
                                                     p += m; PyTorch: b = mu b + g, p -= lr b)

So either library resumes the other's training where it stopped.
"""

from __future__ import annotations

import warnings

import numpy as np

from tinymm import optim


def _slots(inner) -> tuple[list[str], bool] | None:
    """(tinymm state keys of Keras's per-variable slots, interleaved?) for ``inner``, or
    None for an optimizer whose state tinymm does not map onto Keras's."""
    from tinymm.keras import optimizers

    group = inner.param_groups[0]
    if isinstance(inner, (optim.Adam, optim.NAdam)) and not group.get("amsgrad", False):
        return ["exp_avg", "exp_avg_sq"], True
    if isinstance(inner, optimizers.KerasAdamax):
        return ["m", "u"], True
    if isinstance(inner, optimizers.KerasRMSprop):
        return ["velocity"] + (["momentum"] if group["momentum"] > 0 else []) + (
            ["average_grad"] if group["centered"] else []), False
    if isinstance(inner, optimizers.KerasAdagrad):
        return ["accumulator"], False
    if isinstance(inner, optim.SGD) and not group["dampening"] and not group["weight_decay"]:
        return (["momentum_buffer"] if group["momentum"] else []), False
    return None


def _order(keys: list[str], n: int, interleaved: bool) -> list[tuple[int, str]]:
    """(variable index, state key) of each slot, in Keras's order."""
    if interleaved:
        return [(i, key) for i in range(n) for key in keys]
    return [(i, key) for key in keys for i in range(n)]


def _scale(key: str, group: dict) -> float:
    """Keras's slot = scale * tinymm's state (SGD's momentum is -lr times PyTorch's buffer)."""
    return -group["lr"] if key == "momentum_buffer" else 1.0


def _initial(key: str, group: dict) -> float:
    return group.get("initial_accumulator_value", 0.0) if key == "accumulator" else 0.0


def _found(model, views):
    """(outer optimizer, inner optimizer, slots, views) or None when it does not map."""
    opt = model._ensure_optimizer()
    inner = getattr(opt, "inner", opt)
    slots = _slots(inner)
    if slots is None or not all(len(getattr(get, "params", ())) == 1 for get, _ in views):
        return None
    return opt, inner, slots, views


def _to_keras(p, value, get) -> np.ndarray:
    """``value`` (in ``p``'s layout) in Keras's layout, through the weight view's ``get``."""
    kept = np.array(p.array)
    try:
        p.array[...] = value
        return np.array(get())
    finally:
        p.array[...] = kept


def _from_keras(p, value, put) -> np.ndarray:
    """``value`` (in Keras's layout) in ``p``'s layout, through the weight view's ``put``."""
    kept = np.array(p.array)
    try:
        put(value)
        return np.array(p.array)
    finally:
        p.array[...] = kept


def write_state(model, f, views) -> None:
    """The optimizer's state as Keras's ``optimizer/vars`` group of ``f`` (nothing for an
    optimizer that does not map onto Keras's)."""
    found = _found(model, views)
    if found is None:
        return
    opt, inner, (keys, interleaved), views = found
    group, settings = f.require_group("optimizer/vars"), inner.param_groups[0]
    group.attrs["name"] = type(inner).__name__.lower()
    group.create_dataset("0", data=np.int64(int(getattr(opt, "iterations", 0))))
    group.create_dataset("1", data=np.float32(settings["lr"]))
    slot = 2
    for i, key in _order(keys, len(views), interleaved):
        get, _ = views[i]
        p = get.params[0]
        state = inner.state.get(p, {})
        value = np.asarray(state[key]) * _scale(key, settings) if key in state else \
            np.full(p.shape, _initial(key, settings), p.array.dtype)
        group.create_dataset(str(slot), data=_to_keras(p, value, get))
        slot += 1
    if isinstance(inner, optim.NAdam):
        first = inner.state.get(views[0][0].params[0], {}) if views else {}
        group.create_dataset(str(slot), data=np.float32(first.get("mu_product", 1.0)))


def read_state(model, saved: dict, views, where: str) -> bool:
    """Keras's ``optimizer/vars`` (index -> array) into the optimizer ``compile`` built; False
    with a warning when it does not fit."""
    found = _found(model, views)
    expected = None if found is None else 2 + len(found[2][0]) * len(views) + (
        1 if isinstance(found[1], optim.NAdam) else 0)
    if expected is None or len(saved) != expected:
        warnings.warn(f"{where}: Keras's optimizer state is not restored (tinymm reads the "
                      "state of Keras's Adam, AdamW, Nadam, Adamax, RMSprop, Adagrad and SGD "
                      "over single-tensor weights, and this one does not fit the model's "
                      "optimizer); training resumes with a fresh optimizer state",
                      stacklevel=3)
        return False
    opt, inner, (keys, interleaved), views = found
    steps, settings = int(saved[0]), inner.param_groups[0]
    states = [{"step": steps} for _ in views]
    for slot, (i, key) in enumerate(_order(keys, len(views), interleaved), start=2):
        get, put = views[i]
        states[i][key] = _from_keras(get.params[0], saved[slot], put) / _scale(key, settings)
    for (get, _), state in zip(views, states):
        if isinstance(inner, optim.NAdam):
            state["mu_product"] = float(saved[expected - 1])
        if "momentum_buffer" not in keys and isinstance(inner, optim.SGD):
            continue  # plain SGD keeps no state
        inner.state[get.params[0]] = _complete(inner, state, get.params[0])
    for holder in {id(opt): opt, id(inner): inner}.values():
        holder.iterations = steps
    return True


def _complete(inner, state: dict, p) -> dict:
    """KerasRMSprop keeps all three arrays once it has any: the ones Keras does not (no
    momentum, not centered) start at zero."""
    from tinymm.keras import optimizers

    if isinstance(inner, optimizers.KerasRMSprop):
        for key in ("velocity", "momentum", "average_grad"):
            state.setdefault(key, np.zeros_like(p.array))
    return state
