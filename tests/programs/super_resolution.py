# ruff: noqa: UP008, B007, A001 - names and idioms kept as pytorch/examples writes them
"""pytorch/examples ``super_resolution``: ``model.py``'s sub-pixel network (Conv2d with tuple
arguments, ``nn.PixelShuffle``, ``init.orthogonal_`` with ``init.calculate_gain('relu')``) and
``main.py``'s train and test loops (MSELoss, Adam, PSNR with ``math.log10``), on synthetic
8x8 -> 16x16 image pairs instead of BSDS300."""

from math import log10

import numpy as np


def main(torch, setup, epochs=2):
    nn = torch.nn
    init = torch.nn.init
    optim = torch.optim
    device = torch.device("cpu")
    upscale_factor = 2

    class Net(nn.Module):
        def __init__(self, upscale_factor):
            super(Net, self).__init__()

            self.relu = nn.ReLU()
            self.conv1 = nn.Conv2d(1, 64, (5, 5), (1, 1), (2, 2))
            self.conv2 = nn.Conv2d(64, 64, (3, 3), (1, 1), (1, 1))
            self.conv3 = nn.Conv2d(64, 32, (3, 3), (1, 1), (1, 1))
            self.conv4 = nn.Conv2d(32, upscale_factor ** 2, (3, 3), (1, 1), (1, 1))
            self.pixel_shuffle = nn.PixelShuffle(upscale_factor)

            self._initialize_weights()

        def forward(self, x):
            x = self.relu(self.conv1(x))
            x = self.relu(self.conv2(x))
            x = self.relu(self.conv3(x))
            x = self.pixel_shuffle(self.conv4(x))
            return x

        def _initialize_weights(self):
            init.orthogonal_(self.conv1.weight, init.calculate_gain('relu'))
            init.orthogonal_(self.conv2.weight, init.calculate_gain('relu'))
            init.orthogonal_(self.conv3.weight, init.calculate_gain('relu'))
            init.orthogonal_(self.conv4.weight)

    rng = np.random.default_rng(0)

    def pairs(n):
        target = rng.random((n, 1, 16, 16), np.float32)
        low = target.reshape(n, 1, 8, 2, 8, 2).mean(axis=(3, 5))  # the downscaled input
        return [(torch.from_numpy(low[i:i + 2].copy()), torch.from_numpy(target[i:i + 2]))
                for i in range(0, n, 2)]

    training_data_loader, testing_data_loader = pairs(6), pairs(4)
    model = Net(upscale_factor=upscale_factor).to(device)
    setup(model)
    criterion = nn.MSELoss()
    optimizer = optim.Adam(model.parameters(), lr=0.01)
    losses = []

    def train(epoch):
        epoch_loss = 0
        for iteration, batch in enumerate(training_data_loader, 1):
            input, target = batch[0].to(device), batch[1].to(device)

            optimizer.zero_grad()
            loss = criterion(model(input), target)
            epoch_loss += loss.item()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        losses.append(epoch_loss / len(training_data_loader))

    def test():
        avg_psnr = 0
        with torch.no_grad():
            for batch in testing_data_loader:
                input, target = batch[0].to(device), batch[1].to(device)

                prediction = model(input)
                mse = criterion(prediction, target)
                psnr = 10 * log10(1 / mse.item())
                avg_psnr += psnr
        losses.append(avg_psnr / len(testing_data_loader))

    for epoch in range(1, epochs + 1):
        train(epoch)
        test()
    return losses
