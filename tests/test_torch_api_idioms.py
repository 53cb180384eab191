"""Idioms of PyTorch tutorials and training scripts, run under torch and under tinymm with the
same inputs (each case takes the library as its argument, ``T``, as a program that does
``import tinymm as torch`` would)."""

import numpy as np
import pytest

import tinymm

torch = pytest.importorskip("torch")

X = np.arange(12, dtype=np.float32).reshape(3, 4) / 6 - 1


def _net(T):
    m = T.nn.Sequential(T.nn.Linear(4, 3), T.nn.ReLU(), T.nn.Linear(3, 2))
    with T.no_grad():
        for i, p in enumerate(m.parameters()):
            values = np.linspace(-1, 1, p.numel(), dtype=np.float32) * (i + 1) / 3
            p.copy_(T.tensor(values.reshape(tuple(p.shape))))
    return m


def zero_grad_keeps_zeros(T):
    m = _net(T)
    m(T.tensor(X)).sum().backward()
    m.zero_grad(set_to_none=False)
    kept = m[0].weight.grad
    m.zero_grad()
    return kept, m[0].weight.grad is None


def bare_no_grad_decorator(T):
    @T.no_grad
    def double(x):
        return x * 2

    return double(T.ones(2, requires_grad=True)).requires_grad


def functional_inplace_keyword(T):
    F, x = T.nn.functional, T.tensor(X)
    return (F.relu(x, inplace=False), F.leaky_relu(x, 0.2, inplace=False),
            F.elu(x, inplace=False), F.silu(x, inplace=False), F.relu6(x, inplace=False),
            F.hardtanh(x, inplace=False))


def div_rounding_modes(T):
    a, f = T.tensor([5, -5, 7]), T.tensor([5.5, -5.5, 7.0])
    return (T.div(a, 2, rounding_mode="floor"), a.div(2, rounding_mode="trunc"),
            f.div(2, rounding_mode="floor"), T.div(f, T.tensor(2.0), rounding_mode="trunc"),
            a.div(2))


def type_names(T):
    t = T.tensor([1, 2])
    return t.type(), t.float().type(), t.type("torch.FloatTensor").dtype == T.float32


def repr_like_torch(T):
    x = T.tensor([1.0, 2.0], requires_grad=True)
    return (repr(x), repr(x * 2).split("grad_fn")[0], "grad_fn=<" in repr(x * 2),
            repr(T.tensor([1, 2])), repr(T.tensor([1.0], dtype=T.float64)), repr(T.tensor(3.0)))


def mixed_precision_no_ops(T):
    m = _net(T)
    opt = T.optim.SGD(m.parameters(), lr=0.1)
    scaler = T.cuda.amp.GradScaler(enabled=False)
    with T.autocast(device_type="cpu", enabled=False), T.cuda.amp.autocast(enabled=False):
        loss = m(T.tensor(X)).sum()
    scaler.scale(loss).backward()
    scaler.unscale_(opt)
    scaler.step(opt)
    scaler.update()
    new = T.amp.GradScaler("cuda", enabled=False)
    return m[2].bias, scaler.is_enabled(), new.scale(T.tensor(2.0)), loss.dtype == T.float32


def compile_and_switches(T):
    m = _net(T)
    compiled = T.compile(m)

    @T.compile(mode="reduce-overhead")
    def double(x):
        return x * 2

    T.set_num_threads(T.get_num_threads())
    T.use_deterministic_algorithms(True)
    on = T.are_deterministic_algorithms_enabled()
    T.use_deterministic_algorithms(False)
    T.set_float32_matmul_precision("high")
    precision = T.get_float32_matmul_precision()
    T.set_float32_matmul_precision("highest")
    limits = T.finfo(T.float32)
    numbers = [limits.eps, limits.max, limits.min, limits.tiny, T.finfo().eps,
               T.finfo(T.float16).smallest_normal, limits.resolution]
    return (compiled(T.tensor(X)), double(T.ones(2)), on, precision,
            T.is_floating_point(T.ones(1)), numbers, [type(n).__name__ for n in numbers],
            limits.bits)


def save_load_file_objects(T):
    import io

    m = _net(T)
    buffer = io.BytesIO()
    T.save({"epoch": 2, "model": m.state_dict(), "steps": [T.arange(3)]}, buffer)
    buffer.seek(0)
    checkpoint = T.load(buffer, map_location="cpu", weights_only=True)
    fresh = T.nn.Sequential(T.nn.Linear(4, 3), T.nn.ReLU(), T.nn.Linear(3, 2))
    fresh.load_state_dict(checkpoint["model"])
    return checkpoint["epoch"], checkpoint["steps"], fresh(T.tensor(X))


def collate_strings_and_flips(T):
    class Samples(T.utils.data.Dataset):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            return float(i), i, f"s{i}"

    x = T.arange(6).view(2, 3)
    batch = next(iter(T.utils.data.DataLoader(Samples(), batch_size=3)))
    return batch[:2], type(batch[2]).__name__, list(batch[2]), T.fliplr(x), T.flipud(x)


CASES = [collate_strings_and_flips, save_load_file_objects, zero_grad_keeps_zeros,
         bare_no_grad_decorator,
         functional_inplace_keyword, div_rounding_modes, type_names, repr_like_torch,
         mixed_precision_no_ops, compile_and_switches]


def _plain(value):
    """Tensors as (dtype name, values); containers element by element."""
    if isinstance(value, (torch.Tensor, tinymm.Tensor)):
        return [str(value.dtype).replace("torch.", ""), value.detach().numpy().tolist()]
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _assert_same(got, want):
    if isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want)
        for g, w in zip(got, want):
            _assert_same(g, w)
    elif isinstance(want, float):
        assert got == pytest.approx(want, rel=1e-6, abs=1e-6)
    else:
        assert got == want


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__)
def test_idiom_matches_torch(case):
    want = _plain(case(torch))
    got = _plain(case(tinymm))
    _assert_same(got, want)


def test_div_rejects_an_unknown_rounding_mode():
    with pytest.raises(ValueError, match="rounding_mode"):
        tinymm.tensor([1.0]).div(2, rounding_mode="round")
