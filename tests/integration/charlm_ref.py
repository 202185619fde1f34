#!/usr/bin/python3
"""Reference evaluation of a trainval token model, in numpy alone (no trainval code).

Usage: charlm_ref.py CKPT CORPUS [--first N] [--all-outputs]

Reads the checkpoint's config (the model: embedding, lstm / gru, dropout, dense layers), its
variables and its vocabulary (/state/text/vocab), and the corpus file; splits and maps the text
as corpus.h says (the last data.valid_tokens bytes validate; ids are the vocabulary's order; a
validation byte outside it is dropped), keeps the first N validation tokens with --first, reads
them as train.batch_size contiguous streams in windows of T with the state carried (starting at
zero), and prints one JSON object: the mean cross-entropy over every scored token in nats
("loss"), bits per character ("bpc") and the count ("tokens").  The distribution of a position
is the softmax over the vocabulary's V logits (the first V outputs), or with --all-outputs over
every output of the model.  Computed in float64 from the float32 weights.
"""
import json
import math
import sys

import h5py
import numpy as np
import yaml


def sigm(a):
    return 1.0 / (1.0 + np.exp(-a))


def main():
    args = sys.argv[1:]
    first = None
    all_outputs = '--all-outputs' in args
    if '--first' in args:
        first = int(args[args.index('--first') + 1])
    ckpt, corpus = [a for i, a in enumerate(args) if not a.startswith('--') and
                    (i == 0 or args[i - 1] != '--first')][:2]
    f = h5py.File(ckpt, 'r')
    cfg = yaml.safe_load(f.attrs['config'])
    vocab = [int(b) for b in f['state/text/vocab'][()]]
    var = {}
    f['variables'].visititems(lambda n, o: var.__setitem__(n, o[()].astype(np.float64))
                              if isinstance(o, h5py.Dataset) else None)
    data = open(corpus, 'rb').read()
    nv = int(cfg['data']['valid_tokens'])
    lut = {b: i for i, b in enumerate(vocab)}
    valid = [lut[b] for b in data[len(data) - nv:] if b in lut]
    if first is not None:
        valid = valid[:first]
    B, T = int(cfg['train']['batch_size']), int(cfg['model']['input'][0])
    S = len(valid) // B
    W = (S - 1) // T
    layers = cfg['model']['layers']
    counts = {}
    names = []
    for l in layers:
        k = l['type']
        counts[k] = counts.get(k, 0) + 1
        names.append(l.get('name', '%s_%d' % (k, counts[k])))
    state = {}
    tot, n = 0.0, 0
    V = len(vocab)
    for w in range(W):
        x = np.array([[valid[b * S + w * T + t] for t in range(T)] for b in range(B)])
        y = np.array([[valid[b * S + w * T + t + 1] for t in range(T)] for b in range(B)])
        a = None
        for l, name in zip(layers, names):
            k = l['type']
            if k == 'embedding':
                a = var[name + '/weight'][x]
            elif k == 'dropout':
                pass
            elif k == 'dense':
                a = a @ var[name + '/kernel'].T + (var[name + '/bias'] if name + '/bias' in var else 0)
            elif k in ('lstm', 'gru'):
                H = int(l['hidden'])
                wi, wh = var[name + '/weight_ih'], var[name + '/weight_hh']
                bi, bh = var[name + '/bias_ih'], var[name + '/bias_hh']
                h, c = state.get(name, (np.zeros((B, H)), np.zeros((B, H))))
                out = np.zeros((B, T, H))
                for t in range(T):
                    if k == 'lstm':
                        g = a[:, t] @ wi.T + bi + h @ wh.T + bh
                        i, fg, gg, o = sigm(g[:, :H]), sigm(g[:, H:2 * H]), np.tanh(g[:, 2 * H:3 * H]), sigm(g[:, 3 * H:])
                        c = fg * c + i * gg
                        h = o * np.tanh(c)
                    else:
                        gi, gh = a[:, t] @ wi.T + bi, h @ wh.T + bh
                        r, z = sigm(gi[:, :H] + gh[:, :H]), sigm(gi[:, H:2 * H] + gh[:, H:2 * H])
                        nn = np.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
                        h = (1 - z) * nn + z * h
                    out[:, t] = h
                state[name] = (h, c)
                a = out
            else:
                sys.exit('charlm_ref.py: layer type %s not covered' % k)
        z = a if all_outputs else a[:, :, :V]
        m = z.max(axis=2, keepdims=True)
        lse = (m[:, :, 0] + np.log(np.exp(z - m).sum(axis=2)))
        tot += float((lse - np.take_along_axis(z, y[:, :, None], 2)[:, :, 0]).sum())
        n += B * T
    if n == 0:
        sys.exit('charlm_ref.py: no window')
    print(json.dumps({'loss': tot / n, 'bpc': tot / n / math.log(2), 'tokens': n}))


if __name__ == '__main__':
    main()
