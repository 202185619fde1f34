#!/usr/bin/python3
"""Writes the image-decoder fixtures of tests/test_imgdir.c with Pillow, numpy and PyTorch (all
from Debian): small PNG and JPEG files in tests/fixtures/images/ and, in
tests/fixtures/reference_images.txt, the pixels trainval must decode from each (an independent
decode by Pillow, converted by the rules of data.h's IMAGE FOLDERS in numpy), at the image's own
size and bilinearly resized by PyTorch's interpolate(mode='bilinear', align_corners=False).

    /usr/bin/python3 scripts/make_image_fixtures.py

Record format (tests/testutil.h, tvt_fixture_record): "<file>:c<C>:<H>x<W> <count> <values>",
the C x H x W uint8 values in CHW order.  Tolerances (in the test): 0 at the image's own size;
1 per value after resizing (float rounding at .5), with at least 95% exact.
"""
import os

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
IMG = os.path.join(ROOT, "tests", "fixtures", "images")
REF = os.path.join(ROOT, "tests", "fixtures", "reference_images.txt")
H, W = 6, 9  # the fixtures' own size
SIZES = [(H, W), (4, 13), (11, 5)]


def pattern(h, w, ch, seed):
    r = np.random.default_rng(seed)
    base = np.linspace(0, 255, h * w).reshape(h, w)
    return np.clip(base[..., None] + r.integers(-60, 60, (h, w, ch)), 0, 255).astype(np.uint8)


def luma(rgb):
    rgb = rgb.astype(np.int64)
    return ((299 * rgb[..., 0] + 587 * rgb[..., 1] + 114 * rgb[..., 2] + 500) // 1000).astype(np.uint8)


def resize(planes, size):
    t = torch.tensor(planes, dtype=torch.float32)[None]
    out = F.interpolate(t, size=size, mode="bilinear", align_corners=False)[0]
    return np.clip(np.floor(out.numpy() + 0.5), 0, 255).astype(np.uint8)


def main():
    os.makedirs(IMG, exist_ok=True)
    rgb = pattern(H, W, 3, 1)
    grey = pattern(H, W, 1, 2)[..., 0]
    rgba = np.concatenate([rgb, pattern(H, W, 1, 3)], axis=2)
    Image.fromarray(grey, "L").save(os.path.join(IMG, "grey.png"))
    Image.fromarray(rgb, "RGB").save(os.path.join(IMG, "rgb.png"))
    Image.fromarray(rgba, "RGBA").save(os.path.join(IMG, "rgba.png"))
    pal = Image.fromarray(rgb, "RGB").quantize(colors=16)
    pal.save(os.path.join(IMG, "palette.png"))
    g16 = (grey.astype(np.uint16) << 8) | 0x5A
    Image.fromarray(g16.astype(np.uint16), "I;16").save(os.path.join(IMG, "grey16.png"))
    Image.fromarray(grey, "L").save(os.path.join(IMG, "grey.jpg"), quality=90)
    Image.fromarray(rgb, "RGB").save(os.path.join(IMG, "rgb.jpg"), quality=90)
    with open(REF, "w") as out:
        out.write("# written by scripts/make_image_fixtures.py; see its docstring\n")
        for name in sorted(os.listdir(IMG)):
            path = os.path.join(IMG, name)
            im = Image.open(path)
            if name == "grey16.png":
                g = (np.array(im).astype(np.uint16) >> 8).astype(np.uint8)
                c3, c1 = np.repeat(g[None], 3, 0), g[None]
            elif name.endswith(".jpg"):
                if im.mode == "L":
                    g = np.array(im)
                    c3, c1 = np.repeat(g[None], 3, 0), g[None]
                else:
                    c3 = np.array(im.convert("RGB")).transpose(2, 0, 1)
                    im_l = Image.open(path)
                    im_l.draft("L", im_l.size)  # libjpeg's own Y channel
                    c1 = np.array(im_l.convert("L"))[None]
            else:
                if im.mode == "L":
                    g = np.array(im)
                    c3, c1 = np.repeat(g[None], 3, 0), g[None]
                else:
                    c = np.array(im.convert("RGB"))
                    c3, c1 = c.transpose(2, 0, 1), luma(c)[None]
            for ch, planes in ((1, c1), (3, c3)):
                for size in SIZES:
                    v = planes if size == (H, W) else resize(planes, size)
                    vals = " ".join(str(int(x)) for x in v.reshape(-1))
                    out.write("%s:c%d:%dx%d %d %s\n" % (name, ch, size[0], size[1], v.size, vals))


if __name__ == "__main__":
    main()
