# ruff: noqa: N802, N806, UP008, B007 - names and idioms kept as the tutorial writes them
"""The "NLP From Scratch: Translation with a Sequence to Sequence Network and Attention"
tutorial: EncoderRNN (Embedding, GRU, Dropout), AttnDecoderRNN with BahdanauAttention (``bmm``,
``F.softmax``, ``torch.cat``), greedy decoding with ``topk`` and ``detach``, teacher forcing,
``nn.NLLLoss`` on ``F.log_softmax``, two Adam optimizers and ``evaluate``, on a synthetic
"reverse the sentence" pair set over a 12-word vocabulary (no download)."""

import numpy as np


def main(torch, setup, epochs=3):
    nn = torch.nn
    F = torch.nn.functional
    optim = torch.optim
    device = torch.device("cpu")
    SOS_token, EOS_token, MAX_LENGTH = 0, 1, 6
    n_words, hidden_size, batch_size = 12, 16, 4

    class EncoderRNN(nn.Module):
        def __init__(self, input_size, hidden_size, dropout_p=0.1):
            super(EncoderRNN, self).__init__()
            self.hidden_size = hidden_size

            self.embedding = nn.Embedding(input_size, hidden_size)
            self.gru = nn.GRU(hidden_size, hidden_size, batch_first=True)
            self.dropout = nn.Dropout(dropout_p)

        def forward(self, input):
            embedded = self.dropout(self.embedding(input))
            output, hidden = self.gru(embedded)
            return output, hidden

    class BahdanauAttention(nn.Module):
        def __init__(self, hidden_size):
            super(BahdanauAttention, self).__init__()
            self.Wa = nn.Linear(hidden_size, hidden_size)
            self.Ua = nn.Linear(hidden_size, hidden_size)
            self.Va = nn.Linear(hidden_size, 1)

        def forward(self, query, keys):
            scores = self.Va(torch.tanh(self.Wa(query) + self.Ua(keys)))
            scores = scores.squeeze(2).unsqueeze(1)

            weights = F.softmax(scores, dim=-1)
            context = torch.bmm(weights, keys)

            return context, weights

    class AttnDecoderRNN(nn.Module):
        def __init__(self, hidden_size, output_size, dropout_p=0.1):
            super(AttnDecoderRNN, self).__init__()
            self.embedding = nn.Embedding(output_size, hidden_size)
            self.attention = BahdanauAttention(hidden_size)
            self.gru = nn.GRU(2 * hidden_size, hidden_size, batch_first=True)
            self.out = nn.Linear(hidden_size, output_size)
            self.dropout = nn.Dropout(dropout_p)

        def forward(self, encoder_outputs, encoder_hidden, target_tensor=None):
            batch_size = encoder_outputs.size(0)
            decoder_input = torch.empty(batch_size, 1, dtype=torch.long,
                                        device=device).fill_(SOS_token)
            decoder_hidden = encoder_hidden
            decoder_outputs = []
            attentions = []

            for i in range(MAX_LENGTH):
                decoder_output, decoder_hidden, attn_weights = self.forward_step(
                    decoder_input, decoder_hidden, encoder_outputs
                )
                decoder_outputs.append(decoder_output)
                attentions.append(attn_weights)

                if target_tensor is not None:
                    # Teacher forcing: Feed the target as the next input
                    decoder_input = target_tensor[:, i].unsqueeze(1) # Teacher forcing
                else:
                    # Without teacher forcing: use its own predictions as the next input
                    _, topi = decoder_output.topk(1)
                    decoder_input = topi.squeeze(-1).detach()  # detach from history as input

            decoder_outputs = torch.cat(decoder_outputs, dim=1)
            decoder_outputs = F.log_softmax(decoder_outputs, dim=-1)
            attentions = torch.cat(attentions, dim=1)

            return decoder_outputs, decoder_hidden, attentions

        def forward_step(self, input, hidden, encoder_outputs):
            embedded =  self.dropout(self.embedding(input))

            query = hidden.permute(1, 0, 2)
            context, attn_weights = self.attention(query, encoder_outputs)
            input_gru = torch.cat((embedded, context), dim=2)

            output, hidden = self.gru(input_gru, hidden)
            output = self.out(output)

            return output, hidden, attn_weights

    # get_dataloader: index sentences padded with zeros after EOS, as the tutorial's arrays
    rng = np.random.default_rng(0)
    n = 8
    input_ids = np.zeros((n, MAX_LENGTH), dtype=np.int32)
    target_ids = np.zeros((n, MAX_LENGTH), dtype=np.int32)
    for idx in range(n):
        inp_ids = list(rng.integers(2, n_words, rng.integers(2, MAX_LENGTH)))
        tgt_ids = inp_ids[::-1]
        inp_ids.append(EOS_token)
        tgt_ids.append(EOS_token)
        input_ids[idx, :len(inp_ids)] = inp_ids
        target_ids[idx, :len(tgt_ids)] = tgt_ids
    train_data = torch.utils.data.TensorDataset(torch.LongTensor(input_ids).to(device),
                                                torch.LongTensor(target_ids).to(device))
    train_dataloader = torch.utils.data.DataLoader(train_data, batch_size=batch_size)

    encoder = EncoderRNN(n_words, hidden_size).to(device)
    decoder = AttnDecoderRNN(hidden_size, n_words).to(device)
    setup([*encoder.parameters(), *decoder.parameters()])

    def train_epoch(dataloader, encoder, decoder, encoder_optimizer,
                    decoder_optimizer, criterion):

        total_loss = 0
        for data in dataloader:
            input_tensor, target_tensor = data

            encoder_optimizer.zero_grad()
            decoder_optimizer.zero_grad()

            encoder_outputs, encoder_hidden = encoder(input_tensor)
            decoder_outputs, _, _ = decoder(encoder_outputs, encoder_hidden, target_tensor)

            loss = criterion(
                decoder_outputs.view(-1, decoder_outputs.size(-1)),
                target_tensor.view(-1)
            )
            loss.backward()

            encoder_optimizer.step()
            decoder_optimizer.step()

            total_loss += loss.item()

        return total_loss / len(dataloader)

    def train(train_dataloader, encoder, decoder, n_epochs, learning_rate=0.001):
        plot_losses = []
        encoder_optimizer = optim.Adam(encoder.parameters(), lr=learning_rate)
        decoder_optimizer = optim.Adam(decoder.parameters(), lr=learning_rate)
        criterion = nn.NLLLoss()

        for epoch in range(1, n_epochs + 1):
            loss = train_epoch(train_dataloader, encoder, decoder, encoder_optimizer,
                               decoder_optimizer, criterion)
            plot_losses.append(loss)
        return plot_losses

    def evaluate(encoder, decoder, input_tensor):
        with torch.no_grad():
            encoder_outputs, encoder_hidden = encoder(input_tensor)
            decoder_outputs, decoder_hidden, decoder_attn = decoder(encoder_outputs,
                                                                    encoder_hidden)

            _, topi = decoder_outputs.topk(1)
            decoded_ids = topi.squeeze()
        return decoded_ids, decoder_attn

    losses = train(train_dataloader, encoder, decoder, epochs, learning_rate=0.01)
    encoder.eval()
    decoder.eval()
    decoded_ids, attentions = evaluate(encoder, decoder, torch.LongTensor(input_ids[:2]))
    return losses + [float(decoded_ids.float().mean()), float(attentions.max())]
