# ruff: noqa: N812, B006, B007, UP008, E501 - names and idioms kept as the tutorial writes them
"""The "Adversarial Example Generation" (FGSM) tutorial: the MNIST Net in eval mode,
``data.requires_grad = True``, ``model.zero_grad()``, ``data.grad.data``, ``fgsm_attack`` with
``sign`` and ``torch.clamp``, ``denorm`` and the re-normalisation, and ``test`` over several
epsilons. The pretrained weights are PyTorch's initial ones (no download), and the labels of
the synthetic digits are that model's clean predictions, so every sample reaches the attack
(the tutorial skips samples it misclassifies); torchvision's Normalize is written out."""

import numpy as np


def main(torch, setup, samples=5, epsilons=(0, .1, .3)):
    nn = torch.nn
    F = torch.nn.functional
    device = torch.device("cpu")

    class Net(nn.Module):
        def __init__(self):
            super(Net, self).__init__()
            self.conv1 = nn.Conv2d(1, 32, 3, 1)
            self.conv2 = nn.Conv2d(32, 64, 3, 1)
            self.dropout1 = nn.Dropout(0.25)
            self.dropout2 = nn.Dropout(0.5)
            self.fc1 = nn.Linear(9216, 128)
            self.fc2 = nn.Linear(128, 10)

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

    model = Net().to(device)
    setup(model)
    # Set the model in evaluation mode. In this case this is for the Dropout layers
    model.eval()

    def normalize(image):  # transforms.Normalize((0.1307,), (0.3081,))
        return (image - 0.1307) / 0.3081

    rng = np.random.default_rng(0)
    images = [normalize(torch.from_numpy(rng.random((1, 1, 28, 28), np.float32)))
              for _ in range(samples)]
    with torch.no_grad():
        test_loader = [(x, model(x).max(1)[1]) for x in images]

    # FGSM attack code
    def fgsm_attack(image, epsilon, data_grad):
        # Collect the element-wise sign of the data gradient
        sign_data_grad = data_grad.sign()
        # Create the perturbed image by adjusting each pixel of the input image
        perturbed_image = image + epsilon*sign_data_grad
        # Adding clipping to maintain [0,1] range
        perturbed_image = torch.clamp(perturbed_image, 0, 1)
        # Return the perturbed image
        return perturbed_image

    # restores the tensors to their original scale
    def denorm(batch, mean=[0.1307], std=[0.3081]):
        if isinstance(mean, list):
            mean = torch.tensor(mean).to(device)
        if isinstance(std, list):
            std = torch.tensor(std).to(device)

        return batch * std.view(1, -1, 1, 1) + mean.view(1, -1, 1, 1)

    def test( model, device, test_loader, epsilon ):

        # Accuracy counter
        correct = 0
        adv_examples = []

        # Loop over all examples in test set
        for data, target in test_loader:

            # Send the data and label to the device
            data, target = data.to(device), target.to(device)

            # Set requires_grad attribute of tensor. Important for Attack
            data.requires_grad = True

            # Forward pass the data through the model
            output = model(data)
            init_pred = output.max(1, keepdim=True)[1] # get the index of the max log-probability

            # If the initial prediction is wrong, don't bother attacking, just move on
            if init_pred.item() != target.item():
                continue

            # Calculate the loss
            loss = F.nll_loss(output, target)

            # Zero all existing gradients
            model.zero_grad()

            # Calculate gradients of model in backward pass
            loss.backward()

            # Collect ``datagrad``
            data_grad = data.grad.data

            # Restore the data to its original scale
            data_denorm = denorm(data)

            # Call FGSM Attack
            perturbed_data = fgsm_attack(data_denorm, epsilon, data_grad)

            # Reapply normalization
            perturbed_data_normalized = normalize(perturbed_data)

            # Re-classify the perturbed image
            output = model(perturbed_data_normalized)

            # Check for success
            final_pred = output.max(1, keepdim=True)[1] # get the index of the max log-probability
            if final_pred.item() == target.item():
                correct += 1
                # Special case for saving 0 epsilon examples
                if epsilon == 0 and len(adv_examples) < 5:
                    adv_ex = perturbed_data.squeeze().detach().cpu().numpy()
                    adv_examples.append( (init_pred.item(), final_pred.item(), adv_ex) )
            else:
                # Save some adv examples for visualization later
                if len(adv_examples) < 5:
                    adv_ex = perturbed_data.squeeze().detach().cpu().numpy()
                    adv_examples.append( (init_pred.item(), final_pred.item(), adv_ex) )

        # Calculate final accuracy for this epsilon
        final_acc = correct/float(len(test_loader))

        # Return the accuracy and an adversarial example
        return final_acc, adv_examples, loss.item()

    results = []
    for eps in epsilons:
        acc, ex, loss = test(model, device, test_loader, eps)
        results.extend([acc, loss, float(np.mean([e[2].mean() for e in ex])) if ex else 0.0])
    return results
