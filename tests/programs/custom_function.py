# ruff: noqa: B007 - loop variables are kept as the tutorial writes them
""""PyTorch: Defining new autograd functions" in its two-layer-network form: a fully
connected ReLU network on random data, with the ReLU a ``torch.autograd.Function`` whose
forward calls ``input.clamp(min=0)`` and whose backward clones the upstream gradient and
zeroes it where the input was negative; raw tensors, manual SGD under ``no_grad``."""


def main(torch, setup, steps=6):
    class MyReLU(torch.autograd.Function):
        @staticmethod
        def forward(ctx, input):
            ctx.save_for_backward(input)
            return input.clamp(min=0)

        @staticmethod
        def backward(ctx, grad_output):
            input, = ctx.saved_tensors
            grad_input = grad_output.clone()
            grad_input[input < 0] = 0
            return grad_input

    dtype = torch.float
    N, D_in, H, D_out = 16, 20, 12, 5
    x = torch.randn(N, D_in, dtype=dtype)
    y = torch.randn(N, D_out, dtype=dtype)
    w1 = torch.randn(D_in, H, dtype=dtype, requires_grad=True)
    w2 = torch.randn(H, D_out, dtype=dtype, requires_grad=True)
    setup([x, y, w1, w2])
    learning_rate = 1e-4
    losses = []
    for t in range(steps):
        relu = MyReLU.apply
        y_pred = relu(x.mm(w1)).mm(w2)
        loss = (y_pred - y).pow(2).sum()
        losses.append(loss.item())
        loss.backward()
        with torch.no_grad():
            w1 -= learning_rate * w1.grad
            w2 -= learning_rate * w2.grad
            w1.grad.zero_()
            w2.grad.zero_()
    return losses
