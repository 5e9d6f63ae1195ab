"""Tiny teachers and datasets made on the spot, for tests and CPU smoke runs.

Nothing can be downloaded where the tests run, so they build real checkpoints from small
transformers configs, ``save_pretrained`` them and load them back through the same
``from_pretrained`` path a hub model takes: a CLIPModel with a word-level tokenizer and a
CLIP image processor, a SiglipModel likewise, and a BERT-style text encoder. ``write_video`` / ``write_dataset``
write MP4s (PyAV) and the jsonl annotations the ``jsonl`` manifest adapter reads.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

SPECIALS = ("[PAD]", "[UNK]", "[BOS]", "[EOS]")  # ids 0..3


def word_tokenizer(words: list[str]):
    """A lower-casing, whitespace-splitting word-level fast tokenizer: [BOS] text [EOS]."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(SPECIALS)}
    for w in sorted({w.lower() for w in words}):
        vocab.setdefault(w, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="[BOS] $A [EOS]", special_tokens=[("[BOS]", 2), ("[EOS]", 3)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", bos_token="[BOS]", eos_token="[EOS]"
    )


def tiny_clip(out: str | Path, words: list[str], image_size: int = 32, patch_size: int = 8,
              hidden: int = 32, layers: int = 2, projection: int = 16, seed: int = 0) -> Path:
    """Save a randomly initialised CLIPModel + tokenizer + CLIP image processor to ``out``."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    tokenizer = word_tokenizer(words)
    config = CLIPConfig(
        text_config=dict(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=2 * hidden,
                         num_hidden_layers=layers, num_attention_heads=2, max_position_embeddings=16,
                         pad_token_id=0, bos_token_id=2, eos_token_id=3),
        vision_config=dict(image_size=image_size, patch_size=patch_size, hidden_size=hidden,
                           intermediate_size=2 * hidden, num_hidden_layers=layers, num_attention_heads=2),
        projection_dim=projection,
    )
    torch.manual_seed(seed)
    out = Path(out)
    CLIPModel(config).eval().save_pretrained(out)
    tokenizer.save_pretrained(out)
    CLIPImageProcessor(
        size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size}
    ).save_pretrained(out)
    return out


def tiny_siglip(out: str | Path, words: list[str], image_size: int = 32, patch_size: int = 8,
                hidden: int = 32, layers: int = 2, max_words: int = 12, seed: int = 0) -> Path:
    """Save a randomly initialised SiglipModel + word-level tokenizer + SigLIP image processor."""
    import torch
    from transformers import SiglipConfig, SiglipImageProcessor, SiglipModel

    tokenizer = word_tokenizer(words)
    config = SiglipConfig(
        text_config=dict(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=2 * hidden,
                         num_hidden_layers=layers, num_attention_heads=2, max_position_embeddings=max_words,
                         pad_token_id=0, bos_token_id=2, eos_token_id=3),
        vision_config=dict(image_size=image_size, patch_size=patch_size, hidden_size=hidden,
                           intermediate_size=2 * hidden, num_hidden_layers=layers, num_attention_heads=2),
    )
    torch.manual_seed(seed)
    out = Path(out)
    SiglipModel(config).eval().save_pretrained(out)
    tokenizer.save_pretrained(out)
    SiglipImageProcessor(size={"height": image_size, "width": image_size}).save_pretrained(out)
    return out


def tiny_text_encoder(out: str | Path, words: list[str], hidden: int = 32, seed: int = 0) -> Path:
    """Save a randomly initialised BERT encoder + word-level tokenizer to ``out``."""
    import torch
    from transformers import BertConfig, BertModel

    tokenizer = word_tokenizer(words)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=hidden, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=2 * hidden, max_position_embeddings=32,
                        pad_token_id=0)
    torch.manual_seed(seed)
    out = Path(out)
    BertModel(config).eval().save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def write_video(path: str | Path, frames: np.ndarray, fps: int = 8, crf: int | None = 18) -> Path:
    """Encode (T, H, W, 3) uint8 frames as an H.264 MP4 (H and W even) at constant quality
    ``crf`` (``None``: the encoder's default); the one MP4 writer of the tests."""
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        if crf is not None:
            stream.options = {"crf": str(crf)}
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def random_frames(rng: np.random.Generator, n: int = 6, size: tuple[int, int] = (24, 32)) -> np.ndarray:
    """Smooth random frames (a colour gradient that drifts), so encoders see distinct videos."""
    h, w = size
    base = rng.uniform(0, 255, 3)
    slope = rng.uniform(-4, 4, (2, 3))
    y, x = np.mgrid[0:h, 0:w]
    out = []
    for t in range(n):
        img = base + slope[0] * (y[..., None] + t) + slope[1] * x[..., None]
        out.append(np.clip(img, 0, 255))
    return np.stack(out).astype(np.uint8)


def textured_clip(path: str | Path, n: int = 250, size: tuple[int, int] = (64, 96), fps: int = 25,
                  seed: int = 0) -> Path:
    """An MP4 of ``n`` frames with some texture, so its packets carry real data (for corrupting)."""
    rng = np.random.default_rng(seed)
    frames = random_frames(rng, n, size).astype(np.int16) + rng.integers(-20, 20, (n, *size, 3))
    return write_video(path, np.clip(frames, 0, 255).astype(np.uint8), fps=fps)


def corrupt_mid_file(path: str | Path, share: float, out: str | Path | None = None, seed: int = 0) -> Path:
    """Overwrite ``share`` of an MP4's media data, mid-``mdat``, with random bytes (as a bad disk or
    transfer does); write it to ``out`` (default: ``corrupt-<name>`` beside it)."""
    path = Path(path)
    data = bytearray(path.read_bytes())
    start, end = data.find(b"mdat"), data.find(b"moov")
    if not 0 < start < end:
        raise ValueError(f"{path}: expected the mdat box before moov (as PyAV writes them)")
    n = int((end - start) * share)
    mid = (start + end) // 2 - n // 2
    data[mid : mid + n] = np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()
    out = Path(out) if out is not None else path.with_name("corrupt-" + path.name)
    out.write_bytes(bytes(data))
    return out


def write_dataset(root: str | Path, videos: dict[str, tuple[str, list[str]]], seed: int = 0,
                  frames: int = 6, corrupt: tuple[str, ...] = ()) -> Path:
    """Write ``root/videos/<id>.mp4`` and ``root/annotations.jsonl``; return the jsonl path.

    ``videos`` maps video id -> (split, captions); caption ids are ``<video>_<k>``. Videos in
    ``corrupt`` get bytes that are not a video.
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    lines = []
    for vid, (split, captions) in videos.items():
        rel = f"videos/{vid}.mp4"
        if vid in corrupt:
            (root / "videos").mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(b"this is not an mp4 file" * 10)
        else:
            write_video(root / rel, random_frames(rng, frames))
        for k, text in enumerate(captions):
            lines.append({"video_id": vid, "caption_id": f"{vid}_{k}", "path": rel, "caption": text, "split": split})
    path = root / "annotations.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path
