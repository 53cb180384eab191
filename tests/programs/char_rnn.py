"""The "Classifying Names with a Character-Level RNN" tutorial (its original version with
the hand-written RNN module and the ``p.data.add_(p.grad.data, alpha=-lr)`` update)."""

import string


def main(torch, setup, steps=6):
    nn = torch.nn
    all_letters = string.ascii_letters + " .,;'"
    n_letters = len(all_letters)
    category_lines = {"English": ["Abbott", "Adams", "Smith"], "French": ["Abel", "Blanc"],
                      "Italian": ["Abate", "Bianchi", "Rossi"]}
    all_categories = list(category_lines)
    n_categories = len(all_categories)

    def letterToIndex(letter):
        return all_letters.find(letter)

    def lineToTensor(line):
        tensor = torch.zeros(len(line), 1, n_letters)
        for li, letter in enumerate(line):
            tensor[li][0][letterToIndex(letter)] = 1
        return tensor

    class RNN(nn.Module):
        def __init__(self, input_size, hidden_size, output_size):
            super().__init__()
            self.hidden_size = hidden_size
            self.i2h = nn.Linear(input_size + hidden_size, hidden_size)
            self.h2o = nn.Linear(hidden_size, output_size)
            self.softmax = nn.LogSoftmax(dim=1)

        def forward(self, input, hidden):
            combined = torch.cat((input, hidden), 1)
            hidden = torch.tanh(self.i2h(combined))
            output = self.h2o(hidden)
            output = self.softmax(output)
            return output, hidden

        def initHidden(self):
            return torch.zeros(1, self.hidden_size)

    n_hidden = 32
    rnn = RNN(n_letters, n_hidden, n_categories)
    setup(rnn)
    criterion = nn.NLLLoss()
    learning_rate = 0.005

    def train(category_tensor, line_tensor):
        hidden = rnn.initHidden()
        rnn.zero_grad()
        for i in range(line_tensor.size()[0]):
            output, hidden = rnn(line_tensor[i], hidden)
        loss = criterion(output, category_tensor)
        loss.backward()
        for p in rnn.parameters():
            p.data.add_(p.grad.data, alpha=-learning_rate)
        return output, loss.item()

    def categoryFromOutput(output):
        top_n, top_i = output.topk(1)
        return all_categories[top_i[0].item()]

    pairs = [(c, line) for c in all_categories for line in category_lines[c]]
    losses = []
    for iteration in range(steps):
        category, line = pairs[iteration % len(pairs)]
        category_tensor = torch.tensor([all_categories.index(category)], dtype=torch.long)
        output, loss = train(category_tensor, lineToTensor(line))
        losses.append(loss)
        categoryFromOutput(output)
    return losses
