# ruff: noqa: B007 - loop variables are kept as the tutorials write them
"""pytorch/examples' MNIST network and loop: two convolutions, max-pooling, dropout,
log-softmax with F.nll_loss, Adadelta and a StepLR schedule (synthetic 28x28 digits)."""

import numpy as np


def main(torch, setup, epochs=2):
    nn = torch.nn
    F = torch.nn.functional
    optim = torch.optim
    StepLR = torch.optim.lr_scheduler.StepLR

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 8, 3, 1)
            self.conv2 = nn.Conv2d(8, 16, 3, 1)
            self.dropout1 = nn.Dropout(0.25)
            self.dropout2 = nn.Dropout(0.5)
            self.fc1 = nn.Linear(2304, 32)
            self.fc2 = nn.Linear(32, 10)

        def forward(self, x):
            x = self.conv1(x)
            x = F.relu(x)
            x = self.conv2(x)
            x = F.relu(x)
            x = F.max_pool2d(x, 2)
            x = self.dropout1(x)
            x = torch.flatten(x, 1)
            x = self.fc1(x)
            x = F.relu(x)
            x = self.dropout2(x)
            x = self.fc2(x)
            output = F.log_softmax(x, dim=1)
            return output

    rng = np.random.default_rng(2)
    data = torch.from_numpy(rng.standard_normal((12, 1, 28, 28)).astype(np.float32))
    target = torch.from_numpy(rng.integers(0, 10, 12))
    train_loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(data, target),
                                               batch_size=4)
    device = torch.device("cpu")
    model = Net().to(device)
    setup(model)
    optimizer = optim.Adadelta(model.parameters(), lr=1.0)
    scheduler = StepLR(optimizer, step_size=1, gamma=0.7)
    losses = []
    for epoch in range(1, epochs + 1):
        model.train()
        for batch_idx, (data, target) in enumerate(train_loader):
            data, target = data.to(device), target.to(device)
            optimizer.zero_grad()
            output = model(data)
            loss = F.nll_loss(output, target)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        scheduler.step()
        model.eval()
        test_loss = 0
        correct = 0
        with torch.no_grad():
            for data, target in train_loader:
                output = model(data)
                test_loss += F.nll_loss(output, target, reduction="sum").item()
                pred = output.argmax(dim=1, keepdim=True)
                correct += pred.eq(target.view_as(pred)).sum().item()
        losses.append(test_loss / len(train_loader.dataset))
    return losses
