"""L-BFGS, as ``torch.optim.LBFGS``: the same iteration, stopping rules, history and
(optional) strong-Wolfe line search, on the parameters flattened into one vector.

``step(closure)`` calls ``closure()`` (which zeroes the gradients, computes the loss, calls
``backward`` and returns the loss) once, then up to ``max_iter`` times per step::

    first iteration:  d = -g,  t = min(1, 1 / sum|g|) * lr
    later ones:       y = g - g_prev,  s = t d;  if y.s > 1e-10 keep (y, s, 1/y.s) in the
                      history (at most history_size pairs) and H = y.s / y.y;
                      d = -(two-loop recursion over the history)(g), starting from H g;
                      t = lr
    stop when  g.d > -tolerance_change,  max|g| <= tolerance_grad,  max|t d| <=
    tolerance_change,  |loss - loss_prev| < tolerance_change,  or max_iter / max_eval.

Without a line search each iteration moves ``p += t d`` and re-evaluates the closure; with
``line_search_fn="strong_wolfe"`` the step length comes from ``_strong_wolfe`` (bracketing,
then zoom by cubic interpolation, c1 = 1e-4, c2 = 0.9). The vectors are NumPy arrays in the
parameters' dtype on the host (cpu parameters only); the state carries over between steps.
"""

from __future__ import annotations

import numpy as np

from tinymm.optim import Optimizer
from tinymm.torch_functions import enable_grad


class LBFGS(Optimizer):
    defaults = {"lr": 1.0, "max_iter": 20, "max_eval": None, "tolerance_grad": 1e-7,
                "tolerance_change": 1e-9, "history_size": 100, "line_search_fn": None}

    def __init__(self, params, lr: float = 1.0, max_iter: int = 20, max_eval: int | None = None,
                 tolerance_grad: float = 1e-7, tolerance_change: float = 1e-9,
                 history_size: int = 100, line_search_fn: str | None = None):
        if not lr >= 0:
            raise ValueError(f"LBFGS: invalid learning rate {lr} (need lr >= 0)")
        if line_search_fn not in (None, "strong_wolfe"):
            raise ValueError(f"LBFGS: line_search_fn must be None or 'strong_wolfe', got "
                             f"{line_search_fn!r}")
        max_eval = max_iter * 5 // 4 if max_eval is None else max_eval
        super().__init__(params, lr=lr, max_iter=max_iter, max_eval=max_eval,
                         tolerance_grad=tolerance_grad, tolerance_change=tolerance_change,
                         history_size=history_size, line_search_fn=line_search_fn)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._plist = self.param_groups[0]["params"]
        for p in self._plist:
            if p.device == "cuda":
                raise RuntimeError("LBFGS: cuda parameters are not supported (its update runs "
                                   "on the host); keep the model on the cpu or use optim.Adam")

    # ------------------------------------------------------------ the flat vector
    def _gather_flat_grad(self) -> np.ndarray:
        return np.concatenate([np.zeros(p.numel(), p.dtype) if p.grad is None
                               else p.grad.array.reshape(-1) for p in self._plist])

    def _add_grad(self, t, d: np.ndarray) -> None:
        offset = 0
        for p in self._plist:
            n = p.numel()
            p.array += (d[offset:offset + n] * t).astype(p.dtype).reshape(p.shape)
            offset += n

    def _set_params(self, flat: list[np.ndarray]) -> None:
        for p, value in zip(self._plist, flat):
            p.array[...] = value

    def _directional_evaluate(self, closure, x, t, d):
        self._add_grad(t, d)
        loss = float(closure())
        flat_grad = self._gather_flat_grad()
        self._set_params(x)
        return loss, flat_grad

    # ------------------------------------------------------------ one step
    def step(self, closure=None):
        if closure is None:
            raise RuntimeError("LBFGS.step needs a closure that re-evaluates the model and "
                               "returns the loss: optimizer.step(closure)")
        group = self.param_groups[0]

        def evaluate():
            with enable_grad():
                return closure()

        state = self.state.setdefault(id(self._plist[0]), {"func_evals": 0, "n_iter": 0})
        orig_loss = evaluate()
        loss = float(orig_loss)
        state["func_evals"] += 1
        flat_grad = self._gather_flat_grad()
        if np.abs(flat_grad).max() <= group["tolerance_grad"]:
            return orig_loss
        self._iterate(evaluate, group, state, loss, flat_grad)
        return orig_loss

    def _iterate(self, evaluate, group, state, loss, flat_grad) -> None:
        lr, tol_change = group["lr"], group["tolerance_change"]
        current_evals, n_iter = 1, 0
        while n_iter < group["max_iter"]:
            n_iter += 1
            state["n_iter"] += 1
            d = self._direction(state, flat_grad, group["history_size"])
            state["prev_flat_grad"], state["prev_loss"] = flat_grad.copy(), loss
            t = (min(1.0, 1.0 / np.abs(flat_grad).sum()) * lr if state["n_iter"] == 1 else lr)
            state["d"], state["t"] = d, t  # kept for the next iteration (or step) as PyTorch
            gtd = flat_grad.dot(d)
            if gtd > -tol_change:
                break
            loss, flat_grad, t, evals = self._move(evaluate, group, loss, flat_grad, t, d, gtd,
                                                   last=n_iter == group["max_iter"],
                                                   max_ls=group["max_eval"] - current_evals)
            state["t"] = t
            current_evals += evals
            state["func_evals"] += evals
            if (n_iter == group["max_iter"] or current_evals >= group["max_eval"]
                    or np.abs(flat_grad).max() <= group["tolerance_grad"]
                    or np.abs(d * t).max() <= tol_change
                    or abs(loss - state["prev_loss"]) < tol_change):
                break

    def _direction(self, state, flat_grad, history_size) -> np.ndarray:
        """-g on the first iteration, else the two-loop recursion over the history."""
        if state["n_iter"] == 1:
            state.update(old_dirs=[], old_stps=[], ro=[], H_diag=1.0)
            return -flat_grad
        old_dirs, old_stps, ro = state["old_dirs"], state["old_stps"], state["ro"]
        y = flat_grad - state["prev_flat_grad"]
        s = state["d"] * state["t"]
        ys = y.dot(s)
        if ys > 1e-10:
            if len(old_dirs) == history_size:
                old_dirs.pop(0), old_stps.pop(0), ro.pop(0)
            old_dirs.append(y), old_stps.append(s), ro.append(1.0 / ys)
            state["H_diag"] = ys / y.dot(y)
        al = [None] * len(old_dirs)
        q = -flat_grad
        for i in range(len(old_dirs) - 1, -1, -1):
            al[i] = old_stps[i].dot(q) * ro[i]
            q = q - al[i] * old_dirs[i]
        r = q * state["H_diag"]
        for i in range(len(old_dirs)):
            be_i = old_dirs[i].dot(r) * ro[i]
            r = r + (al[i] - be_i) * old_stps[i]
        return r

    def _move(self, evaluate, group, loss, flat_grad, t, d, gtd, last: bool, max_ls: int):
        """Take the step along d: (loss, flat_grad, t, closure evaluations)."""
        if group["line_search_fn"] == "strong_wolfe":
            x_init = [p.array.copy() for p in self._plist]

            def obj_func(x, step, direction):
                return self._directional_evaluate(evaluate, x, step, direction)

            loss, flat_grad, t, evals = _strong_wolfe(obj_func, x_init, t, d, loss, flat_grad,
                                                      gtd, max_ls=max_ls)
            self._add_grad(t, d)
            return loss, flat_grad, t, evals
        self._add_grad(t, d)
        if last:
            return loss, flat_grad, t, 0
        loss = float(evaluate())
        return loss, self._gather_flat_grad(), t, 1


def _cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds=None):
    """The minimiser of the cubic through (x1, f1, g1) and (x2, f2, g2), within bounds."""
    xmin_bound, xmax_bound = bounds if bounds is not None else sorted((x1, x2))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1 ** 2 - g1 * g2
    if d2_square >= 0:
        d2 = np.sqrt(d2_square)
        if x1 <= x2:
            min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
        else:
            min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
        return min(max(min_pos, xmin_bound), xmax_bound)
    return (xmin_bound + xmax_bound) / 2.0


def _strong_wolfe(obj_func, x, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9,
                  max_ls=25):
    """A step t satisfying the strong Wolfe conditions: (f_new, g_new, t, evaluations)."""
    d_norm = np.abs(d).max()
    f_new, g_new = obj_func(x, t, d)
    ls_func_evals = 1
    gtd_new = g_new.dot(d)
    t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
    done = False
    ls_iter = 0
    while ls_iter < max_ls:
        if f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev):
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new.copy()], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if gtd_new >= 0:
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new.copy()], [gtd_prev, gtd_new]
            break
        min_step, max_step = t + 0.01 * (t - t_prev), t * 10
        tmp = t
        t = _cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new,
                               bounds=(min_step, max_step))
        t_prev, f_prev, g_prev, gtd_prev = tmp, f_new, g_new.copy(), gtd_new
        f_new, g_new = obj_func(x, t, d)
        ls_func_evals += 1
        gtd_new = g_new.dot(d)
        ls_iter += 1
    if ls_iter == max_ls:
        bracket, bracket_f, bracket_g = [0, t], [f, f_new], [g, g_new]
        bracket_gtd = [gtd, gtd_new]
    if not done:
        t, f_new, g_new, evals = _zoom(obj_func, x, d, f, gtd, d_norm, ls_iter, max_ls,
                                       bracket, bracket_f, bracket_g, bracket_gtd,
                                       c1, c2, tolerance_change)
        ls_func_evals += evals
    else:
        t, f_new, g_new = bracket[0], bracket_f[0], bracket_g[0]
    return f_new, g_new, t, ls_func_evals


def _zoom(obj_func, x, d, f, gtd, d_norm, ls_iter, max_ls, bracket, bracket_f, bracket_g,
          bracket_gtd, c1, c2, tolerance_change):
    """Shrink the bracket by safeguarded cubic interpolation until a strong-Wolfe point."""
    insuf_progress = False
    low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    evals = 0
    done = False
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = _cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0],
                               bracket[1], bracket_f[1], bracket_gtd[1])
        eps = 0.1 * (max(bracket) - min(bracket))
        if min(max(bracket) - t, t - min(bracket)) < eps:
            if insuf_progress or t >= max(bracket) or t <= min(bracket):
                t = max(bracket) - eps if abs(t - max(bracket)) < abs(t - min(bracket)) \
                    else min(bracket) + eps
                insuf_progress = False
            else:
                insuf_progress = True
        else:
            insuf_progress = False
        f_new, g_new = obj_func(x, t, d)
        evals += 1
        gtd_new = g_new.dot(d)
        ls_iter += 1
        if f_new > (f + c1 * t * gtd) or f_new >= bracket_f[low_pos]:
            bracket[high_pos], bracket_f[high_pos] = t, f_new
            bracket_g[high_pos], bracket_gtd[high_pos] = g_new.copy(), gtd_new
            low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high_pos] - bracket[low_pos]) >= 0:
                bracket[high_pos], bracket_f[high_pos] = bracket[low_pos], bracket_f[low_pos]
                bracket_g[high_pos] = bracket_g[low_pos]
                bracket_gtd[high_pos] = bracket_gtd[low_pos]
            bracket[low_pos], bracket_f[low_pos] = t, f_new
            bracket_g[low_pos], bracket_gtd[low_pos] = g_new.copy(), gtd_new
    return bracket[low_pos], bracket_f[low_pos], bracket_g[low_pos], evals


__all__ = ["LBFGS"]
