# ruff: noqa: N803, N806, UP008, B007 - names and idioms kept as pytorch/examples writes them
"""pytorch/examples ``fast_neural_style``: ``transformer_net.py``'s TransformerNet
(ReflectionPad2d convolutions, ``InstanceNorm2d(affine=True)``, five residual blocks,
nearest ``F.interpolate`` upsampling), ``utils.gram_matrix`` (``bmm``) and
``utils.normalize_batch`` (``new_tensor``, in-place ``div_``), and ``neural_style.py``'s
training loop (content loss on relu2_2, style loss on the Gram matrices of every slice, Adam).
``vgg.py``'s pretrained VGG16 is replaced by a small frozen conv stack split into the same
four named slices, channels are divided by 8 and images are 16x16 (no downloads)."""

from collections import namedtuple

import numpy as np


def main(torch, setup, steps=3, width=4):
    nn = torch.nn

    class TransformerNet(torch.nn.Module):
        def __init__(self):
            super(TransformerNet, self).__init__()
            # Initial convolution layers
            self.conv1 = ConvLayer(3, width, kernel_size=9, stride=1)
            self.in1 = torch.nn.InstanceNorm2d(width, affine=True)
            self.conv2 = ConvLayer(width, 2 * width, kernel_size=3, stride=2)
            self.in2 = torch.nn.InstanceNorm2d(2 * width, affine=True)
            self.conv3 = ConvLayer(2 * width, 4 * width, kernel_size=3, stride=2)
            self.in3 = torch.nn.InstanceNorm2d(4 * width, affine=True)
            # Residual layers
            self.res1 = ResidualBlock(4 * width)
            self.res2 = ResidualBlock(4 * width)
            self.res3 = ResidualBlock(4 * width)
            self.res4 = ResidualBlock(4 * width)
            self.res5 = ResidualBlock(4 * width)
            # Upsampling Layers
            self.deconv1 = UpsampleConvLayer(4 * width, 2 * width, kernel_size=3, stride=1,
                                             upsample=2)
            self.in4 = torch.nn.InstanceNorm2d(2 * width, affine=True)
            self.deconv2 = UpsampleConvLayer(2 * width, width, kernel_size=3, stride=1,
                                             upsample=2)
            self.in5 = torch.nn.InstanceNorm2d(width, affine=True)
            self.deconv3 = ConvLayer(width, 3, kernel_size=9, stride=1)
            # Non-linearities
            self.relu = torch.nn.ReLU()

        def forward(self, X):
            y = self.relu(self.in1(self.conv1(X)))
            y = self.relu(self.in2(self.conv2(y)))
            y = self.relu(self.in3(self.conv3(y)))
            y = self.res1(y)
            y = self.res2(y)
            y = self.res3(y)
            y = self.res4(y)
            y = self.res5(y)
            y = self.relu(self.in4(self.deconv1(y)))
            y = self.relu(self.in5(self.deconv2(y)))
            y = self.deconv3(y)
            return y

    class ConvLayer(torch.nn.Module):
        def __init__(self, in_channels, out_channels, kernel_size, stride):
            super(ConvLayer, self).__init__()
            reflection_padding = kernel_size // 2
            self.reflection_pad = torch.nn.ReflectionPad2d(reflection_padding)
            self.conv2d = torch.nn.Conv2d(in_channels, out_channels, kernel_size, stride)

        def forward(self, x):
            out = self.reflection_pad(x)
            out = self.conv2d(out)
            return out

    class ResidualBlock(torch.nn.Module):
        """ResidualBlock
        introduced in: https://arxiv.org/abs/1512.03385
        recommended architecture: http://torch.ch/blog/2016/02/04/resnets.html
        """

        def __init__(self, channels):
            super(ResidualBlock, self).__init__()
            self.conv1 = ConvLayer(channels, channels, kernel_size=3, stride=1)
            self.in1 = torch.nn.InstanceNorm2d(channels, affine=True)
            self.conv2 = ConvLayer(channels, channels, kernel_size=3, stride=1)
            self.in2 = torch.nn.InstanceNorm2d(channels, affine=True)
            self.relu = torch.nn.ReLU()

        def forward(self, x):
            residual = x
            out = self.relu(self.in1(self.conv1(x)))
            out = self.in2(self.conv2(out))
            out = out + residual
            return out

    class UpsampleConvLayer(torch.nn.Module):
        """UpsampleConvLayer
        Upsamples the input and then does a convolution. This method gives better results
        compared to ConvTranspose2d.
        ref: http://distill.pub/2016/deconv-checkerboard/
        """

        def __init__(self, in_channels, out_channels, kernel_size, stride, upsample=None):
            super(UpsampleConvLayer, self).__init__()
            self.upsample = upsample
            reflection_padding = kernel_size // 2
            self.reflection_pad = torch.nn.ReflectionPad2d(reflection_padding)
            self.conv2d = torch.nn.Conv2d(in_channels, out_channels, kernel_size, stride)

        def forward(self, x):
            x_in = x
            if self.upsample:
                x_in = torch.nn.functional.interpolate(x_in, mode='nearest',
                                                       scale_factor=self.upsample)
            out = self.reflection_pad(x_in)
            out = self.conv2d(out)
            return out

    class Vgg16(torch.nn.Module):
        def __init__(self, requires_grad=False):
            super(Vgg16, self).__init__()
            vgg_pretrained_features = nn.Sequential(
                nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(inplace=True),
                nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(inplace=True),
                nn.MaxPool2d(2, 2),
                nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(inplace=True),
                nn.MaxPool2d(2, 2),
                nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(inplace=True),
                nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(inplace=True))
            self.slice1 = torch.nn.Sequential()
            self.slice2 = torch.nn.Sequential()
            self.slice3 = torch.nn.Sequential()
            self.slice4 = torch.nn.Sequential()
            for x in range(2):
                self.slice1.add_module(str(x), vgg_pretrained_features[x])
            for x in range(2, 4):
                self.slice2.add_module(str(x), vgg_pretrained_features[x])
            for x in range(4, 7):
                self.slice3.add_module(str(x), vgg_pretrained_features[x])
            for x in range(7, 12):
                self.slice4.add_module(str(x), vgg_pretrained_features[x])
            if not requires_grad:
                for param in self.parameters():
                    param.requires_grad = False

        def forward(self, X):
            h = self.slice1(X)
            h_relu1_2 = h
            h = self.slice2(h)
            h_relu2_2 = h
            h = self.slice3(h)
            h_relu3_3 = h
            h = self.slice4(h)
            h_relu4_3 = h
            vgg_outputs = namedtuple("VggOutputs", ['relu1_2', 'relu2_2', 'relu3_3', 'relu4_3'])
            out = vgg_outputs(h_relu1_2, h_relu2_2, h_relu3_3, h_relu4_3)
            return out

    def gram_matrix(y):
        (b, ch, h, w) = y.size()
        features = y.view(b, ch, w * h)
        features_t = features.transpose(1, 2)
        gram = features.bmm(features_t) / (ch * h * w)
        return gram

    def normalize_batch(batch):
        # normalize using imagenet mean and std
        mean = batch.new_tensor([0.485, 0.456, 0.406]).view(-1, 1, 1)
        std = batch.new_tensor([0.229, 0.224, 0.225]).view(-1, 1, 1)
        batch = batch.div_(255.0)
        return (batch - mean) / std

    device = torch.device("cpu")
    batch_size, content_weight, style_weight, lr = 2, 1e5, 1e10, 1e-3
    rng = np.random.default_rng(0)
    train_loader = [(torch.from_numpy(rng.uniform(0, 255, (batch_size, 3, 16, 16))
                                      .astype(np.float32)), 0) for _ in range(steps)]
    transformer = TransformerNet().to(device)
    vgg = Vgg16(requires_grad=False).to(device)
    setup([*transformer.parameters(), *vgg.parameters()])
    optimizer = torch.optim.Adam(transformer.parameters(), lr)
    mse_loss = torch.nn.MSELoss()

    style = torch.from_numpy(rng.uniform(0, 255, (1, 3, 16, 16)).astype(np.float32))
    style = style.repeat(batch_size, 1, 1, 1).to(device)
    features_style = vgg(normalize_batch(style))
    gram_style = [gram_matrix(y) for y in features_style]
    losses = []
    for e in range(2):
        transformer.train()
        agg_content_loss = 0.
        agg_style_loss = 0.
        count = 0
        for batch_id, (x, _) in enumerate(train_loader):
            n_batch = len(x)
            count += n_batch
            optimizer.zero_grad()

            x = x.to(device)
            y = transformer(x)

            y = normalize_batch(y)
            x = normalize_batch(x.clone())  # the loader keeps its batches (the original reloads)

            features_y = vgg(y)
            features_x = vgg(x)

            content_loss = content_weight * mse_loss(features_y.relu2_2, features_x.relu2_2)

            style_loss = 0.
            for ft_y, gm_s in zip(features_y, gram_style):
                gm_y = gram_matrix(ft_y)
                style_loss += mse_loss(gm_y, gm_s[:n_batch, :, :])
            style_loss *= style_weight

            total_loss = content_loss + style_loss
            total_loss.backward()
            optimizer.step()

            agg_content_loss += content_loss.item()
            agg_style_loss += style_loss.item()
            losses.extend([content_loss.item(), style_loss.item()])
        losses.extend([agg_content_loss / count, agg_style_loss / count])
    transformer.eval()
    with torch.no_grad():
        output = transformer(train_loader[0][0]).cpu()
    losses.append(float(output.clamp(0, 255).mean()))
    return losses
