# ruff: noqa: N812, N806, UP008 - names and idioms kept as pytorch/examples writes them
"""pytorch/examples ``vae/main.py``: the fc VAE (encode, ``reparameterize`` with
``torch.randn_like``, decode), ``loss_function`` with ``F.binary_cross_entropy(...,
reduction='sum')`` plus the KL term, the train and test loops, at 64 pixels with a 4-d
latent, on synthetic images in [0, 1]."""

import numpy as np


def main(torch, setup, epochs=2):
    nn = torch.nn
    F = torch.nn.functional
    optim = torch.optim
    device = torch.device("cpu")
    log_interval = 2
    rng = np.random.default_rng(0)

    def images(n):
        return torch.from_numpy(rng.random((n, 1, 8, 8), dtype=np.float32))

    train_loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(images(24), torch.zeros(24)), batch_size=8)
    test_loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(images(16), torch.zeros(16)), batch_size=8)

    class VAE(nn.Module):
        def __init__(self):
            super(VAE, self).__init__()

            self.fc1 = nn.Linear(64, 40)
            self.fc21 = nn.Linear(40, 4)
            self.fc22 = nn.Linear(40, 4)
            self.fc3 = nn.Linear(4, 40)
            self.fc4 = nn.Linear(40, 64)

        def encode(self, x):
            h1 = F.relu(self.fc1(x))
            return self.fc21(h1), self.fc22(h1)

        def reparameterize(self, mu, logvar):
            std = torch.exp(0.5*logvar)
            eps = torch.randn_like(std)
            return mu + eps*std

        def decode(self, z):
            h3 = F.relu(self.fc3(z))
            return torch.sigmoid(self.fc4(h3))

        def forward(self, x):
            mu, logvar = self.encode(x.view(-1, 64))
            z = self.reparameterize(mu, logvar)
            return self.decode(z), mu, logvar

    model = VAE().to(device)
    setup(model)
    optimizer = optim.Adam(model.parameters(), lr=1e-3)

    # Reconstruction + KL divergence losses summed over all elements and batch
    def loss_function(recon_x, x, mu, logvar):
        BCE = F.binary_cross_entropy(recon_x, x.view(-1, 64), reduction='sum')

        # see Appendix B from VAE paper:
        # Kingma and Welling. Auto-Encoding Variational Bayes. ICLR, 2014
        # https://arxiv.org/abs/1312.6114
        # 0.5 * sum(1 + log(sigma^2) - mu^2 - sigma^2)
        KLD = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())

        return BCE + KLD

    losses = []

    def train(epoch):
        model.train()
        train_loss = 0
        for batch_idx, (data, _) in enumerate(train_loader):
            data = data.to(device)
            optimizer.zero_grad()
            recon_batch, mu, logvar = model(data)
            loss = loss_function(recon_batch, data, mu, logvar)
            loss.backward()
            train_loss += loss.item()
            optimizer.step()
            if batch_idx % log_interval == 0:
                losses.append(loss.item() / len(data))
        losses.append(train_loss / len(train_loader.dataset))

    def test(epoch):
        model.eval()
        test_loss = 0
        with torch.no_grad():
            for i, (data, _) in enumerate(test_loader):
                data = data.to(device)
                recon_batch, mu, logvar = model(data)
                test_loss += loss_function(recon_batch, data, mu, logvar).item()
                if i == 0:
                    n = min(data.size(0), 8)
                    comparison = torch.cat([data[:n],
                                          recon_batch.view(8, 1, 8, 8)[:n]])
                    losses.append(float(comparison.mean()))
        test_loss /= len(test_loader.dataset)
        losses.append(test_loss)

    for epoch in range(1, epochs + 1):
        train(epoch)
        test(epoch)
        with torch.no_grad():
            sample = torch.from_numpy(rng.standard_normal((8, 4), np.float32)).to(device)
            sample = model.decode(sample).cpu()
            losses.append(float(sample.mean()))
    return losses
