# ruff: noqa: UP008, B007, E501 - names and idioms kept as pytorch/examples writes them
"""pytorch/examples ``siamese_network``: a ``Dataset`` subclass yielding image pairs and a
same/different target, SiameseNetwork (a ResNet trunk cut with ``list(children())[:-1]``,
``torch.cat`` of the two embeddings, an MLP head with xavier_uniform_ and ``bias.data.fill_``
through ``apply``, Sigmoid), BCELoss, Adadelta with StepLR, and the test loop with
``torch.where(outputs > 0.5, 1, 0)``. torchvision's resnet18 is replaced by a two-block
ResNet-shaped trunk (conv1, bn1, relu, maxpool, layer1, avgpool, fc) and MNIST by synthetic
14x14 digits."""

import numpy as np


def main(torch, setup, epochs=2):
    nn = torch.nn
    optim = torch.optim
    StepLR = torch.optim.lr_scheduler.StepLR
    Dataset = torch.utils.data.Dataset
    device = torch.device("cpu")

    class TinyResNet(nn.Module):
        """resnet18's child order and names at one block, for the trunk surgery below."""

        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 8, kernel_size=7, stride=2, padding=3, bias=False)
            self.bn1 = nn.BatchNorm2d(8)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
            self.layer1 = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, bias=False),
                                        nn.BatchNorm2d(8), nn.ReLU(inplace=True))
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(8, 1000)

    class SiameseNetwork(nn.Module):
        def __init__(self):
            super(SiameseNetwork, self).__init__()
            # get resnet model
            self.resnet = TinyResNet()

            # over-write the first conv layer to be able to read MNIST images
            # as resnet18 reads (3,x,x) where 3 is RGB channels
            # whereas MNIST has (1,x,x) where 1 is a gray-scale channel
            self.resnet.conv1 = nn.Conv2d(1, 8, kernel_size=(7, 7), stride=(2, 2),
                                          padding=(3, 3), bias=False)
            self.fc_in_features = self.resnet.fc.in_features

            # remove the last layer of resnet18 (linear layer which is before avgpool layer)
            self.resnet = torch.nn.Sequential(*(list(self.resnet.children())[:-1]))

            # add linear layers to compare between the features of the two images
            self.fc = nn.Sequential(
                nn.Linear(self.fc_in_features * 2, 16),
                nn.ReLU(inplace=True),
                nn.Linear(16, 1),
            )

            self.sigmoid = nn.Sigmoid()

            # initialize the weights
            self.resnet.apply(self.init_weights)
            self.fc.apply(self.init_weights)

        def init_weights(self, m):
            if isinstance(m, nn.Linear):
                torch.nn.init.xavier_uniform_(m.weight)
                m.bias.data.fill_(0.01)

        def forward_once(self, x):
            output = self.resnet(x)
            output = output.view(output.size()[0], -1)
            return output

        def forward(self, input1, input2):
            # get two images' features
            output1 = self.forward_once(input1)
            output2 = self.forward_once(input2)

            # concatenate both images' features
            output = torch.cat((output1, output2), 1)

            # pass the concatenation to the linear layers
            output = self.fc(output)

            # pass the out of the linear layers to sigmoid layer
            output = self.sigmoid(output)

            return output

    class APP_MATCHER(Dataset):  # noqa: N801 - the example's name
        def __init__(self, n, seed):
            super(APP_MATCHER, self).__init__()
            rng = np.random.default_rng(seed)
            self.images = rng.random((n, 1, 14, 14), np.float32)
            self.partners = rng.integers(0, n, n)
            self.same = rng.random(n) < 0.5

        def __len__(self):
            return len(self.images)

        def __getitem__(self, index):
            image_1 = torch.from_numpy(self.images[index])
            if self.same[index]:  # a noisy copy counts as the same digit
                image_2 = torch.clamp(image_1 + 0.1 * torch.from_numpy(
                    np.sin(self.images[index] * 7.0)), 0, 1)
                target = torch.tensor(1, dtype=torch.float)
            else:
                image_2 = torch.from_numpy(self.images[self.partners[index]])
                target = torch.tensor(0, dtype=torch.float)
            return image_1, image_2, target

    train_loader = torch.utils.data.DataLoader(APP_MATCHER(12, 0), batch_size=4)
    test_loader = torch.utils.data.DataLoader(APP_MATCHER(8, 1), batch_size=4)
    model = SiameseNetwork().to(device)
    setup(model)
    optimizer = optim.Adadelta(model.parameters(), lr=1.0)
    losses = []

    def train(model, device, train_loader, optimizer, epoch):
        model.train()

        # we aren't using `TripletLoss` as the MNIST dataset is simple, so `BCELoss` can do the trick.
        criterion = nn.BCELoss()

        for batch_idx, (images_1, images_2, targets) in enumerate(train_loader):
            images_1, images_2, targets = images_1.to(device), images_2.to(device), targets.to(device)
            optimizer.zero_grad()
            outputs = model(images_1, images_2).squeeze()
            loss = criterion(outputs, targets)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())

    def test(model, device, test_loader):
        model.eval()
        test_loss = 0
        correct = 0

        # we aren't using `TripletLoss` as the MNIST dataset is simple, so `BCELoss` can do the trick.
        criterion = nn.BCELoss()

        with torch.no_grad():
            for (images_1, images_2, targets) in test_loader:
                images_1, images_2, targets = images_1.to(device), images_2.to(device), targets.to(device)
                outputs = model(images_1, images_2).squeeze()
                test_loss += criterion(outputs, targets).sum().item()  # sum up batch loss
                pred = torch.where(outputs > 0.5, 1, 0)  # get the index of the max log-probability
                correct += pred.eq(targets.view_as(pred)).sum().item()

        test_loss /= len(test_loader.dataset)
        losses.extend([test_loss, correct])

    scheduler = StepLR(optimizer, step_size=1, gamma=0.7)
    for epoch in range(1, epochs + 1):
        train(model, device, train_loader, optimizer, epoch)
        test(model, device, test_loader)
        scheduler.step()
    return losses
