"""``ensure_checkpoint``: a cached, atomically written, bootstrapped CLIP teacher folder.

The folder holds exactly what ``from_pretrained`` reads for a hub CLIP -- ``config.json`` +
weights (``CLIPModel``), ``tokenizer.json`` (``AutoTokenizer``) and
``preprocessor_config.json`` (``AutoImageProcessor``) -- so the teacher stage loads it
through the same path as ``openai/clip-vit-base-patch32``. ``bootstrap.json`` is written
last and records the fingerprints of the options and of the training data; a folder whose
``bootstrap.json`` matches is returned at once. Training happens in a temporary sibling
folder that is renamed into place only when complete, so an interrupted run leaves no
half-written teacher behind.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stores.checkpoint import MARKER, checkpoint_identity, read_marker
from teachkit.util.atomic import atomic_path, remove_dead_leftovers

from .options import BootstrapOptions, parse_options

@dataclass(frozen=True)
class BootstrapResult:
    path: Path
    cached: bool  # True: the folder was already up to date and nothing was trained
    info: dict[str, Any]  # the contents of bootstrap.json


def _say(msg: str) -> None:
    print(msg, file=sys.stderr)


def bootstrap(out_dir: str | Path, options: dict | BootstrapOptions, store_root: str | Path) -> BootstrapResult:
    """Train (or reuse) the teacher in ``out_dir``; see :func:`ensure_checkpoint`."""
    from .data import read_split

    opts = options if isinstance(options, BootstrapOptions) else parse_options(options)
    out_dir = Path(out_dir)  # store_root stays as given: a folder or a URL
    rows = read_split(store_root)
    key = _key(opts, rows.fingerprint())
    marker = read_marker(out_dir)
    if _matches(marker, key):
        _say(f"bootstrap: {out_dir} is up to date (cached; options and train data unchanged)")
        _export_tokenizer(out_dir, opts.tokenizer_out)
        return BootstrapResult(out_dir, True, marker)
    if marker is not None:
        _say(f"bootstrap: {out_dir} was trained with other options or data; retraining")

    remove_dead_leftovers(out_dir)
    with atomic_path(out_dir) as tmp:  # trained in a sibling, swapped in whole
        tmp.mkdir()
        info = {**key, **_train_into(tmp, opts, rows, key["data_fingerprint"], out_dir.name)}
        (tmp / MARKER).write_text(json.dumps(info, indent=2, sort_keys=True))  # the commit marker, last
    _export_tokenizer(out_dir, opts.tokenizer_out)
    return BootstrapResult(out_dir, False, info)


def _key(opts: BootstrapOptions, data_fingerprint: str) -> dict[str, str]:
    """What a checkpoint's ``bootstrap.json`` must record to be up to date."""
    key = {"options_fingerprint": opts.fingerprint(), "data_fingerprint": data_fingerprint}
    if opts.init is not None:
        key["init_fingerprint"] = init_identity(opts.init)
    return key


def _matches(marker: dict | None, key: dict) -> bool:
    return marker is not None and all(marker.get(k) == v for k, v in key.items())


def stale(checkpoints: dict[str, dict], store_root: str | Path) -> list[str]:
    """The folders of ``{folder: options}`` that :func:`ensure_checkpoint` would (re)train, in
    order; a checkpoint fine-tuned from a stale one (its ``init``) is stale too. Cheap: the
    split's fingerprint once, then each folder's marker."""
    from .data import read_split

    data = read_split(store_root).fingerprint()
    out: list[str] = []
    for folder, options in checkpoints.items():
        opts = options if isinstance(options, BootstrapOptions) else parse_options(options)
        if opts.init is not None and str(Path(opts.init)) in out:
            out.append(folder)
        elif not _matches(read_marker(Path(folder)), _key(opts, data)):
            out.append(folder)
    return out


def export_tokenizer(out_dir: str | Path, options: dict | BootstrapOptions) -> None:
    """What a cached checkpoint still owes: its tokenizer at ``tokenizer_out``, if asked for
    (done by :func:`bootstrap` itself; for folders :func:`stale` found up to date)."""
    opts = options if isinstance(options, BootstrapOptions) else parse_options(options)
    _export_tokenizer(Path(out_dir), opts.tokenizer_out)


def init_identity(folder: str | Path) -> str:
    """What a fine-tuned checkpoint's fingerprint holds of the checkpoint it starts from:
    :func:`stores.checkpoint.checkpoint_identity` (a bootstrapped artefact by its own key,
    any other folder by a checksum of its files; never the path), the record the student's
    ``backbone.json`` keeps too."""
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise ValueError(f"init {folder}: not a checkpoint folder (no config.json); "
                         "train the artefact it names first, or give a CLIPModel folder")
    return checkpoint_identity(folder)


def ensure_checkpoint(out_dir: Path, options: dict, store_root: Path) -> Path:
    """The folder of a CLIP teacher bootstrapped from the store's ``train`` split, training it if needed.

    ``options`` is the ``[teachers.bootstrap]`` table (see
    :class:`~pipeline.bootstrap.options.BootstrapOptions`). Returns ``out_dir`` at once when
    its ``bootstrap.json`` matches the options and the training data; otherwise trains a new
    model, tokenizer and image processor and swaps them in atomically.
    """
    return bootstrap(out_dir, options, store_root).path


def _train_into(folder: Path, opts: BootstrapOptions, rows, data_fingerprint: str, name: str) -> dict[str, Any]:
    """Train into ``folder``; transformers' own "Loading weights" / "Writing model shards" bars
    are off meanwhile (the bootstrap draws its own progress)."""
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        return _train(folder, opts, rows, data_fingerprint, name)
    finally:
        if enabled:
            hf_logging.enable_progress_bar()


def _train(folder: Path, opts: BootstrapOptions, rows, data_fingerprint: str, name: str) -> dict[str, Any]:
    if opts.objective == "paraphrase":  # a text encoder: no frames, no image processor
        from .paraphrase import train_into

        return train_into(folder, opts, rows, _held_out(rows, opts.holdout), name, _say)
    import numpy as np
    import torch
    import transformers
    from transformers import AutoImageProcessor, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from .train import build_clip, build_temporal, load_clip, train_clip
    from .vocab import build_tokenizer, tokenize

    started = time.perf_counter()
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # "falling back to the PIL backend" is expected without torchvision
    try:
        from transformers import CLIPImageProcessor  # the import is what warns about it

        if opts.init is not None:  # fine-tuned: the init's vocabulary and preprocessing, unchanged
            AutoTokenizer.from_pretrained(opts.init).save_pretrained(folder)
            AutoImageProcessor.from_pretrained(opts.init).save_pretrained(folder)
        else:
            build_tokenizer([text for _, _, text in rows.captions], opts.max_words).save_pretrained(folder)
            size = opts.image_size
            CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size}).save_pretrained(folder)
        # train through what the teacher stage will load, not through the objects built above
        processor = AutoImageProcessor.from_pretrained(folder)
    finally:
        hf_logging.set_verbosity(verbosity)
    tokenizer = AutoTokenizer.from_pretrained(folder)

    frameset = _decoded(rows, data_fingerprint, processor, opts)
    decode_s = time.perf_counter() - started
    left_out = _held_out(rows, opts.holdout)
    trained = {vid for cid, vid, _ in rows.captions if cid not in left_out}
    if len(trained) < len(frameset.video_ids):  # a video whose every caption is held out
        frameset = frameset.subset([v for v in frameset.video_ids if v in trained])
    row_of = {vid: i for i, vid in enumerate(frameset.video_ids)}
    kept = [(vid, text) for cid, vid, text in rows.captions if vid in row_of and cid not in left_out]
    input_ids, attention_mask = tokenize(tokenizer, [t for _, t in kept], opts.max_words)
    caption_video = np.array([row_of[v] for v, _ in kept])

    from teachkit.util.device import resolve_device

    device = resolve_device("auto")
    threads = torch.get_num_threads()
    if opts.threads:
        torch.set_num_threads(opts.threads)
    try:
        model = build_clip(opts, tokenizer) if opts.init is None else load_clip(opts.init)
        temporal = build_temporal(model, opts)
        _say(
            f"bootstrap {name}: {'training' if opts.init is None else 'fine-tuning'} a {opts.objective} CLIP "
            f"({sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters"
            f"{f', {opts.temporal_layers}-layer temporal encoder' if temporal is not None else ''}) "
            f"on {len(frameset.video_ids)} videos / {len(kept)} captions, {opts.steps} steps on {device}"
        )
        log = train_clip(model, processor, frameset, input_ids, attention_mask, caption_video, opts, device, temporal,
                         label=f"bootstrap {name} ({opts.objective})")
    finally:
        torch.set_num_threads(threads)
    model.to("cpu").save_pretrained(folder)
    if temporal is not None:
        from ..temporal import save as save_temporal

        save_temporal(temporal.to("cpu"), folder)
    _say(f"bootstrap {name}: trained in {log.seconds:.0f}s, loss {log.losses[0]:.3f} -> {log.losses[-1]:.3f}")
    return {
        "options": opts.as_dict(),
        "train": {
            "videos": len(frameset.video_ids),
            "captions": len(kept),
            "held_out_captions": len(left_out),
            "failures": frameset.failures,
            "steps": log.steps,
            "losses": log.losses,
            "logit_scale": log.logit_scale,
            "decode_seconds": decode_s,
            "train_seconds": log.seconds,
            "train_cpu_seconds": log.cpu_seconds,
            "device": str(device),
            "threads": opts.threads or threads,
        },
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
    }


#: decoded train splits of this process, shared by the bootstraps of one ``teachers run``
_FRAMESETS: dict[tuple, object] = {}


def _decoded(rows, data_fingerprint: str, processor, opts: BootstrapOptions):
    """The split's frames as ``processor`` prepares them, decoded once per process and shape
    (keyed by the split's fingerprint, which :func:`bootstrap` has already computed)."""
    from .data import decode_videos

    key = (data_fingerprint, opts.num_frames, opts.fps, processor.to_json_string())
    if key not in _FRAMESETS:
        _say(f"bootstrap: decoding {len(rows.videos)} train videos ({opts.num_frames} frames each)")
        _FRAMESETS.clear()  # one split at a time: a few hundred MB of uint8 frames
        _FRAMESETS[key] = decode_videos(rows.videos, processor, opts.num_frames, opts.fps)
    return _FRAMESETS[key]


def _held_out(rows, holdout: str | None) -> set[str]:
    """Caption ids of the training split that ``holdout`` leaves out (stores.folds)."""
    if holdout is None:
        return set()
    from stores.folds import held_out, parse_holdout

    return held_out([(cid, vid) for cid, vid, _ in rows.captions], parse_holdout(holdout))


def _export_tokenizer(out_dir: Path, target: str | None) -> None:
    """Also save the teacher's tokenizer alone at ``target`` (the student reuses its vocabulary)."""
    if not target:
        return
    target = Path(target)
    src = Path(out_dir) / "tokenizer.json"
    if (target / "tokenizer.json").is_file() and (target / "tokenizer.json").read_bytes() == src.read_bytes():
        return
    from transformers import AutoTokenizer

    with atomic_path(target) as tmp:
        AutoTokenizer.from_pretrained(out_dir).save_pretrained(tmp)
    _say(f"bootstrap: tokenizer saved to {target}")
