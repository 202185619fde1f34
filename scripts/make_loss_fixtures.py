#!/usr/bin/python3
"""make_loss_fixtures.py — PyTorch reference values for the float-target losses (tests/test_loss.c).

Usage: /usr/bin/python3 scripts/make_loss_fixtures.py [OUT]
       (default tests/fixtures/reference_losses.txt)
Needs Debian's python3-torch; the C test reads only the text file.

Outputs z (N x K) and targets are float32-representable and the losses are computed in float64
with reduction='mean' (the mean over all N * K elements), so the fixture is the exact answer:
  mse, mae            F.mse_loss, F.l1_loss against float targets y
  huber, huber_d0.5   F.huber_loss with delta 1 (PyTorch's default) and 0.5
  sigmoid_xent        F.binary_cross_entropy_with_logits against 0/1 indicators t
Each loss is stored with its gradient d(loss)/d(z) (autograd).  The outputs span [-6, 6], so
Huber has elements on both sides of delta and the sigmoid saturates on some.

File format (text, version 1): '#' lines are comments; every other line is
    <name> <count> <count values, %.17g>
Names: shape (N, K), z, y, t, <loss>/loss, <loss>/grad.
"""
import sys

import numpy as np
import torch
import torch.nn.functional as F

N, K = 6, 3


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/reference_losses.txt"
    rng = np.random.default_rng(20261201)
    z = rng.uniform(-6, 6, (N, K)).astype(np.float32).astype(np.float64)
    y = rng.normal(0, 2, (N, K)).astype(np.float32).astype(np.float64)
    t = (rng.uniform(0, 1, (N, K)) < 0.4).astype(np.float64)
    rec = [("shape", [N, K]), ("z", z.ravel()), ("y", y.ravel()), ("t", t.ravel())]
    cases = [
        ("mse", lambda a: F.mse_loss(a, torch.tensor(y))),
        ("mae", lambda a: F.l1_loss(a, torch.tensor(y))),
        ("huber", lambda a: F.huber_loss(a, torch.tensor(y), delta=1.0)),
        ("huber_d0.5", lambda a: F.huber_loss(a, torch.tensor(y), delta=0.5)),
        ("sigmoid_xent", lambda a: F.binary_cross_entropy_with_logits(a, torch.tensor(t))),
    ]
    for name, fn in cases:
        a = torch.tensor(z, dtype=torch.float64, requires_grad=True)
        loss = fn(a)
        loss.backward()
        rec.append((name + "/loss", [loss.item()]))
        rec.append((name + "/grad", a.grad.numpy().ravel()))
    with open(out, "w") as f:
        f.write("# reference_losses.txt — written by scripts/make_loss_fixtures.py (PyTorch %s,\n"
                "# float64); do not edit.  Format: see the script's docstring.  Version 1.\n"
                % torch.__version__)
        for name, v in rec:
            f.write("%s %d %s\n" % (name, len(v), " ".join("%.17g" % x for x in v)))


if __name__ == "__main__":
    main()
