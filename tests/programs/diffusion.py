# ruff: noqa: N812, B007 - names and idioms kept as the blog writes them
"""The Annotated Diffusion Model's (Hugging Face blog) DDPM code: ``linear_beta_schedule``,
the schedule tensors (``torch.cumprod(..., axis=0)``, ``F.pad(..., value=1.0)``, ``sqrt``),
``extract`` (``gather`` and a reshape), ``q_sample``, ``p_losses`` with the huber loss,
``SinusoidalPositionEmbeddings``, the ``@torch.no_grad()`` sampling loop ``p_sample`` /
``p_sample_loop``, and the Adam training loop. The blog's U-Net is replaced by a small
time-conditioned conv net (GroupNorm, SiLU, GELU MLP); timesteps and the starting noise
come from NumPy (the run's data), and ``torch.randn_like`` from the harness's shared
stream."""

import math

import numpy as np


def main(torch, setup, steps=4, timesteps=20):
    nn = torch.nn
    F = torch.nn.functional

    def linear_beta_schedule(timesteps):
        beta_start = 0.0001
        beta_end = 0.02
        return torch.linspace(beta_start, beta_end, timesteps)

    # define beta schedule
    betas = linear_beta_schedule(timesteps=timesteps)

    # define alphas
    alphas = 1. - betas
    alphas_cumprod = torch.cumprod(alphas, axis=0)
    alphas_cumprod_prev = F.pad(alphas_cumprod[:-1], (1, 0), value=1.0)
    sqrt_recip_alphas = torch.sqrt(1.0 / alphas)

    # calculations for diffusion q(x_t | x_{t-1}) and others
    sqrt_alphas_cumprod = torch.sqrt(alphas_cumprod)
    sqrt_one_minus_alphas_cumprod = torch.sqrt(1. - alphas_cumprod)

    # calculations for posterior q(x_{t-1} | x_t, x_0)
    posterior_variance = betas * (1. - alphas_cumprod_prev) / (1. - alphas_cumprod)

    def extract(a, t, x_shape):
        batch_size = t.shape[0]
        out = a.gather(-1, t.cpu())
        return out.reshape(batch_size, *((1,) * (len(x_shape) - 1))).to(t.device)

    # forward diffusion (using the nice property)
    def q_sample(x_start, t, noise=None):
        if noise is None:
            noise = torch.randn_like(x_start)

        sqrt_alphas_cumprod_t = extract(sqrt_alphas_cumprod, t, x_start.shape)
        sqrt_one_minus_alphas_cumprod_t = extract(
            sqrt_one_minus_alphas_cumprod, t, x_start.shape
        )

        return sqrt_alphas_cumprod_t * x_start + sqrt_one_minus_alphas_cumprod_t * noise

    def p_losses(denoise_model, x_start, t, noise=None, loss_type="l1"):
        if noise is None:
            noise = torch.randn_like(x_start)

        x_noisy = q_sample(x_start=x_start, t=t, noise=noise)
        predicted_noise = denoise_model(x_noisy, t)

        if loss_type == 'l1':
            loss = F.l1_loss(noise, predicted_noise)
        elif loss_type == 'l2':
            loss = F.mse_loss(noise, predicted_noise)
        elif loss_type == "huber":
            loss = F.smooth_l1_loss(noise, predicted_noise)
        else:
            raise NotImplementedError()

        return loss

    class SinusoidalPositionEmbeddings(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.dim = dim

        def forward(self, time):
            device = time.device
            half_dim = self.dim // 2
            embeddings = math.log(10000) / (half_dim - 1)
            embeddings = torch.exp(torch.arange(half_dim, device=device) * -embeddings)
            embeddings = time[:, None] * embeddings[None, :]
            embeddings = torch.cat((embeddings.sin(), embeddings.cos()), dim=-1)
            return embeddings

    class Denoiser(nn.Module):
        def __init__(self, channels=1, dim=8, time_dim=16):
            super().__init__()
            self.time_mlp = nn.Sequential(
                SinusoidalPositionEmbeddings(dim),
                nn.Linear(dim, time_dim),
                nn.GELU(),
                nn.Linear(time_dim, time_dim),
            )
            self.init_conv = nn.Conv2d(channels, time_dim, 3, padding=1)
            self.norm = nn.GroupNorm(4, time_dim)
            self.act = nn.SiLU()
            self.final_conv = nn.Conv2d(time_dim, channels, 1)

        def forward(self, x, time):
            t = self.time_mlp(time)
            h = self.init_conv(x) + t[:, :, None, None]
            h = self.act(self.norm(h))
            return self.final_conv(h)

    rng = np.random.default_rng(0)
    image_size, channels, batch_size = 8, 1, 4
    model = Denoiser(channels)
    setup(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    dataloader = [{"pixel_values": torch.from_numpy(rng.uniform(-1, 1, (batch_size, channels,
                   image_size, image_size)).astype(np.float32))} for _ in range(steps)]

    @torch.no_grad()
    def p_sample(model, x, t, t_index):
        betas_t = extract(betas, t, x.shape)
        sqrt_one_minus_alphas_cumprod_t = extract(
            sqrt_one_minus_alphas_cumprod, t, x.shape
        )
        sqrt_recip_alphas_t = extract(sqrt_recip_alphas, t, x.shape)

        # Equation 11 in the paper
        # Use our model (noise predictor) to predict the mean
        model_mean = sqrt_recip_alphas_t * (
            x - betas_t * model(x, t) / sqrt_one_minus_alphas_cumprod_t
        )

        if t_index == 0:
            return model_mean
        else:
            posterior_variance_t = extract(posterior_variance, t, x.shape)
            noise = torch.randn_like(x)
            # Algorithm 2 line 4:
            return model_mean + torch.sqrt(posterior_variance_t) * noise

    # Algorithm 2 (including returning all images)
    @torch.no_grad()
    def p_sample_loop(model, shape):
        device = next(model.parameters()).device

        b = shape[0]
        # start from pure noise (for each example in the batch)
        img = torch.from_numpy(rng.standard_normal(shape).astype(np.float32)).to(device)
        imgs = []

        for i in reversed(range(0, timesteps)):
            img = p_sample(model, img, torch.full((b,), i, device=device, dtype=torch.long), i)
            imgs.append(img.cpu().numpy())
        return imgs

    losses = []
    for epoch in range(2):
        for step, batch in enumerate(dataloader):
            optimizer.zero_grad()

            batch_size = batch["pixel_values"].shape[0]
            batch = batch["pixel_values"]

            # Algorithm 1 line 3: sample t uniformally for every example in the batch
            t = torch.from_numpy(rng.integers(0, timesteps, (batch_size,))).long()

            loss = p_losses(model, batch, t, loss_type="huber")
            losses.append(loss.item())

            loss.backward()
            optimizer.step()
    samples = p_sample_loop(model, shape=(2, channels, image_size, image_size))
    return losses + [float(np.abs(samples[-1]).mean()), float(posterior_variance[5])]
