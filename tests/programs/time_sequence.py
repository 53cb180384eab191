# ruff: noqa: A001, A002, UP008, B007 - names and idioms kept as pytorch/examples writes them
"""pytorch/examples ``time_sequence_prediction``: ``generate_sine_wave.py``'s shifted sine
waves and ``train.py``'s two stacked ``nn.LSTMCell`` with a Linear head, in float64
(``seq.double()``), trained by ``optim.LBFGS(lr=0.8)`` with a closure, then a no-grad
prediction of ``future`` extra steps. Sizes: 6 waves of 12 samples (3 held out), 12 hidden
units instead of 51, 5 future steps instead of 1000."""

import numpy as np


def generate_sine_wave(N=6, L=12, T=20):
    np.random.seed(2)
    x = np.empty((N, L), 'int64')
    x[:] = np.array(range(L)) + np.random.randint(-4 * T, 4 * T, N).reshape(N, 1)
    return np.sin(x / 1.0 / T).astype('float64')


def main(torch, setup, steps=2, hidden=12, future=5, line_search_fn=None):
    nn = torch.nn
    optim = torch.optim

    class Sequence(nn.Module):
        def __init__(self):
            super(Sequence, self).__init__()
            self.lstm1 = nn.LSTMCell(1, hidden)
            self.lstm2 = nn.LSTMCell(hidden, hidden)
            self.linear = nn.Linear(hidden, 1)

        def forward(self, input, future = 0):
            outputs = []
            h_t = torch.zeros(input.size(0), hidden, dtype=torch.double)
            c_t = torch.zeros(input.size(0), hidden, dtype=torch.double)
            h_t2 = torch.zeros(input.size(0), hidden, dtype=torch.double)
            c_t2 = torch.zeros(input.size(0), hidden, dtype=torch.double)

            for input_t in input.split(1, dim=1):
                h_t, c_t = self.lstm1(input_t, (h_t, c_t))
                h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
                output = self.linear(h_t2)
                outputs += [output]
            for i in range(future):# if we should predict the future
                h_t, c_t = self.lstm1(output, (h_t, c_t))
                h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
                output = self.linear(h_t2)
                outputs += [output]
            outputs = torch.cat(outputs, dim=1)
            return outputs

    data = generate_sine_wave()
    input = torch.from_numpy(data[3:, :-1])
    target = torch.from_numpy(data[3:, 1:])
    test_input = torch.from_numpy(data[:3, :-1])
    test_target = torch.from_numpy(data[:3, 1:])
    # build the model
    seq = Sequence()
    seq.double()
    setup(seq)
    criterion = nn.MSELoss()
    # use LBFGS as optimizer since we can load the whole data to train
    optimizer = optim.LBFGS(seq.parameters(), lr=0.8, line_search_fn=line_search_fn)
    losses = []
    #begin to train
    for i in range(steps):
        def closure():
            optimizer.zero_grad()
            out = seq(input)
            loss = criterion(out, target)
            losses.append(loss.item())
            loss.backward()
            return loss
        optimizer.step(closure)
        # begin to predict, no need to track gradient here
        with torch.no_grad():
            pred = seq(test_input, future=future)
            loss = criterion(pred[:, :-future], test_target)
            losses.append(loss.item())
            y = pred.detach().numpy()
            losses.append(float(y[:, -1].mean()))
    return losses


def strong_wolfe(torch, setup):
    """The same program with ``LBFGS(line_search_fn="strong_wolfe")``."""
    return main(torch, setup, line_search_fn="strong_wolfe")
