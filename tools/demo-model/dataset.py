"""The demo model's procedural data set: 64x64 RGB pictures of one coloured shape on a plain background, each with a
prompt such as "a small green triangle in the top left corner on a white background".

Everything is drawn by this file from a seed (numpy only): the shade of each colour varies, edges are anti-aliased
and softened by a random amount, and light noise is added, so a model has to generalise rather than memorise pixels.
Some (object colour, shape, background colour) combinations are held out of training (HELD_OUT, listed in
heldout.txt) so that a test can ask for pictures the model never saw.
"""
import itertools
import numpy as np

SIZE = 64
COLOURS = {  # base RGB; each picture varies the shade around it (see shade())
    "red": (215, 30, 35), "green": (35, 165, 60), "blue": (35, 70, 215), "yellow": (240, 215, 40),
    "orange": (245, 135, 25), "purple": (135, 50, 175), "white": (242, 242, 242), "black": (18, 18, 18),
}
SHAPES = ("circle", "square", "triangle", "star")
SIZES = {"small": 8.5, "large": 15.5}       # "radius" in pixels (half the bounding box width), +-8% per picture
POSITIONS = {                               # centre as a fraction of the free range; +-3 px per picture
    "in the center": (0.5, 0.5), "in the top left corner": (0.0, 0.0), "in the top right corner": (1.0, 0.0),
    "in the bottom left corner": (0.0, 1.0), "in the bottom right corner": (1.0, 1.0),
}
MARGIN = 5                                  # pixels between a corner object's bounding box and the image edge
HELD_OUT_SEED = 20261204
HELD_OUT_COUNT = 24                         # of 8 * 7 * 4 = 224 combinations: 10.7%


def all_combinations():
    return [(c, s, b) for c, s, b in itertools.product(COLOURS, SHAPES, COLOURS) if c != b]


def held_out():
    """HELD_OUT_COUNT combinations chosen by a fixed seed, such that every (colour, shape), (colour, background) and
    (shape, background) pair still occurs in training."""
    combos = all_combinations()
    rng = np.random.default_rng(HELD_OUT_SEED)
    chosen = []
    for i in rng.permutation(len(combos)):
        cand = chosen + [combos[i]]
        train = set(combos) - set(cand)
        if all(any(t[a] == k[a] and t[b] == k[b] for t in train) for k in cand for a, b in ((0, 1), (0, 2), (1, 2))):
            chosen = cand
        if len(chosen) == HELD_OUT_COUNT:
            return sorted(chosen)
    raise AssertionError("could not hold out enough combinations")


HELD_OUT = held_out()
TRAIN_COMBOS = sorted(set(all_combinations()) - set(HELD_OUT))


def article(word):
    return "an" if word[0] in "aeiou" else "a"


def prompt(colour, shape, background, size=None, position=None):
    """The prompt for one picture; size and position are optional words."""
    first = size if size else colour
    words = [article(first)] + ([size] if size else []) + [colour, shape] + ([position] if position else [])
    return " ".join(words + ["on", article(background), background, "background"])


def shade(rng, name):
    """A shade of a named colour: overall brightness x0.85..1.1 (x0.9..1 for white) plus per-channel jitter."""
    base = np.array(COLOURS[name], dtype=np.float64)
    k = rng.uniform(0.9, 1.0) if name == "white" else rng.uniform(0.85, 1.1)
    return np.clip(base * k + rng.uniform(-14, 14, 3), 0, 255)


def _polygon(px, py, xs, ys):
    """Even-odd point-in-polygon test of many points against one polygon."""
    inside = np.zeros(px.shape, dtype=bool)
    n = len(xs)
    for i in range(n):
        x0, y0, x1, y1 = xs[i], ys[i], xs[(i + 1) % n], ys[(i + 1) % n]
        crosses = (y0 > py) != (y1 > py)
        xint = x0 + (py - y0) * (x1 - x0) / (y1 - y0 + 1e-12)
        inside ^= crosses & (px < xint)
    return inside


def shape_mask(shape, cx, cy, r, ss=4):
    """Coverage (0..1) of each pixel by the shape, from ss x ss samples per pixel; r is half the bounding box width."""
    t = (np.arange(SIZE * ss) + 0.5) / ss
    py, px = np.meshgrid(t, t, indexing="ij")
    x, y = px - cx, py - cy
    if shape == "circle":
        m = x * x + y * y <= r * r
    elif shape == "square":
        m = (np.abs(x) <= r * 0.9) & (np.abs(y) <= r * 0.9)
    elif shape == "triangle":   # apex up, bounding box 2r wide and 1.8r high
        m = _polygon(x, y, [0.0, r, -r], [-0.9 * r, 0.9 * r, 0.9 * r])
    elif shape == "star":       # five points, one up, inner radius 0.45 of the outer
        a = np.pi / 2 + np.arange(10) * np.pi / 5
        rad = np.where(np.arange(10) % 2 == 0, 1.05 * r, 0.47 * r)
        m = _polygon(x, y, rad * np.cos(a), -rad * np.sin(a) + 0.1 * r)
    else:
        raise ValueError(shape)
    return m.reshape(SIZE, ss, SIZE, ss).mean(axis=(1, 3))


def _blur(img, sigma):
    if sigma <= 0:
        return img
    k = np.arange(-3, 4)
    w = np.exp(-k * k / (2 * sigma * sigma))
    w /= w.sum()
    pad = np.pad(img, ((3, 3), (3, 3)), mode="edge")
    h = sum(w[i] * pad[:, i:i + SIZE] for i in range(7))
    return sum(w[i] * h[i:i + SIZE, :] for i in range(7))


def draw(rng, colour, shape, background, size, position):
    """One picture as uint8 [64, 64, 3]."""
    r = SIZES[size] * rng.uniform(0.92, 1.08)
    fx, fy = POSITIONS[position]
    lo, hi = MARGIN + r, SIZE - MARGIN - r
    cx = lo + fx * (hi - lo) + rng.uniform(-3, 3)
    cy = lo + fy * (hi - lo) + rng.uniform(-3, 3)
    m = _blur(shape_mask(shape, cx, cy, r), rng.uniform(0.0, 0.8))[..., None]
    img = m * shade(rng, colour) + (1 - m) * shade(rng, background)
    img = img + rng.normal(0, rng.uniform(1.0, 5.0), img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def sample(rng, combos=None):
    """A random training picture: (image, colour, shape, background, size, position)."""
    combos = combos or TRAIN_COMBOS
    colour, shape, background = combos[rng.integers(len(combos))]
    size = list(SIZES)[rng.integers(len(SIZES))]
    position = list(POSITIONS)[rng.integers(len(POSITIONS))]
    return draw(rng, colour, shape, background, size, position), colour, shape, background, size, position


def random_prompt(rng, colour, shape, background, size, position):
    """The picture's prompt; the size and the position words are each left out of 30% of prompts."""
    return prompt(colour, shape, background, size if rng.random() >= 0.3 else None,
                  position if rng.random() >= 0.3 else None)


def write_held_out(path):
    """heldout.txt: one held-out combination a line, "colour shape background" (read by DemoModelTest)."""
    with open(path, "w") as f:
        f.write("# (object colour, shape, background colour) combinations held out of the demo model's training;"
                " written by dataset.py\n")
        f.writelines(f"{c} {s} {b}\n" for c, s, b in HELD_OUT)


if __name__ == "__main__":
    # python3 dataset.py --held-out heldout.txt    writes the held-out list
    # python3 dataset.py [samples.png]             draws 64 training pictures into one image and prints their prompts
    import sys
    if sys.argv[1:2] == ["--held-out"]:
        write_held_out(sys.argv[2])
        sys.exit(0)
    from PIL import Image
    out = sys.argv[1] if len(sys.argv) > 1 else "/tmp/demo-samples.png"
    rng = np.random.default_rng(0)
    tiles = []
    for i in range(64):
        img, *attrs = sample(rng)
        tiles.append(img)
        print(random_prompt(rng, *attrs))
    grid = np.concatenate([np.concatenate(tiles[r * 8:(r + 1) * 8], axis=1) for r in range(8)], axis=0)
    Image.fromarray(grid).resize((1024, 1024), Image.NEAREST).save(out)
