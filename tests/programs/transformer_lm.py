# ruff: noqa: B007 - names and idioms kept as the tutorial writes them
"""The "Language Modeling with nn.Transformer" tutorial: TransformerModel (Embedding scaled by
sqrt(d_model), PositionalEncoding built with ``math`` and ``register_buffer``,
``TransformerEncoder`` of ``TransformerEncoderLayer``, the causal mask from
``nn.Transformer.generate_square_subsequent_mask``), ``init_weights`` through ``.data``,
batchify / get_batch, SGD with ``clip_grad_norm_`` and ``StepLR``, and evaluate, on a
synthetic token stream. Dropout is 0: PyTorch draws the attention dropout inside
scaled_dot_product_attention's kernel, whose masks cannot be shared with the tinymm run."""

import math

import numpy as np


def main(torch, setup, epochs=2):
    nn = torch.nn
    Tensor = torch.Tensor
    TransformerEncoder, TransformerEncoderLayer = nn.TransformerEncoder, nn.TransformerEncoderLayer
    device = torch.device("cpu")

    class TransformerModel(nn.Module):

        def __init__(self, ntoken: int, d_model: int, nhead: int, d_hid: int,
                     nlayers: int, dropout: float = 0.5):
            super().__init__()
            self.model_type = 'Transformer'
            self.pos_encoder = PositionalEncoding(d_model, dropout)
            encoder_layers = TransformerEncoderLayer(d_model, nhead, d_hid, dropout)
            self.transformer_encoder = TransformerEncoder(encoder_layers, nlayers)
            self.embedding = nn.Embedding(ntoken, d_model)
            self.d_model = d_model
            self.linear = nn.Linear(d_model, ntoken)

            self.init_weights()

        def init_weights(self) -> None:
            initrange = 0.1
            self.embedding.weight.data.uniform_(-initrange, initrange)
            self.linear.bias.data.zero_()
            self.linear.weight.data.uniform_(-initrange, initrange)

        def forward(self, src: Tensor, src_mask: Tensor = None) -> Tensor:
            """
            Arguments:
                src: Tensor, shape ``[seq_len, batch_size]``
                src_mask: Tensor, shape ``[seq_len, seq_len]``

            Returns:
                output Tensor of shape ``[seq_len, batch_size, ntoken]``
            """
            src = self.embedding(src) * math.sqrt(self.d_model)
            src = self.pos_encoder(src)
            if src_mask is None:
                """Generate a square causal mask for the sequence. The masked positions are
                filled with float('-inf'). Unmasked positions are filled with float(0.0).
                """
                src_mask = nn.Transformer.generate_square_subsequent_mask(len(src)).to(device)
            output = self.transformer_encoder(src, src_mask)
            output = self.linear(output)
            return output

    class PositionalEncoding(nn.Module):

        def __init__(self, d_model: int, dropout: float = 0.1, max_len: int = 5000):
            super().__init__()
            self.dropout = nn.Dropout(p=dropout)

            position = torch.arange(max_len).unsqueeze(1)
            div_term = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
            pe = torch.zeros(max_len, 1, d_model)
            pe[:, 0, 0::2] = torch.sin(position * div_term)
            pe[:, 0, 1::2] = torch.cos(position * div_term)
            self.register_buffer('pe', pe)

        def forward(self, x: Tensor) -> Tensor:
            """
            Arguments:
                x: Tensor, shape ``[seq_len, batch_size, embedding_dim]``
            """
            x = x + self.pe[:x.size(0)]
            return self.dropout(x)

    rng = np.random.default_rng(0)
    ntokens = 20
    stream = torch.from_numpy(rng.integers(0, ntokens, 96))
    train_iter, val_iter = stream[:72], stream[72:]

    def batchify(data: Tensor, bsz: int) -> Tensor:
        """Divides the data into ``bsz`` separate sequences, removing extra elements
        that wouldn't cleanly fit.

        Arguments:
            data: Tensor, shape ``[N]``
            bsz: int, batch size

        Returns:
            Tensor of shape ``[N // bsz, bsz]``
        """
        seq_len = data.size(0) // bsz
        data = data[:seq_len * bsz]
        data = data.view(bsz, seq_len).t().contiguous()
        return data.to(device)

    batch_size = 4
    eval_batch_size = 2
    train_data = batchify(train_iter, batch_size)  # shape ``[seq_len, batch_size]``
    val_data = batchify(val_iter, eval_batch_size)
    bptt = 6

    def get_batch(source: Tensor, i: int):
        """
        Args:
            source: Tensor, shape ``[full_seq_len, batch_size]``
            i: int

        Returns:
            tuple (data, target), where data has shape ``[seq_len, batch_size]`` and
            target has shape ``[seq_len * batch_size]``
        """
        seq_len = min(bptt, len(source) - 1 - i)
        data = source[i:i+seq_len]
        target = source[i+1:i+1+seq_len].reshape(-1)
        return data, target

    emsize = 16  # embedding dimension
    d_hid = 16  # dimension of the feedforward network model in ``nn.TransformerEncoder``
    nlayers = 2  # number of ``nn.TransformerEncoderLayer`` in ``nn.TransformerEncoder``
    nhead = 2  # number of heads in ``nn.MultiheadAttention``
    dropout = 0.0  # dropout probability (0.2 in the tutorial; see the module docstring)
    model = TransformerModel(ntokens, emsize, nhead, d_hid, nlayers, dropout).to(device)
    setup(model)

    criterion = nn.CrossEntropyLoss()
    lr = 5.0  # learning rate
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 1.0, gamma=0.95)
    losses = []

    def train(model: nn.Module) -> None:
        model.train()  # turn on train mode
        total_loss = 0.
        for batch, i in enumerate(range(0, train_data.size(0) - 1, bptt)):
            data, targets = get_batch(train_data, i)
            output = model(data)
            output_flat = output.view(-1, ntokens)
            loss = criterion(output_flat, targets)

            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
            optimizer.step()

            total_loss += loss.item()
            losses.append(loss.item())
        losses.append(scheduler.get_last_lr()[0])

    def evaluate(model: nn.Module, eval_data: Tensor) -> float:
        model.eval()  # turn on evaluation mode
        total_loss = 0.
        with torch.no_grad():
            for i in range(0, eval_data.size(0) - 1, bptt):
                data, targets = get_batch(eval_data, i)
                seq_len = data.size(0)
                output = model(data)
                output_flat = output.view(-1, ntokens)
                total_loss += seq_len * criterion(output_flat, targets).item()
        return total_loss / (len(eval_data) - 1)

    for epoch in range(1, epochs + 1):
        train(model)
        val_loss = evaluate(model, val_data)
        losses.extend([val_loss, math.exp(val_loss)])
        scheduler.step()
    return losses
