# ruff: noqa: B007, N806 - the program's own names and loop variables
"""spro/char-rnn.pytorch (model.py, train.py, generate.py): CharRNN with an Embedding, a GRU
(or LSTM) and a decoder, trained one character position at a time over a chunk
(``criterion(output.view(batch_size, -1), target[:, c])``) with Adam, then sampled as
generate.py does: ``output.data.view(-1).div(temperature).exp()`` and
``torch.multinomial(output_dist, 1)[0]``, priming the hidden state with a string. A
synthetic text of printable characters, tiny sizes."""

import string

import numpy as np


def build(torch):
    nn = torch.nn

    class CharRNN(nn.Module):
        def __init__(self, input_size, hidden_size, output_size, model="gru", n_layers=1):
            super().__init__()
            self.model = model.lower()
            self.input_size = input_size
            self.hidden_size = hidden_size
            self.output_size = output_size
            self.n_layers = n_layers

            self.encoder = nn.Embedding(input_size, hidden_size)
            if self.model == "gru":
                self.rnn = nn.GRU(hidden_size, hidden_size, n_layers)
            elif self.model == "lstm":
                self.rnn = nn.LSTM(hidden_size, hidden_size, n_layers)
            self.decoder = nn.Linear(hidden_size, output_size)

        def forward(self, input, hidden):
            batch_size = input.size(0)
            encoded = self.encoder(input)
            output, hidden = self.rnn(encoded.view(1, batch_size, -1), hidden)
            output = self.decoder(output.view(batch_size, -1))
            return output, hidden

        def forward2(self, input, hidden):
            encoded = self.encoder(input.view(1, -1))
            output, hidden = self.rnn(encoded.view(1, 1, -1), hidden)
            output = self.decoder(output.view(1, -1))
            return output, hidden

        def init_hidden(self, batch_size):
            if self.model == "lstm":
                return (torch.zeros(self.n_layers, batch_size, self.hidden_size),
                        torch.zeros(self.n_layers, batch_size, self.hidden_size))
            return torch.zeros(self.n_layers, batch_size, self.hidden_size)

    return CharRNN


def run(torch, setup, model_type, n_epochs=5):
    CharRNN = build(torch)
    all_characters = string.printable
    n_characters = len(all_characters)

    def char_tensor(string):
        tensor = torch.zeros(len(string)).long()
        for c in range(len(string)):
            try:
                tensor[c] = all_characters.index(string[c])
            except ValueError:
                continue
        return tensor

    text = "the cat sat on the mat. the dog sat on the log. " * 4
    rng = np.random.default_rng(0)
    chunk_len, batch_size = 6, 3

    def random_training_set(chunk_len, batch_size):
        inp = torch.LongTensor(batch_size, chunk_len)
        target = torch.LongTensor(batch_size, chunk_len)
        for bi in range(batch_size):
            start_index = int(rng.integers(0, len(text) - chunk_len))
            end_index = start_index + chunk_len + 1
            chunk = text[start_index:end_index]
            inp[bi] = char_tensor(chunk[:-1])
            target[bi] = char_tensor(chunk[1:])
        return inp, target

    decoder = CharRNN(n_characters, 12, n_characters, model=model_type, n_layers=2)
    setup(decoder)
    decoder_optimizer = torch.optim.Adam(decoder.parameters(), lr=0.01)
    criterion = torch.nn.CrossEntropyLoss()

    def train(inp, target):
        hidden = decoder.init_hidden(batch_size)
        decoder.zero_grad()
        loss = 0
        for c in range(chunk_len):
            output, hidden = decoder(inp[:, c], hidden)
            loss += criterion(output.view(batch_size, -1), target[:, c])
        loss.backward()
        decoder_optimizer.step()
        return loss.data.item() / chunk_len

    losses = [train(*random_training_set(chunk_len, batch_size)) for epoch in range(n_epochs)]

    def generate(decoder, prime_str='A', predict_len=8, temperature=0.8):
        hidden = decoder.init_hidden(1)
        prime_input = torch.autograd.Variable(char_tensor(prime_str).unsqueeze(0))
        predicted = prime_str
        for p in range(len(prime_str) - 1):
            _, hidden = decoder(prime_input[:, p], hidden)
        inp = prime_input[:, -1]
        for p in range(predict_len):
            output, hidden = decoder(inp, hidden)
            output_dist = output.data.view(-1).div(temperature).exp()
            top_i = torch.multinomial(output_dist, 1)[0]
            predicted_char = all_characters[top_i]
            predicted += predicted_char
            inp = torch.autograd.Variable(char_tensor(predicted_char).unsqueeze(0))
        return predicted

    sample = generate(decoder, "th", 8)
    return losses + [float(all_characters.index(ch)) for ch in sample]


def gru(torch, setup):
    return run(torch, setup, "gru")


def lstm(torch, setup):
    return run(torch, setup, "lstm")
