"""A captioning decoder with soft attention (the "Show, Attend and Tell" pattern) and a
retrieval head, written against PyTorch's API: an LSTMCell decoding loop over attended image
features, the scores packed with pack_padded_sequence, captions encoded by a GRU from an
unsorted packed batch, a triplet loss on the embeddings, Adam under OneCycleLR, gradient
clipping."""

import numpy as np


def main(torch, setup, steps=6):
    nn, F = torch.nn, torch.nn.functional
    rnn_utils = torch.nn.utils.rnn
    rng = np.random.default_rng(0)
    N, P, E, V, H, T = 4, 5, 6, 9, 8, 5  # batch, pixels, features, vocabulary, hidden, time
    feats = torch.tensor(rng.standard_normal((N, P, E)).astype(np.float32))
    lengths = [5, 4, 3, 2]  # decreasing, as the decoder's packing expects
    caps = rng.integers(1, V, (N, T))
    caps[np.arange(T)[None, :] >= np.array(lengths)[:, None]] = 0
    caps = torch.tensor(caps)

    class CaptionModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(V, E)
            self.att = nn.ModuleDict({"enc": nn.Linear(E, H), "dec": nn.Linear(H, H),
                                      "full": nn.Linear(H, 1)})
            self.init_h, self.init_c = nn.Linear(E, H), nn.Linear(E, H)
            self.cell = nn.LSTMCell(2 * E, H)
            self.fc = nn.Linear(H, V)
            self.text = nn.GRU(E, H, batch_first=True)
            self.image = nn.Linear(E, H)

        def decode(self, feats, emb):
            mean = feats.mean(dim=1)
            h, c = self.init_h(mean), self.init_c(mean)
            scores = []
            for t in range(max(lengths) - 1):
                energy = self.att["enc"](feats) + self.att["dec"](h).unsqueeze(1)  # (N, P, H)
                alpha = F.softmax(self.att["full"](torch.relu(energy)).squeeze(2), dim=1)
                context = (feats * alpha.unsqueeze(2)).sum(dim=1)  # (N, E)
                h, c = self.cell(torch.cat([emb[:, t], context], dim=1), (h, c))
                scores.append(self.fc(h))
            return torch.stack(scores, dim=1)  # (N, T - 1, V)

        def encode_text(self, emb, order):
            packed = rnn_utils.pack_padded_sequence(emb[order], [lengths[i] for i in order],
                                                    batch_first=True, enforce_sorted=False)
            _, h_n = self.text(packed)
            return F.normalize(h_n[-1], dim=1)  # (N, H), in the shuffled order

        def forward(self, feats, caps):
            emb = self.embed(caps)  # (N, T, E)
            return self.decode(feats, emb), emb

    model = CaptionModel()
    setup(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.05, total_steps=steps)
    triplet = nn.TripletMarginLoss(margin=0.5)
    order = [2, 0, 3, 1]
    decode_lengths = [n - 1 for n in lengths]
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        scores, emb = model(feats, caps)
        scores = rnn_utils.pack_padded_sequence(scores, decode_lengths, batch_first=True).data
        targets = rnn_utils.pack_padded_sequence(caps[:, 1:], decode_lengths,
                                                 batch_first=True).data
        text = model.encode_text(emb, order)
        image = F.normalize(model.image(feats.mean(dim=1)), dim=1)[order]
        loss = F.cross_entropy(scores, targets) + triplet(image, text, text.roll(1, 0))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
    with torch.no_grad():
        similarity = F.cosine_similarity(image, text, dim=1)
    return losses + similarity.tolist() + schedule.get_last_lr()
