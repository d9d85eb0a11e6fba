"""The one safetensors writer of the reference generators: 8-byte header length, compact JSON header (metadata
first, names sorted), padded to 8 bytes, then the tensors' bytes in name order."""
import json
import os
import struct

import torch

DTYPES = {torch.float32: "F32", torch.int64: "I64"}
WITH_F16 = {**DTYPES, torch.float16: "F16"}


def write(path, tensors, metadata, dtypes=DTYPES):
    """Writes TENSORS (name -> tensor or array); a dtype outside DTYPES is a KeyError (F16 only with WITH_F16)."""
    header, blobs, off = {"__metadata__": metadata}, [], 0
    for name in sorted(tensors):
        t = tensors[name]
        t = (t if torch.is_tensor(t) else torch.tensor(t)).detach().contiguous()
        b = t.numpy().tobytes()
        header[name] = {"dtype": dtypes[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b); off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h))); f.write(h)
        for b in blobs: f.write(b)
