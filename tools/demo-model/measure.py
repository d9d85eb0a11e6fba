"""The picture measures of DemoModelTest (test/src/test/java/dev/panamadiffusion/demo/PictureMeasure.java), in numpy,
run on the procedural data set itself to check that they read the truth and to set the shape thresholds.

Usage: python3 measure.py [N]     (N random pictures of all combinations, default 2000)
"""
import sys
from collections import Counter

import numpy as np

import dataset

PALETTE = {k: np.array(v, float) for k, v in dataset.COLOURS.items()}
OBJECT_DISTANCE = 45.0                         # a pixel this far (RGB) from the background is the object's
SQUARE_FILL, CIRCLE_FILL = 0.88, 0.66          # fill ratio of the bounding box: above 0.88 square, above 0.66 circle
TRIANGLE_BOTTOM = 1.8                          # below: bottom-half / top-half pixels above 1.8 triangle, else star


def nearest(rgb):
    return min(PALETTE, key=lambda k: float(((PALETTE[k] - rgb) ** 2).sum()))


def largest_component(mask):
    seen = np.zeros_like(mask)
    best = []
    h, w = mask.shape
    for y0 in range(h):
        for x0 in range(w):
            if not mask[y0, x0] or seen[y0, x0]:
                continue
            stack, comp = [(y0, x0)], []
            seen[y0, x0] = True
            while stack:
                y, x = stack.pop()
                comp.append((y, x))
                for yy, xx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                    if 0 <= yy < h and 0 <= xx < w and mask[yy, xx] and not seen[yy, xx]:
                        seen[yy, xx] = True
                        stack.append((yy, xx))
            if len(comp) > len(best):
                best = comp
    return best


def measure(img):
    """(background colour, object colour, shape, fill ratio, bottom/top ratio) of a [64, 64, 3] uint8 picture."""
    img = img.astype(float)
    border = np.concatenate([img[0], img[-1], img[1:-1, 0], img[1:-1, -1]])
    bg = np.median(border, axis=0)
    mask = np.sqrt(((img - bg) ** 2).sum(-1)) > OBJECT_DISTANCE
    comp = largest_component(mask)
    if len(comp) < 4:
        return nearest(bg), None, None, 0.0, 0.0
    ys, xs = np.array(comp).T
    inside = np.zeros(mask.shape, bool)
    inside[ys, xs] = True
    core = inside.copy()
    core[1:-1, 1:-1] &= inside[:-2, 1:-1] & inside[2:, 1:-1] & inside[1:-1, :-2] & inside[1:-1, 2:]
    pix = img[core] if core.sum() >= 4 else img[inside]
    fill = len(comp) / ((ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1))
    mid = (ys.min() + ys.max()) / 2
    bottom = ((ys > mid).sum() + 0.5 * (ys == mid).sum()) / max(1.0, (ys < mid).sum() + 0.5 * (ys == mid).sum())
    shape = "square" if fill >= SQUARE_FILL else "circle" if fill >= CIRCLE_FILL else \
        "triangle" if bottom >= TRIANGLE_BOTTOM else "star"
    return nearest(bg), nearest(np.median(pix, axis=0)), shape, fill, bottom


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    rng = np.random.default_rng(7)
    ok = Counter()
    fills = {s: [] for s in dataset.SHAPES}
    bottoms = {s: [] for s in dataset.SHAPES}
    for i in range(n):
        img, colour, shape, background, size, position = dataset.sample(rng, dataset.all_combinations())
        b, o, s, f, r = measure(img)
        fills[shape].append(f)
        bottoms[shape].append(r)
        ok["colours"] += b == background and o == colour
        ok["shape"] += s == shape
        if s != shape or b != background or o != colour:
            print("miss:", colour, shape, background, size, position, "->", o, s, b, round(f, 3), round(r, 2))
    for s, f in fills.items():
        r = bottoms[s]
        print(f"{s:9s} fill min {min(f):.3f} mean {np.mean(f):.3f} max {max(f):.3f}; "
              f"bottom/top min {min(r):.2f} mean {np.mean(r):.2f} max {max(r):.2f}")
    print(f"{n} pictures: colours right {ok['colours'] / n:.1%}, shape right {ok['shape'] / n:.1%}")
