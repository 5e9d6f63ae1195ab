"""``train_step_ms``, ``eager_attention_over_sdpa``, ``compiled_over_uncompiled``: what one training
step of a demo-sized student costs, and whether the usual CPU speed-ups buy anything.

The model is the demo's: a transformers ``CLIPModel`` 64 wide with 2 layers per tower, 64-pixel
frames in 16-pixel patches, 32-token captions, a batch of 64 videos with 4 frames each, CLIP's
symmetric loss over meanP video vectors, AdamW. ``train_step_ms`` is one step (forward,
backward, optimiser) with transformers' default SDPA attention; the two ratios time another
variant against it in alternating pairs, each with its own model and optimiser from the same
initial weights: ``attn_implementation="eager"``, and the step's forward under
``torch.compile`` (its compile time is in the detail). A ratio above 1 is slower.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from .common import BenchConfig, Figure, log, paired, spread, summarize
from .workspace import Workspace

FIGURES = ("train_step_ms", "eager_attention_over_sdpa", "compiled_over_uncompiled")


def sizes(cfg: BenchConfig) -> tuple[int, int, int, int]:
    """(width, layers, videos, frames): the demo's student in quick and full mode."""
    return cfg.pick(tiny=(32, 1, 8, 2), quick=(64, 2, 64, 4), full=(64, 2, 64, 4))


def _model(width: int, layers: int, attn: str):
    from transformers import CLIPConfig, CLIPModel

    torch.manual_seed(0)
    tower = dict(hidden_size=width, intermediate_size=4 * width, num_hidden_layers=layers, num_attention_heads=4)
    cfg = CLIPConfig(text_config=dict(vocab_size=1000, max_position_embeddings=32, bos_token_id=1, eos_token_id=2, **tower),
                     vision_config=dict(image_size=64, patch_size=16, **tower), projection_dim=width)
    return CLIPModel._from_config(cfg, attn_implementation=attn)


def _stepper(model, inputs, compiled: bool):
    pix, ids, mask, videos, frames = inputs
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def loss_of(pix, ids, mask):
        v = model.visual_projection(model.vision_model(pixel_values=pix).pooler_output).view(videos, frames, -1).mean(1)
        t = model.text_projection(model.text_model(input_ids=ids, attention_mask=mask).pooler_output)
        sim = F.normalize(t, dim=-1) @ F.normalize(v, dim=-1).T * 20.0
        target = torch.arange(videos)
        return (F.cross_entropy(sim, target) + F.cross_entropy(sim.T, target)) / 2

    forward = torch.compile(loss_of) if compiled else loss_of

    def step():
        loss = forward(pix, ids, mask)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def run(cfg: BenchConfig, ws: Workspace) -> list[Figure]:
    width, layers, videos, frames = sizes(cfg)
    g = torch.Generator().manual_seed(0)
    inputs = (torch.randn(videos * frames, 3, 64, 64, generator=g), torch.randint(3, 1000, (videos, 32), generator=g),
              torch.ones(videos, 32, dtype=torch.long), videos, frames)
    log(f"train_step: {width}-wide {layers}-layer CLIP, {videos} videos x {frames} frames, "
        f"{torch.get_num_threads()} threads")
    sdpa = _stepper(_model(width, layers, "sdpa"), inputs, False)
    eager = _stepper(_model(width, layers, "eager"), inputs, False)
    start = time.perf_counter()
    compiled = _stepper(_model(width, layers, "sdpa"), inputs, True)
    compiled()  # the first call compiles
    compile_s = time.perf_counter() - start
    t_sdpa, t_eager, r_eager = paired(sdpa, eager, cfg.repeats)
    t_sdpa2, t_comp, r_comp = paired(sdpa, compiled, cfg.repeats)
    detail = {"width": width, "layers": layers, "videos": videos, "frames": frames, "threads": torch.get_num_threads()}
    return [
        summarize("train_step_ms", [1000 * t for t in t_sdpa + t_sdpa2], "ms", "",
                  "one training step of a demo-sized student (SDPA attention)", detail),
        summarize("eager_attention_over_sdpa", [1.0 / r for r in r_eager], "ratio", "",
                  "step time with eager attention / with SDPA", detail | {"eager_ms": spread([1000 * t for t in t_eager])}),
        summarize("compiled_over_uncompiled", [1.0 / r for r in r_comp], "ratio", "",
                  "step time with the forward under torch.compile / without",
                  detail | {"compile_s": compile_s, "compiled_ms": spread([1000 * t for t in t_comp])}),
    ]
