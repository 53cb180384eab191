# ruff: noqa: N812, UP008, B007 - names and idioms kept as the tutorial writes them
"""The "Spatial Transformer Networks" tutorial: a localisation network regressing a 2x3 affine
matrix (initialised to the identity through ``.weight.data.zero_()`` and
``.bias.data.copy_``), ``F.affine_grid`` and ``F.grid_sample``, then the MNIST classifier
with ``nn.Dropout2d`` and ``F.dropout``, trained with SGD on ``F.nll_loss``, on synthetic
28x28 digits."""

import numpy as np


def main(torch, setup, steps=3):
    nn = torch.nn
    F = torch.nn.functional
    optim = torch.optim
    device = torch.device("cpu")

    class Net(nn.Module):
        def __init__(self):
            super(Net, self).__init__()
            self.conv1 = nn.Conv2d(1, 10, kernel_size=5)
            self.conv2 = nn.Conv2d(10, 20, kernel_size=5)
            self.conv2_drop = nn.Dropout2d()
            self.fc1 = nn.Linear(320, 50)
            self.fc2 = nn.Linear(50, 10)

            # Spatial transformer localization-network
            self.localization = nn.Sequential(
                nn.Conv2d(1, 8, kernel_size=7),
                nn.MaxPool2d(2, stride=2),
                nn.ReLU(True),
                nn.Conv2d(8, 10, kernel_size=5),
                nn.MaxPool2d(2, stride=2),
                nn.ReLU(True)
            )

            # Regressor for the 3 * 2 affine matrix
            self.fc_loc = nn.Sequential(
                nn.Linear(10 * 3 * 3, 32),
                nn.ReLU(True),
                nn.Linear(32, 3 * 2)
            )

            # Initialize the weights/bias with identity transformation
            self.fc_loc[2].weight.data.zero_()
            self.fc_loc[2].bias.data.copy_(torch.tensor([1, 0, 0, 0, 1, 0], dtype=torch.float))

        # Spatial transformer network forward function
        def stn(self, x):
            xs = self.localization(x)
            xs = xs.view(-1, 10 * 3 * 3)
            theta = self.fc_loc(xs)
            theta = theta.view(-1, 2, 3)

            grid = F.affine_grid(theta, x.size(), align_corners=False)
            x = F.grid_sample(x, grid, align_corners=False)

            return x

        def forward(self, x):
            # transform the input
            x = self.stn(x)

            # Perform the usual forward pass
            x = F.relu(F.max_pool2d(self.conv1(x), 2))
            x = F.relu(F.max_pool2d(self.conv2_drop(self.conv2(x)), 2))
            x = x.view(-1, 320)
            x = F.relu(self.fc1(x))
            x = F.dropout(x, training=self.training)
            x = self.fc2(x)
            return F.log_softmax(x, dim=1)

    model = Net().to(device)
    setup(model)
    optimizer = optim.SGD(model.parameters(), lr=0.01)
    rng = np.random.default_rng(0)
    train_loader = [(torch.from_numpy(rng.random((4, 1, 28, 28), np.float32)),
                     torch.from_numpy(rng.integers(0, 10, 4))) for _ in range(steps)]
    losses = []

    def train(epoch):
        model.train()
        for batch_idx, (data, target) in enumerate(train_loader):
            data, target = data.to(device), target.to(device)

            optimizer.zero_grad()
            output = model(data)
            loss = F.nll_loss(output, target)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())

    def test():
        with torch.no_grad():
            model.eval()
            test_loss = 0
            correct = 0
            for data, target in train_loader:
                data, target = data.to(device), target.to(device)
                output = model(data)

                # sum up batch loss
                test_loss += F.nll_loss(output, target, size_average=False).item()
                # get the index of the max log-probability
                pred = output.max(1, keepdim=True)[1]
                correct += pred.eq(target.view_as(pred)).sum().item()
            losses.extend([test_loss, correct])

    for epoch in range(1, 3):
        train(epoch)
        test()
    with torch.no_grad():
        transformed = model.stn(train_loader[0][0]).cpu()
    losses.append(float(transformed.abs().mean()))
    return losses
