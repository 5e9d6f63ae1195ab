"""The student: a CLIP4Clip-style dual encoder on a transformers CLIP backbone.

Captions go through CLIP's text tower, frames through its vision tower (each frame on its
own), both through CLIP's projections; a video head (:mod:`student.heads`) turns the frame
embeddings into one vector. At retrieval time the student is one normalised vector per
caption and one per video, compared by inner product.

transformers 5 returns output objects from ``get_*_features``, so this module calls
``text_model`` / ``vision_model`` and applies ``text_projection`` / ``visual_projection``
itself. The sentence embedding is the final-layer state of the last real token: for CLIP's
own tokenizer that is the EOS token (CLIP's pooling), and it stays right for word-level
tokenizers that add no EOS, where CLIP's ``eos_token_id`` pooling would pick position 0.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from stores.checkpoint import checkpoint_identity, read_marker
from teachkit.util.errors import InputError

from .config import ModelConfig
from .heads import build_head

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
WEIGHTS = "student.safetensors"
SPEC = "student.json"


@dataclass
class StudentOutputs:
    text: torch.Tensor  # (N, D) normalised caption vectors
    video: torch.Tensor  # (M, D) normalised video vectors
    sim: torch.Tensor  # (N, M) cosine similarities
    logit_scale: torch.Tensor  # scalar, the log of the contrastive scale (learnable)
    frame_weights: torch.Tensor | None  # (M, T) AFA weights, None for other heads


class StudentModel(nn.Module):
    def __init__(self, clip, head: str, head_options: dict, image_size: int, max_frames: int):
        super().__init__()
        self.clip = clip
        dim = clip.config.projection_dim
        # CLIP4Clip's temporal transformer uses width // 64 heads; the bootstrap's temporal
        # encoder (pipeline.bootstrap.train.build_temporal) uses width // 32 for its small
        # teachers. Each is part of the weights its stage has saved, so each keeps its own.
        heads = next(h for h in range(max(1, dim // 64), 0, -1) if dim % h == 0)
        self.head_name = head
        self.max_frames = max_frames
        self.head_options = dict(head_options)
        self.head = build_head(head, dim=dim, heads=heads, max_frames=max_frames, **head_options)
        self.image_size = image_size
        self.register_buffer("pixel_mean", torch.tensor(CLIP_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(CLIP_STD).view(1, 3, 1, 1), persistent=False)

    @property
    def logit_scale(self) -> torch.Tensor:
        return self.clip.logit_scale

    def encode_text(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        # right padding to max_words: the columns past the longest caption change nothing
        width = max(int(attention_mask.long().sum(1).max()), 1) if len(attention_mask) else 1
        input_ids, attention_mask = input_ids[:, :width], attention_mask[:, :width]
        out = self.clip.text_model(input_ids=input_ids, attention_mask=attention_mask)
        last = attention_mask.long().sum(1).clamp_min(1) - 1
        pooled = out.last_hidden_state[torch.arange(input_ids.shape[0], device=input_ids.device), last]
        return F.normalize(self.clip.text_projection(pooled).float(), dim=-1)

    def encode_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 frames (M, T, H, W, 3) -> projected frame embeddings (M, T, D)."""
        m, t = frames.shape[:2]
        x = frames.flatten(0, 1).permute(0, 3, 1, 2).float().div_(255.0)
        if x.shape[-1] != self.image_size or x.shape[-2] != self.image_size:
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear", antialias=True)
        x = (x - self.pixel_mean) / self.pixel_std
        out = self.clip.vision_model(pixel_values=x.to(self.clip.visual_projection.weight.dtype))
        return self.clip.visual_projection(out.pooler_output).view(m, t, -1)

    def encode_video(self, frames: torch.Tensor, frame_mask: torch.Tensor,
                     positions: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        video, weights = self.head(self.encode_frames(frames), frame_mask.bool(), positions)
        return F.normalize(video.float(), dim=-1), weights

    def forward(self, input_ids, attention_mask, frames, frame_mask, positions=None) -> StudentOutputs:
        text = self.encode_text(input_ids, attention_mask)
        video, weights = self.encode_video(frames, frame_mask, positions)
        return StudentOutputs(text, video, text @ video.T, self.logit_scale, weights)


# -- building, saving, loading -----------------------------------------------------------


def load_tokenizer(path: str):
    """A tokenizer from a folder or id, padding on the right with a pad token set.

    A folder that does not exist or does not load is an :class:`InputError` naming it (one
    line at the CLI), not a traceback from deep inside transformers."""
    from transformers import AutoTokenizer

    _check_folder("tokenizer", path)
    try:
        tok = AutoTokenizer.from_pretrained(path)
    except Exception as e:  # OSError, ValueError, ... from transformers' loaders
        raise InputError(f"tokenizer {path}: cannot load it ({type(e).__name__}: {_first_line(e)})") from e
    tok.padding_side = "right"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token or tok.unk_token
    if tok.pad_token is None:
        raise InputError(f"tokenizer {path} has no pad, eos or unk token to pad with")
    return tok


def _check_folder(what: str, spec: str) -> None:
    """A spec that can only be a local path (``./x``, ``/x``, ``~/x``, ``a/b/c``) must exist."""
    if spec.startswith((".", "/", "~")) or spec.count("/") >= 2:
        path = Path(spec).expanduser().absolute()
        if not path.is_dir():
            raise InputError(f"{what} folder {path} does not exist" if not path.exists()
                             else f"{what} folder {path} is a file, not a folder")


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [""])[0]


def tokenize(tokenizer, texts: list[str], max_words: int) -> tuple[torch.Tensor, torch.Tensor]:
    enc = tokenizer(
        list(texts), padding="max_length", truncation=True, max_length=max_words, return_tensors="pt"
    )
    return enc["input_ids"], enc["attention_mask"]


def tiny_clip_config(cfg: ModelConfig, tokenizer, logit_scale_init: float):
    from transformers import CLIPConfig

    t = cfg.tiny
    special = {
        k: v
        for k, v in (
            ("pad_token_id", tokenizer.pad_token_id),
            ("bos_token_id", tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.cls_token_id),
            ("eos_token_id", tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.sep_token_id),
        )
        if v is not None
    }
    return CLIPConfig(
        text_config=dict(
            vocab_size=len(tokenizer),
            hidden_size=t.hidden_size,
            intermediate_size=t.intermediate_size,
            num_hidden_layers=t.layers,
            num_attention_heads=t.heads,
            max_position_embeddings=cfg.max_words,
            **special,
        ),
        vision_config=dict(
            image_size=t.image_size,
            patch_size=t.patch_size,
            hidden_size=t.hidden_size,
            intermediate_size=t.intermediate_size,
            num_hidden_layers=t.layers,
            num_attention_heads=t.heads,
        ),
        projection_dim=t.projection_dim,
        logit_scale_init_value=math.log(logit_scale_init),
    )


def head_options(cfg: ModelConfig) -> dict:
    return {
        "seq_layers": cfg.seq_layers,
        "afa_temporal": cfg.afa_temporal,
        "afa_hidden": cfg.afa_hidden,
        "afa_temperature": cfg.afa_temperature,
    }


def build_student(cfg: ModelConfig, tokenizer, logit_scale_init: float, seed: int) -> StudentModel:
    """A fresh student (``tiny``) or one on pretrained CLIP weights; initialised from ``seed``."""
    from transformers import CLIPModel

    torch.manual_seed(seed)
    if cfg.backbone == "tiny":
        clip = CLIPModel(tiny_clip_config(cfg, tokenizer, logit_scale_init))
    else:
        _check_folder("backbone", cfg.backbone)
        from transformers.utils import logging as hf_logging

        bars = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # the trainer draws its own progress
        try:
            clip = CLIPModel.from_pretrained(cfg.backbone)
        except Exception as e:  # OSError, ValueError, a SafetensorError, ... from transformers
            raise InputError(f"backbone {cfg.backbone}: cannot load it as a CLIPModel "
                             f"({type(e).__name__}: {_first_line(e)})") from e
        finally:
            if bars:
                hf_logging.enable_progress_bar()
        if clip.config.text_config.max_position_embeddings < cfg.max_words:
            raise InputError(
                f"model.max_words ({cfg.max_words}) exceeds the backbone's "
                f"{clip.config.text_config.max_position_embeddings} text positions"
            )
    image_size = clip.config.vision_config.image_size
    torch.manual_seed(seed + 1)  # the head's init does not depend on the backbone's
    return StudentModel(clip, cfg.head, head_options(cfg), image_size, cfg.num_frames)


def backbone_identity(spec: str) -> dict:
    """What a run records of the backbone it started from (``backbone.json`` in the run folder).

    A local folder is identified as the teacher stage identifies a checkpoint it fine-tunes
    from (:func:`stores.checkpoint.checkpoint_identity`): a bootstrapped artefact by the
    fingerprints its ``bootstrap.json`` commits, so the same artefact rebuilt elsewhere has
    the same identity, any other folder by a checksum of its files, never by its path. A hub
    id is named by the id; ``tiny`` is a fresh model."""
    if spec == "tiny":
        return {"backbone": "tiny"}
    folder = Path(spec).expanduser()
    if not folder.is_dir():
        return {"backbone": spec, "hf_id": spec}
    out = {"backbone": spec, "checkpoint": checkpoint_identity(folder)}
    marker = read_marker(folder)
    if marker is not None and "options_fingerprint" in marker:
        out["objective"] = marker.get("options", {}).get("objective")
    return out


def save_student(model: StudentModel, tokenizer, folder: Path, extra: dict) -> None:
    """Weights (safetensors), the spec to rebuild the model, and the tokenizer."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(folder / WEIGHTS))
    spec = {
        "clip_config": model.clip.config.to_dict(),
        "head": model.head_name,
        "head_options": model.head_options,
        "image_size": model.image_size,
        "max_frames": model.max_frames,
        **extra,
    }
    (folder / SPEC).write_text(json.dumps(spec, indent=2, sort_keys=True, default=str))
    tokenizer.save_pretrained(str(folder / "tokenizer"))


def load_student(folder: str | Path, device: str = "cpu") -> tuple[StudentModel, object, dict]:
    """The saved student, its tokenizer and its spec; nothing else is loaded."""
    from safetensors.torch import load_file
    from transformers import CLIPConfig, CLIPModel

    folder = Path(folder)
    spec = json.loads((folder / SPEC).read_text())
    clip = CLIPModel(CLIPConfig.from_dict(spec["clip_config"]))
    model = StudentModel(clip, spec["head"], spec["head_options"], spec["image_size"], spec["max_frames"])
    model.load_state_dict(load_file(str(folder / WEIGHTS), device="cpu"))
    model.to(device).eval()
    return model, load_tokenizer(str(folder / "tokenizer")), spec
