# ruff: noqa: B007 - loop variables are kept as the tutorials write them
"""The "Quickstart" tutorial's FashionMNIST loop (train and test functions, DataLoader over
a data set), with synthetic 28x28 images."""

import numpy as np


def main(torch, setup, epochs=2):
    nn = torch.nn
    from_numpy = torch.from_numpy
    TensorDataset = torch.utils.data.TensorDataset
    DataLoader = torch.utils.data.DataLoader

    rng = np.random.default_rng(1)
    training_data = TensorDataset(from_numpy(rng.random((96, 1, 28, 28), dtype=np.float32)),
                                  from_numpy(rng.integers(0, 10, 96)))
    test_data = TensorDataset(from_numpy(rng.random((40, 1, 28, 28), dtype=np.float32)),
                              from_numpy(rng.integers(0, 10, 40)))
    batch_size = 32
    train_dataloader = DataLoader(training_data, batch_size=batch_size)
    test_dataloader = DataLoader(test_data, batch_size=batch_size)
    device = "cuda" if torch.cuda.is_available() else "cpu"

    class NeuralNetwork(nn.Module):
        def __init__(self):
            super().__init__()
            self.flatten = nn.Flatten()
            self.linear_relu_stack = nn.Sequential(
                nn.Linear(28 * 28, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                nn.Linear(512, 10),
            )

        def forward(self, x):
            x = self.flatten(x)
            logits = self.linear_relu_stack(x)
            return logits

    model = NeuralNetwork().to(device)
    setup(model)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-1)
    losses = []

    def train(dataloader, model, loss_fn, optimizer):
        model.train()
        for batch, (X, y) in enumerate(dataloader):
            X, y = X.to(device), y.to(device)
            pred = model(X)
            loss = loss_fn(pred, y)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            losses.append(loss.item())

    def test(dataloader, model, loss_fn):
        num_batches = len(dataloader)
        model.eval()
        test_loss, correct = 0, 0
        with torch.no_grad():
            for X, y in dataloader:
                X, y = X.to(device), y.to(device)
                pred = model(X)
                test_loss += loss_fn(pred, y).item()
                correct += (pred.argmax(1) == y).type(torch.float).sum().item()
        return test_loss / num_batches, correct

    for t in range(epochs):
        train(train_dataloader, model, loss_fn, optimizer)
        losses.extend(test(test_dataloader, model, loss_fn))
    return losses
