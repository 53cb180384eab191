# ruff: noqa: N806, UP008, B007 - names and idioms kept as pytorch/examples writes them
"""pytorch/examples ``dcgan/main.py``: the generator and discriminator (ConvTranspose2d,
BatchNorm2d, LeakyReLU), ``weights_init``, BCELoss with ``label.fill_``, two Adam optimizers
and ``fake.detach()``, at 16x16 with two transposed-conv stages, on synthetic images."""

import numpy as np


def main(torch, setup, steps=3):
    nn = torch.nn
    optim = torch.optim
    nz, ngf, ndf, nc = 8, 4, 4, 3
    device = torch.device("cpu")

    # custom weights initialization called on netG and netD
    def weights_init(m):
        classname = m.__class__.__name__
        if classname.find('Conv') != -1:
            torch.nn.init.normal_(m.weight, 0.0, 0.02)
        elif classname.find('BatchNorm') != -1:
            torch.nn.init.normal_(m.weight, 1.0, 0.02)
            torch.nn.init.zeros_(m.bias)

    class Generator(nn.Module):
        def __init__(self):
            super(Generator, self).__init__()
            self.main = nn.Sequential(
                # input is Z, going into a convolution
                nn.ConvTranspose2d(nz, ngf * 4, 4, 1, 0, bias=False),
                nn.BatchNorm2d(ngf * 4),
                nn.ReLU(True),
                # state size. (ngf*4) x 4 x 4
                nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ngf * 2),
                nn.ReLU(True),
                # state size. (ngf*2) x 8 x 8
                nn.ConvTranspose2d(ngf * 2, nc, 4, 2, 1, bias=False),
                nn.Tanh()
                # state size. (nc) x 16 x 16
            )

        def forward(self, input):
            output = self.main(input)
            return output

    class Discriminator(nn.Module):
        def __init__(self):
            super(Discriminator, self).__init__()
            self.main = nn.Sequential(
                # input is (nc) x 16 x 16
                nn.Conv2d(nc, ndf, 4, 2, 1, bias=False),
                nn.LeakyReLU(0.2, inplace=True),
                # state size. (ndf) x 8 x 8
                nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ndf * 2),
                nn.LeakyReLU(0.2, inplace=True),
                # state size. (ndf*2) x 4 x 4
                nn.Conv2d(ndf * 2, 1, 4, 1, 0, bias=False),
                nn.Sigmoid()
            )

        def forward(self, input):
            output = self.main(input)
            return output.view(-1, 1).squeeze(1)

    netG = Generator().to(device)
    netG.apply(weights_init)
    netD = Discriminator().to(device)
    netD.apply(weights_init)
    setup([*netG.parameters(), *netD.parameters()])

    criterion = nn.BCELoss()
    rng = np.random.default_rng(0)
    batch_size = 4
    fixed_noise = torch.from_numpy(rng.standard_normal((batch_size, nz, 1, 1), np.float32))
    real_label = 1
    fake_label = 0

    # setup optimizer
    optimizerD = optim.Adam(netD.parameters(), lr=0.0002, betas=(0.5, 0.999))
    optimizerG = optim.Adam(netG.parameters(), lr=0.0002, betas=(0.5, 0.999))
    dataloader = [(torch.from_numpy(rng.uniform(-1, 1, (batch_size, nc, 16, 16))
                                    .astype(np.float32)), None) for _ in range(steps)]
    losses = []
    for epoch in range(2):
        for i, data in enumerate(dataloader, 0):
            ############################
            # (1) Update D network: maximize log(D(x)) + log(1 - D(G(z)))
            ###########################
            # train with real
            netD.zero_grad()
            real_cpu = data[0].to(device)
            batch_size = real_cpu.size(0)
            label = torch.full((batch_size,), real_label,
                               dtype=real_cpu.dtype, device=device)

            output = netD(real_cpu)
            errD_real = criterion(output, label)
            errD_real.backward()
            D_x = output.mean().item()

            # train with fake (the program's torch.randn, drawn from NumPy for both runs)
            noise = torch.from_numpy(rng.standard_normal((batch_size, nz, 1, 1), np.float32))
            fake = netG(noise)
            label.fill_(fake_label)
            output = netD(fake.detach())
            errD_fake = criterion(output, label)
            errD_fake.backward()
            D_G_z1 = output.mean().item()
            errD = errD_real + errD_fake
            optimizerD.step()

            ############################
            # (2) Update G network: maximize log(D(G(z)))
            ###########################
            netG.zero_grad()
            label.fill_(real_label)  # fake labels are real for generator cost
            output = netD(fake)
            errG = criterion(output, label)
            errG.backward()
            D_G_z2 = output.mean().item()
            optimizerG.step()
            losses.extend([errD.item(), errG.item(), D_x, D_G_z1, D_G_z2])
    fake = netG(fixed_noise)
    return losses + [float(fake.detach().abs().mean())]
