"""``tinymm.utils.data`` (PyTorch's Dataset, TensorDataset, Subset, random_split, DataLoader)
against independent expectations, and ``tinymm.save`` / ``tinymm.load``."""

from collections import OrderedDict

import numpy as np
import pytest

import tinymm
from tinymm import nn, optim
from tinymm.utils.data import DataLoader, Dataset, Subset, TensorDataset, random_split


class Squares(Dataset):
    def __len__(self):
        return 10

    def __getitem__(self, i):
        return {"x": np.full(2, i, np.float32), "y": i * i, "w": float(i)}


def test_tensor_dataset_and_loader_in_order_with_drop_last():
    x = tinymm.arange(20).float().view(10, 2)
    y = tinymm.arange(10)
    data = TensorDataset(x, y)
    assert len(data) == 10 and data[3][1].item() == 3
    batches = list(DataLoader(data, batch_size=4))
    assert [b[0].shape for b in batches] == [(4, 2), (4, 2), (2, 2)]
    np.testing.assert_array_equal(batches[1][1].numpy(), [4, 5, 6, 7])
    assert len(DataLoader(data, batch_size=4)) == 3
    assert len(list(DataLoader(data, batch_size=4, drop_last=True))) == 2
    assert len(DataLoader(data, batch_size=4, drop_last=True)) == 2
    with pytest.raises(ValueError, match="same first dimension"):
        TensorDataset(x, tinymm.arange(3))


def test_shuffle_is_a_permutation_each_epoch_and_follows_the_seed():
    data = TensorDataset(tinymm.arange(12))
    loader = DataLoader(data, batch_size=5, shuffle=True)
    tinymm.manual_seed(3)
    epoch1 = np.concatenate([b[0].numpy() for b in loader])
    epoch2 = np.concatenate([b[0].numpy() for b in loader])
    assert sorted(epoch1) == list(range(12)) and sorted(epoch2) == list(range(12))
    assert not np.array_equal(epoch1, epoch2)
    tinymm.manual_seed(3)
    np.testing.assert_array_equal(np.concatenate([b[0].numpy() for b in loader]), epoch1)
    g = tinymm.Generator().manual_seed(9)
    own = DataLoader(data, batch_size=12, shuffle=True, generator=g)
    first = next(iter(own))[0].numpy()
    g.manual_seed(9)
    np.testing.assert_array_equal(next(iter(own))[0].numpy(), first)


def test_default_collate_of_dicts_numbers_and_arrays():
    batch = next(iter(DataLoader(Squares(), batch_size=3)))
    assert batch["x"].shape == (3, 2) and batch["x"].dtype == tinymm.float32
    assert batch["y"].dtype == tinymm.int64 and batch["y"].tolist() == [0, 1, 4]
    assert batch["w"].dtype == tinymm.float64  # Python floats, as PyTorch's collate
    pairs = DataLoader([(np.ones(2), 1), (np.zeros(2), 0)], batch_size=2,
                       collate_fn=lambda samples: len(samples))
    assert next(iter(pairs)) == 2


def test_random_split_and_subset_cover_the_data_once():
    data = TensorDataset(tinymm.arange(10))
    tinymm.manual_seed(0)
    a, b = random_split(data, [7, 3])
    seen = sorted([a[i][0].item() for i in range(len(a))] + [b[i][0].item() for i in range(3)])
    assert seen == list(range(10)) and len(a) == 7
    parts = random_split(data, [0.5, 0.3, 0.2], generator=tinymm.Generator().manual_seed(1))
    assert [len(p) for p in parts] == [5, 3, 2]
    assert Subset(data, [4, 2])[1][0].item() == 2
    with pytest.raises(ValueError, match="sum to 9"):
        random_split(data, [4, 5])


def test_save_and_load_round_trip_nested_state(tmp_path):
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    opt = optim.Adam(model.parameters(), lr=0.01)
    model(tinymm.randn(5, 3)).sum().backward()
    opt.step()
    checkpoint = {"epoch": 3, "model": model.state_dict(), "optimizer": opt.state_dict(),
                  "losses": [1.5, 0.25, float("inf")], "note": "run a", "best": None,
                  "pair": (1, tinymm.tensor([1, 2])), "ordered": OrderedDict(b=1, a=2),
                  "big": 2**70, "flag": True, "scalar": np.float32(0.5)}
    path = tmp_path / "ckpt.pt"
    tinymm.save(checkpoint, path)
    back = tinymm.load(path)
    assert back["epoch"] == 3 and back["losses"] == [1.5, 0.25, float("inf")]
    assert back["note"] == "run a" and back["best"] is None and back["big"] == 2**70
    assert isinstance(back["pair"], tuple) and back["pair"][1].tolist() == [1, 2]
    assert list(back["ordered"]) == ["b", "a"] and back["flag"] is True
    assert back["scalar"] == np.float32(0.5) and back["scalar"].dtype == np.float32
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(back["model"][key], value)
    fresh = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    fresh.load_state_dict(back["model"])
    opt2 = optim.Adam(fresh.parameters(), lr=0.5)
    opt2.load_state_dict(back["optimizer"])
    assert opt2.param_groups[0]["lr"] == 0.01 and opt2.param_groups[0]["betas"] == (0.9, 0.999)
    state = next(iter(opt2.state.values()))
    assert state["step"] == 1


def test_save_refuses_objects_it_cannot_store_safely(tmp_path):
    with pytest.raises(TypeError, match=r"Sequential.*never pickles.*state_dict\(\)"):
        tinymm.save(nn.Sequential(nn.Linear(2, 2)), tmp_path / "m.pt")
    with pytest.raises(TypeError, match=r"adam.state_dict\(\)"):
        tinymm.save(optim.Adam([nn.Parameter(np.zeros(2))]), tmp_path / "o.pt")
    with pytest.raises(TypeError, match=r"function at obj\['fn'\]\[1\]"):
        tinymm.save({"fn": [1, lambda: 0]}, tmp_path / "f.pt")
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_save_writes_plain_safetensors(tmp_path):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    tinymm.save({"w": tinymm.ones(2, 3)}, tmp_path / "w.safetensors")
    arrays = safetensors_numpy.load_file(str(tmp_path / "w.safetensors"))
    np.testing.assert_array_equal(arrays["t0"], np.ones((2, 3), np.float32))
