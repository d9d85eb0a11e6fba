"""Writes CLIP's BPE tokenizer files (vocab.json, merges.txt, tokenizer_config.json, special_tokens_map.json) from
OpenAI's bpe_simple_vocab_16e6.txt.gz (github.com/openai/CLIP, clip/), the way Hugging Face made the files of
openai/clip-vit-large-patch14 that Stable Diffusion ships: the first 48,894 merges, a vocabulary of the 256 byte
characters, the same with "</w>", one token per merge, then <|startoftext|> and <|endoftext|> (49,408 tokens).

Usage: python3 make_tokenizer.py bpe_simple_vocab_16e6.txt.gz OUT_DIR
"""
import gzip
import json
import os
import sys


def bytes_to_unicode():
    """CLIP's (and GPT-2's) reversible map from bytes to printable characters."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def build(bpe_gz):
    lines = gzip.open(bpe_gz).read().decode("utf-8").split("\n")
    merges = [tuple(m.split()) for m in lines[1:49152 - 256 - 2 + 1]]
    vocab = list(bytes_to_unicode().values())
    vocab = vocab + [v + "</w>" for v in vocab]
    vocab += ["".join(m) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    return {t: i for i, t in enumerate(vocab)}, merges


def special(content):
    return {"content": content, "lstrip": False, "normalized": True, "rstrip": False, "single_word": False}


def main(bpe_gz, out):
    vocab, merges = build(bpe_gz)
    assert len(vocab) == 49408, len(vocab)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "vocab.json"), "w", encoding="utf-8") as f:
        f.write(json.dumps(vocab, ensure_ascii=False))
    with open(os.path.join(out, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "".join(" ".join(m) + "\n" for m in merges))
    tokens = {"bos_token": special("<|startoftext|>"), "eos_token": special("<|endoftext|>"),
              "pad_token": "<|endoftext|>", "unk_token": special("<|endoftext|>")}
    with open(os.path.join(out, "special_tokens_map.json"), "w") as f:
        json.dump(tokens, f, indent=2)
        f.write("\n")
    config = {"add_prefix_space": False, "bos_token": dict(special("<|startoftext|>"), __type="AddedToken"),
              "do_lower_case": True, "eos_token": dict(special("<|endoftext|>"), __type="AddedToken"),
              "errors": "replace", "model_max_length": 77, "pad_token": "<|endoftext|>",
              "tokenizer_class": "CLIPTokenizer", "unk_token": dict(special("<|endoftext|>"), __type="AddedToken")}
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
