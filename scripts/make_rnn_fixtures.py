#!/usr/bin/python3
"""Writes tests/fixtures/reference_rnn.txt: PyTorch's nn.Embedding, nn.LSTM (two layers) and
nn.GRU, batch_first, with given weights, inputs and initial states, in float64 (the weights and
inputs are float32 values, so trainval sees exactly them).

Each record is one line: NAME NDIM DIM... VALUE... (row-major, PyTorch layout); lines starting
with # are comments.  The graph:
    x = emb.weight[ids]                           ids (N, T), emb.weight (V, D)
    lstm: y, (h_n, c_n) = nn.LSTM(D, H, num_layers=2)(x, (h0, c0))
    gru:  g, g_n = nn.GRU(H, G)(y, gh0)
    loss = sum(g * p_g) + sum(g_n * p_gn) + sum(y * p_y) + sum(h_n * p_hn) + sum(c_n * p_cn)
Gradients of the loss are written for every weight (lstm.weight_ih_l0 ...), for emb.weight,
and for the initial states.  Run: /usr/bin/python3 scripts/make_rnn_fixtures.py
"""
import os
import sys

import torch

N, T, V, D, H, G = 3, 5, 7, 4, 6, 5
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures",
                   "reference_rnn.txt")


def main():
    torch.manual_seed(11)
    gen = torch.Generator().manual_seed(11)

    def f32(*shape, scale=0.5):
        return (torch.randn(*shape, generator=gen) * scale).float().double()

    ids = torch.randint(0, V, (N, T), generator=gen)
    emb = torch.nn.Embedding(V, D).double()
    lstm = torch.nn.LSTM(D, H, num_layers=2, batch_first=True).double()
    gru = torch.nn.GRU(H, G, batch_first=True).double()
    with torch.no_grad():
        for mod in (emb, lstm, gru):
            for p in mod.parameters():
                p.copy_(f32(*p.shape))
    h0 = f32(2, N, H).requires_grad_()
    c0 = f32(2, N, H).requires_grad_()
    gh0 = f32(1, N, G).requires_grad_()
    p_y, p_hn, p_cn = f32(N, T, H, scale=1), f32(2, N, H, scale=1), f32(2, N, H, scale=1)
    p_g, p_gn = f32(N, T, G, scale=1), f32(1, N, G, scale=1)

    x = emb(ids)
    x.retain_grad()
    y, (h_n, c_n) = lstm(x, (h0, c0))
    g, g_n = gru(y, gh0)
    loss = ((g * p_g).sum() + (g_n * p_gn).sum() + (y * p_y).sum() + (h_n * p_hn).sum() +
            (c_n * p_cn).sum())
    loss.backward()

    lines = ["# reference_rnn.txt - written by scripts/make_rnn_fixtures.py (PyTorch %s, float64);"
             " do not edit.  Format: see the script's docstring.  Version 1." % torch.__version__]

    def put(name, t):
        t = t.detach().double()
        dims = " ".join(str(s) for s in t.shape)
        vals = " ".join("%.17g" % v for v in t.reshape(-1).tolist())
        lines.append("%s %d %s %s" % (name, t.dim(), dims, vals))

    put("ids", ids.double())
    put("emb.weight", emb.weight)
    for mod, pre in ((lstm, "lstm"), (gru, "gru")):
        for name, p in mod.named_parameters():
            put("%s.%s" % (pre, name), p)
    for name, t in (("h0", h0), ("c0", c0), ("gh0", gh0), ("p_y", p_y), ("p_hn", p_hn),
                    ("p_cn", p_cn), ("p_g", p_g), ("p_gn", p_gn), ("x", x), ("y", y),
                    ("h_n", h_n), ("c_n", c_n), ("g", g), ("g_n", g_n)):
        put(name, t)
    put("loss", loss.reshape(1))
    put("grad.emb.weight", emb.weight.grad)
    put("grad.x", x.grad)
    for mod, pre in ((lstm, "lstm"), (gru, "gru")):
        for name, p in mod.named_parameters():
            put("grad.%s.%s" % (pre, name), p.grad)
    for name, t in (("grad.h0", h0), ("grad.c0", c0), ("grad.gh0", gh0)):
        put(name, t.grad)
    with open(OUT, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote", OUT, file=sys.stderr)


if __name__ == "__main__":
    main()
