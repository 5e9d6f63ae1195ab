"""``teachkit student export RUN --format hf OUT``: a student run in standard formats.

A run folder (:mod:`student.runs`) is teachkit's own layout; an export is what other code
loads without teachkit:

    OUT/
      config.json model.safetensors      the CLIP backbone: CLIPModel.from_pretrained(OUT)
      tokenizer.json tokenizer_config.json ...   AutoTokenizer.from_pretrained(OUT)
      preprocessor_config.json           a CLIPImageProcessor close to the training resize
      video_head.safetensors video_head.json     the temporal + AFA head (or meanP / seqTransf)
      teachkit_heads.py teachkit_student.py      the head modules and a small loader (torch only)
      teachkit_run.json                  the run's config, teachers and metrics, verbatim
      README.md                          the model card

Formats are a registry (:data:`FORMATS`); ``hf`` is the one there is.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

from teachkit.util.atomic import atomic_path
from teachkit.util.errors import InputError

from . import heads, hf_loader
from .model import CLIP_MEAN, CLIP_STD, SPEC, WEIGHTS, load_student


def _read(run: Path, name: str, default=None):
    p = run / name
    return json.loads(p.read_text()) if p.exists() else default


def head_config(model, spec: dict) -> dict:
    """What :func:`student.hf_loader.load_video_head` needs to rebuild the head."""
    dim = model.clip.config.projection_dim
    return {
        "head": model.head_name,
        "dim": dim,
        "heads": next(h for h in range(max(1, dim // 64), 0, -1) if dim % h == 0),  # as StudentModel
        "max_frames": model.max_frames,
        "options": model.head_options,
        "image_size": model.image_size,
        "num_frames": spec.get("num_frames", model.max_frames),
        "fps": spec.get("fps", 0.0),
        "max_words": spec["max_words"],
        "pixel_mean": list(CLIP_MEAN),
        "pixel_std": list(CLIP_STD),
    }


def text_pooling_matches(clip_config, tokenizer) -> bool:
    """Whether ``CLIPModel.get_text_features`` pools the token the student pooled.

    transformers pools the first ``eos_token_id`` (or, for the legacy id 2, the largest id);
    the student pools the last real token. They agree when the tokenizer ends every text
    with that EOS token."""
    eos = clip_config.text_config.eos_token_id
    ids = tokenizer(["a"])["input_ids"][0]
    return eos is not None and eos != 2 and ids[-1] == eos and ids.count(eos) == 1


def _dataset(store: str | None, manifest: str | None) -> str:
    """The dataset name the store's manifest records, when that store is here and unchanged."""
    from stores.layout import Store, StoreError

    try:
        m = Store(store).manifest() if store else None
    except (StoreError, OSError, ValueError):
        return "?"
    return m.dataset if m is not None and m.fingerprint == manifest else "?"


def model_card(run: Path, spec: dict, hc: dict, pooling_ok: bool, config: dict, teachers: dict, metrics: dict) -> str:
    """The README.md of an export: data, teachers and their fingerprints, metrics, config."""
    data = config.get("data", {})
    dataset = _dataset(data.get("store"), teachers.get("manifest"))
    lines = [
        "---", "library_name: transformers", "pipeline_tag: feature-extraction",
        "tags: [teachkit, text-to-video-retrieval, clip4clip, teachclip, knowledge-distillation]", "---", "",
        f"# {run.name}: a teachkit student", "",
        "A CLIP4Clip-style text-to-video retrieval student (one vector per caption, one per video, cosine "
        f"search) trained by teachkit, run `{run.name}`. Video head: `{hc['head']}` over {hc['num_frames']} frames "
        f"of {hc['image_size']} x {hc['image_size']} pixels; captions up to {hc['max_words']} tokens.", "",
        "## Data", "",
        f"- dataset `{dataset}`, store `{data.get('store', '?')}`, manifest `{teachers.get('manifest', '?')}`",
        f"- trained on split `{data.get('train_split', '?')}`"
        + (f" (minus {data['holdout_videos']} held-out videos)" if data.get("holdout_videos") else "")
        + f", evaluated on split `{data.get('test_split', '?')}`", "",
        "## Teachers", "",
    ]
    used = teachers.get("used", {})
    if used:
        lines += ["| teacher | kind | fingerprint |", "|---|---|---|"]
        lines += [f"| {t} | {r.get('kind', '')} | `{r.get('fingerprint', '')}` |" for t, r in sorted(used.items())]
    else:
        lines.append("None: trained without distillation.")
    lines += ["", "## Metrics", "", f"Split `{data.get('test_split', 'test')}`, as the run measured them:", ""]
    keys = [k for k in ("R@1", "R@5", "R@10", "MdR", "MnR") if k in metrics.get("t2v", {})]
    if keys:
        lines += ["| direction | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
        lines += [f"| {d} | " + " | ".join(f"{metrics[d][k]:.1f}" for k in keys) + " |" for d in ("t2v", "v2t") if d in metrics]
    lines += [
        "", "## Use", "", "```python", "import sys", "sys.path.insert(0, 'OUT')  # this folder",
        "from teachkit_student import ExportedStudent", "s = ExportedStudent('OUT')",
        "text = s.encode_text(['a red circle moves left'])   # (1, D), normalised",
        "video, frame_weights = s.encode_video(frames)        # uint8 frames (M, T, H, W, 3)",
        "scores = text @ video.T", "```", "",
        "The backbone alone: `transformers.CLIPModel.from_pretrained('OUT')` gives the frame features "
        "(`get_image_features`) the head aggregates"
        + (", and `get_text_features` gives the caption vectors (normalise them)." if pooling_ok else
           "; its `get_text_features` pools another token than training did with this tokenizer, so use "
           "`ExportedStudent.encode_text`."),
        "`preprocessor_config.json` (CLIPImageProcessor) resizes with PIL, close to but not bit-equal with "
        "the training resize; `teachkit_student.pixel_values` is exact.", "",
        "## Config", "", "```json", json.dumps(config, indent=2, sort_keys=True), "```", "",
    ]
    return "\n".join(lines)


def export_hf(run: Path, out: Path) -> Path:
    from safetensors.torch import save_file

    try:  # transformers 5 without torchvision: the PIL processor (what CLIPImageProcessor falls back to)
        from transformers import CLIPImageProcessorPil as image_processor
    except ImportError:
        from transformers import CLIPImageProcessor as image_processor

    model, tokenizer, spec = load_student(run)
    hc = head_config(model, spec)
    config, teachers, metrics = _read(run, "config.json", {}), _read(run, "teachers.json", {}), _read(run, "metrics.json", {})
    pooling_ok = text_pooling_matches(model.clip.config, tokenizer)
    with atomic_path(out) as tmp:
        tmp.mkdir(parents=True)
        model.clip.save_pretrained(str(tmp))
        tokenizer.model_max_length = hc["max_words"]
        tokenizer.save_pretrained(str(tmp))
        image_processor(
            size={"shortest_edge": hc["image_size"]}, crop_size={"height": hc["image_size"], "width": hc["image_size"]},
            resample=2, image_mean=list(CLIP_MEAN), image_std=list(CLIP_STD),
        ).save_pretrained(str(tmp))
        head = {k.removeprefix("head."): v.detach().contiguous() for k, v in model.state_dict().items() if k.startswith("head.")}
        save_file(head, str(tmp / hf_loader.HEAD_WEIGHTS), metadata={"format": "pt", "head": hc["head"]})
        (tmp / hf_loader.HEAD_CONFIG).write_text(json.dumps(hc, indent=2, sort_keys=True) + "\n")
        (tmp / "teachkit_heads.py").write_text(inspect.getsource(heads))
        (tmp / "teachkit_student.py").write_text(inspect.getsource(hf_loader))
        (tmp / "teachkit_run.json").write_text(
            json.dumps({"run": run.name, "config": config, "teachers": teachers, "metrics": metrics}, indent=2,
                       sort_keys=True, default=str) + "\n")
        (tmp / "README.md").write_text(model_card(run, spec, hc, pooling_ok, config, teachers, metrics))
        for f in tmp.iterdir():
            f.chmod(0o644)  # safetensors writes 0600; an export is meant to be shared
    return out


FORMATS = {"hf": export_hf}


def export_run(run: str | Path, out: str | Path, fmt: str = "hf") -> Path:
    """Export student run ``run`` to ``out`` in format ``fmt`` (see :data:`FORMATS`)."""
    run, out = Path(run), Path(out)
    if fmt not in FORMATS:
        raise InputError(f"--format {fmt!r}: formats are {sorted(FORMATS)}")
    if not (run / WEIGHTS).exists() or not (run / SPEC).exists():
        raise InputError(f"{run} is not a student run (no {WEIGHTS} / {SPEC})")
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / hf_loader.HEAD_CONFIG).exists())):
        raise InputError(f"{out} exists and is not an export; pick a new folder")
    return FORMATS[fmt](run, out)
