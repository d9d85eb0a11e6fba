"""gen_strength.py's helpers (save, components_json, FoldedTokenizer, SCHEDULERS, the tiny models) for the image-set
generators (gen_img2img.py, gen_inpaint.py, gen_inpaint9.py), loaded without running gen_strength's own sets."""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.join(HERE, "..", "..", "..", "shared", "reference")


def load(generator, out_set):
    """Parses --tiny, --tokenizer and --out (default reference/OUT_SET) and returns (OUT, gen_strength's globals)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--tiny", default=os.path.join(SHARED, "tiny"))
    ap.add_argument("--tokenizer", default=os.path.join(SHARED, "tokenizer"))
    ap.add_argument("--out", default=os.path.join(HERE, "..", "..", "reference", out_set))
    args = ap.parse_args(sys.argv[1:])
    src = open(os.path.join(HERE, "gen_strength.py")).read()
    src = src[:src.index("\ndef loop(")]
    src = src.replace("args = ap.parse_args()", f"args = ap.parse_args({['--tiny', args.tiny, '--tokenizer', args.tokenizer]!r})")
    g = {"__file__": os.path.join(HERE, "gen_strength.py"), "__name__": "gen_strength_helpers"}
    exec(compile(src, "gen_strength.py", "exec"), g)
    g["META"]["generator"] = "tools/refgen/" + generator
    return os.path.abspath(args.out), g
