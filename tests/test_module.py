"""nn.Module machinery: parameter order, train/eval, state_dict round trips and strict
loading errors, Dropout, activations (gradcheck and PyTorch parity)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinymm
from tests.conftest import examples
from tinymm import nn
from tinymm.nn.module import StateDictError


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.act = nn.ReLU()
        self.drop = nn.Dropout(0.5)
        self.fc2 = nn.Linear(8, 3, bias=False)

    def forward(self, x):
        return self.fc2(self.drop(self.act(self.fc1(x))))


def test_named_parameters_stable_order_and_counts():
    net = Net()
    assert [n for n, _ in net.named_parameters()] == ["fc1.weight", "fc1.bias", "fc2.weight"]
    assert net.num_parameters() == 4 * 8 + 8 + 8 * 3
    net.fc2.weight.requires_grad = False
    assert net.num_parameters(trainable_only=True) == 4 * 8 + 8
    assert [n for n, _ in net.named_children()] == ["fc1", "act", "drop", "fc2"]


def test_shared_parameter_counted_once():
    seq = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 3))
    seq[1].weight = seq[0].weight
    assert seq.num_parameters() == 9 + 3 + 3


def test_train_eval_propagate():
    net = Net()
    assert all(m.training for m in net.modules())
    net.eval()
    assert not any(m.training for m in net.modules())
    x = tinymm.randn(5, 4)
    np.testing.assert_array_equal(net(x).array, net(x).array)  # dropout off in eval
    net.train()
    assert net.drop.training


def test_state_dict_round_trip_in_place():
    a, b = Net(), Net()
    b.load_state_dict(a.state_dict())
    for (na, pa), (nb, pb) in zip(a.named_parameters(), b.named_parameters()):
        assert na == nb
        np.testing.assert_array_equal(pa.array, pb.array)
    before = b.fc1.weight.array
    b.load_state_dict(Net().state_dict())
    assert b.fc1.weight.array is before  # copied in place: optimizers keep their references


def test_load_state_dict_strict_errors_name_keys_and_shapes():
    net = Net()
    state = net.state_dict()
    del state["fc1.bias"]
    state["extra.weight"] = np.zeros(2)
    with pytest.raises(StateDictError, match=r"(?s)for Net:\n\tMissing key\(s\) in state_dict: "
                                             r"\"fc1\.bias\"\. \n\tUnexpected key\(s\) in "
                                             r"state_dict: \"extra\.weight\""):
        net.load_state_dict(state)
    missing, unexpected = net.load_state_dict(state, strict=False)
    assert missing == ["fc1.bias"] and unexpected == ["extra.weight"]
    bad = net.state_dict()
    bad["fc2.weight"] = np.zeros((4, 8), dtype=np.float32)
    old = net.fc1.weight.array.copy()
    bad["fc1.weight"] = np.ones((8, 4), dtype=np.float32)
    with pytest.raises(StateDictError, match=r"size mismatch for fc2\.weight: copying a param "
                                             r"with shape \(4, 8\) from checkpoint, the shape "
                                             r"in current model is \(3, 8\)"):
        net.load_state_dict(bad)
    np.testing.assert_array_equal(net.fc1.weight.array, old)  # nothing copied on failure


def test_state_dict_matches_torch_keys_and_loads_into_torch():
    torch = pytest.importorskip("torch")
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    ref = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    assert list(net.state_dict()) == list(ref.state_dict())
    ref.load_state_dict({k: torch.tensor(v.numpy()) for k, v in net.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    np.testing.assert_allclose(net(tinymm.tensor(x)).array, ref(torch.tensor(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-6)


def test_module_to_double():
    net = Net().double()
    assert all(p.dtype == np.float64 for p in net.parameters())


def test_dropout_statistics_and_gradient():
    nn.init.seed(0)
    x = tinymm.ones(200, 50, requires_grad=True)
    y = tinymm.F.dropout(x, p=0.3, training=True)
    kept = y.array != 0
    assert abs(kept.mean() - 0.7) < 0.02
    np.testing.assert_allclose(y.array[kept], 1 / 0.7, rtol=1e-6)
    y.sum().backward()
    np.testing.assert_allclose(x.grad, kept / 0.7, rtol=1e-6)  # dx = keep / (1 - p)
    assert tinymm.F.dropout(x, 0.3, training=False) is x
    assert np.all(tinymm.F.dropout(x, 1.0).array == 0)


def test_dropout_bad_p():
    with pytest.raises(ValueError, match=r"p is the probability.*\[0, 1\], got 1.5"):
        nn.Dropout(1.5)
    with pytest.raises(TypeError, match="float32 or float64"):
        tinymm.F.dropout(tinymm.tensor(np.ones(3, dtype=np.int64)))


def test_dropout_gradcheck():
    x = tinymm.tensor(np.random.default_rng(1).standard_normal((4, 5)), requires_grad=True)

    def fn(x):
        nn.init.seed(3)  # the same mask on every evaluation
        return tinymm.F.dropout(x, 0.4)

    assert tinymm.gradcheck(fn, [x])


ACTIVATIONS = [nn.LeakyReLU(0.1), nn.ELU(0.7), nn.GELU(), nn.SiLU(), nn.Softplus(2.0),
               nn.Tanh(), nn.Sigmoid(), nn.Identity()]


@settings(max_examples=examples(8))
@given(n=st.integers(1, 4), d=st.integers(1, 5), seed=st.integers(0, 100))
def test_activation_gradcheck(n, d, seed):
    rng = np.random.default_rng(seed)
    data = rng.standard_normal((n, d))
    data[np.abs(data) < 1e-3] = 0.5  # keep finite differences away from the kinks
    for act in ACTIVATIONS:
        x = tinymm.tensor(data, requires_grad=True)
        assert tinymm.gradcheck(act, [x]), act


def test_activations_match_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(2).standard_normal((6, 7)) * 3
    pairs = [(nn.LeakyReLU(0.1), torch.nn.LeakyReLU(0.1)), (nn.ELU(0.7), torch.nn.ELU(0.7)),
             (nn.GELU(), torch.nn.GELU()), (nn.GELU("tanh"), torch.nn.GELU(approximate="tanh")),
             (nn.SiLU(), torch.nn.SiLU()),
             (nn.Softplus(2.0), torch.nn.Softplus(2.0, threshold=1e9))]
    for ours, theirs in pairs:
        np.testing.assert_allclose(ours(tinymm.tensor(x)).array,
                                   theirs(torch.tensor(x)).numpy(), rtol=1e-10, atol=1e-12)


def test_init_functions_statistics():
    nn.init.seed(0)
    w = nn.init.orthogonal_(tinymm.tensor(np.empty((4, 10))))
    np.testing.assert_allclose(w.array @ w.array.T, np.eye(4), atol=1e-10)
    big = tinymm.tensor(np.empty((400, 300)))
    nn.init.kaiming_normal_(big, nonlinearity="relu")
    assert abs(big.array.std() - np.sqrt(2 / 300)) < 0.005
    nn.init.xavier_uniform_(big)
    assert np.abs(big.array).max() <= np.sqrt(6 / 700)
    nn.init.constant_(big, 0.25)
    assert np.all(big.array == 0.25)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        nn.init.orthogonal_(tinymm.tensor(np.empty(3)))


def test_linear_default_init_bounds_match_torch_formula():
    layer = nn.Linear(50, 20)
    bound = 1 / np.sqrt(50)  # kaiming_uniform_(a=sqrt(5)) works out to 1/sqrt(fan_in)
    assert np.abs(layer.weight.array).max() <= bound
    assert np.abs(layer.bias.array).max() <= bound
    assert layer.weight.array.std() > 0.8 * bound / np.sqrt(3)


def test_containers_slicing_apply_buffers():
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    tail = seq[1:]
    assert isinstance(tail, nn.Sequential) and len(tail) == 2 and tail[1] is seq[2]
    seen = []
    seq.apply(lambda m: seen.append(type(m).__name__))
    assert seen == ["Linear", "ReLU", "Linear", "Sequential"]
    lst = nn.ModuleList([nn.Linear(1, 1)]).extend([nn.Linear(1, 2)])
    assert [n for n, _ in lst.named_parameters()] == ["0.weight", "0.bias", "1.weight", "1.bias"]
    seq[0].register_buffer("running", np.zeros(3))
    assert [n for n, _ in seq.named_buffers()] == ["0.running"]
    assert "0.running" in seq.state_dict()
