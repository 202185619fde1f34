#!/usr/bin/python3
"""make_fixtures.py — reference values from PyTorch for tests/test_reference.c.

Usage: /usr/bin/python3 scripts/make_fixtures.py [OUT]   (default tests/fixtures/reference_cnn.txt)
Needs Debian's python3-torch (and numpy); the C test needs neither: it reads the text file.

The model (the same config is written into the fixture, and the C test builds its graph from
that text) is a small CNN with every kind the issue names for the reference: conv2d (same,
explicit, and strided TensorFlow-style 'same' padding, which is asymmetric), batch_norm over
channels and over features, relu, a residual add, max and average pooling, flatten, dense.
No dropout (its mask is our generator's, not PyTorch's).

Everything is computed in float64 from float32-representable weights and inputs, so the fixture
holds the exact answer and the C test's tolerances measure trainval's float32 error alone.

Stored, after one TRAIN-mode forward and backward on a batch of N examples:
  logits, loss (mean softmax cross-entropy), loss_smoothed (label_smoothing 0.1, forward only),
  the gradient of the loss for every trainable variable (PyTorch names mapped to ours, layouts
  identical: conv [out, in, kh, kw], dense [out, in]), the batch-norm moving statistics after
  that forward, and the logits of an eval-mode (INFER) forward using them.
Batch-norm momentum: PyTorch's momentum m is trainval's 1 - m (Keras convention): PyTorch 0.1
is our 0.9, the value the config below uses.

File format (text, version 1): '#' lines are comments; a block
    config
    <YAML lines>
    end
holds the model config; every other record is
    <name> <ndim> <dim...> <count values, whitespace separated, %.17g>
on one line.  Names: input, labels, logits, loss, loss_smoothed, infer_logits,
param/<var>, grad/<var>, moving/<var>.
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

CONFIG = """\
model:
  input: [2, 8, 8]
  num_classes: 5
  layers:
    - {type: conv2d, name: conv1, filters: 4, kernel_size: 3, padding: same}
    - {type: batch_norm, name: bn1, momentum: 0.9, epsilon: 0.00001}
    - {type: relu, name: r1}
    - {type: conv2d, name: conv2, filters: 4, kernel_size: 3, padding: 1, use_bias: false}
    - {type: batch_norm, name: bn2, momentum: 0.9, epsilon: 0.00001}
    - {type: add, name: res, inputs: [r1, bn2]}
    - {type: relu, name: r2}
    - {type: max_pool2d, name: pool1, pool_size: 2}
    - {type: avg_pool2d, name: pool2, pool_size: 3, strides: 1, padding: 1}
    - {type: conv2d, name: conv3, filters: 6, kernel_size: 3, strides: 2, padding: same}
    - {type: flatten, name: flat}
    - {type: dense, name: fc1, units: 16}
    - {type: relu, name: r3}
    - {type: batch_norm, name: bn3, momentum: 0.9, epsilon: 0.00001}
    - {type: dense, name: fc2, units: 5}
"""
N, C, H, W, K = 4, 2, 8, 8, 5
EPS, TORCH_MOMENTUM = 1e-5, 0.1


def f32(a):
    """float32-representable values, held in float64."""
    return torch.tensor(np.asarray(a, dtype=np.float32), dtype=torch.float64)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "reference_cnn.txt")
    rng = np.random.default_rng(20240605)

    def normal(*shape, scale=1.0):
        return f32(rng.standard_normal(shape) * scale)

    p = {
        "conv1/kernel": normal(4, 2, 3, 3, scale=0.4), "conv1/bias": normal(4, scale=0.1),
        "bn1/gamma": f32(1 + 0.2 * rng.standard_normal(4)), "bn1/beta": normal(4, scale=0.1),
        "conv2/kernel": normal(4, 4, 3, 3, scale=0.3),
        "bn2/gamma": f32(1 + 0.2 * rng.standard_normal(4)), "bn2/beta": normal(4, scale=0.1),
        "conv3/kernel": normal(6, 4, 3, 3, scale=0.3), "conv3/bias": normal(6, scale=0.1),
        "fc1/kernel": normal(16, 24, scale=0.3), "fc1/bias": normal(16, scale=0.1),
        "bn3/gamma": f32(1 + 0.2 * rng.standard_normal(16)), "bn3/beta": normal(16, scale=0.1),
        "fc2/kernel": normal(5, 16, scale=0.4), "fc2/bias": normal(5, scale=0.1),
    }
    moving = {}
    for bn, c in (("bn1", 4), ("bn2", 4), ("bn3", 16)):
        moving[bn + "/moving_mean"] = f32(0.1 * rng.standard_normal(c))
        moving[bn + "/moving_variance"] = f32(1 + 0.2 * rng.random(c))
    x = normal(N, C, H, W)
    y = torch.tensor([0, 3, 1, 4], dtype=torch.int64)
    for t in p.values():
        t.requires_grad_(True)
    run = {k: v.clone() for k, v in moving.items()}

    def forward(training):
        def bn(h, name):
            return F.batch_norm(h, run[name + "/moving_mean"], run[name + "/moving_variance"],
                                p[name + "/gamma"], p[name + "/beta"], training=training,
                                momentum=TORCH_MOMENTUM, eps=EPS)
        h = F.conv2d(x, p["conv1/kernel"], p["conv1/bias"], padding=1)
        r1 = F.relu(bn(h, "bn1"))
        h = bn(F.conv2d(r1, p["conv2/kernel"], None, padding=1), "bn2")
        h = F.relu(r1 + h)
        h = F.max_pool2d(h, 2)                                              # (4, 4, 4)
        h = F.avg_pool2d(h, 3, stride=1, padding=1, count_include_pad=False)
        # 'same' with stride 2 on 4x4: output 2x2, total padding 1, all of it after (TensorFlow)
        h = F.conv2d(F.pad(h, (0, 1, 0, 1)), p["conv3/kernel"], p["conv3/bias"], stride=2)
        h = F.linear(h.flatten(1), p["fc1/kernel"], p["fc1/bias"])
        h = bn(F.relu(h), "bn3")
        return F.linear(h, p["fc2/kernel"], p["fc2/bias"])

    logits = forward(True)
    loss = F.cross_entropy(logits, y)
    loss_smoothed = F.cross_entropy(logits, y, label_smoothing=0.1)
    loss.backward()
    with torch.no_grad():
        infer_logits = forward(False)

    lines = [
        "# reference_cnn.txt — written by scripts/make_fixtures.py (PyTorch %s, float64); do not"
        % torch.__version__,
        "# edit.  Format and meaning: see the script's docstring.  Version 1.",
        "config",
    ] + CONFIG.rstrip("\n").split("\n") + ["end"]

    def put(name, t):
        a = t.detach().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
        dims = list(a.shape)
        vals = " ".join("%.17g" % v for v in a.reshape(-1).tolist())
        lines.append("%s %d %s %s" % (name, len(dims), " ".join(str(d) for d in dims), vals)
                     if dims else "%s 0 %s" % (name, vals))

    put("input", x)
    put("labels", y)
    for k, v in p.items():
        put("param/" + k, v)
    for k, v in moving.items():
        put("param/" + k, v)
    put("logits", logits)
    put("loss", loss)
    put("loss_smoothed", loss_smoothed)
    for k, v in p.items():
        put("grad/" + k, v.grad)
    for k, v in run.items():
        put("moving/" + k, v)
    put("infer_logits", infer_logits)
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote %s (%d bytes)" % (out, os.path.getsize(out)))


if __name__ == "__main__":
    main()
