"""Checks of a teacher's checkpoint that turn silent garbage and long tracebacks into one line.

Two moments:

* :func:`check_teacher` runs before the manifest is built and before any model is loaded
  (so also on a cached run): it reads only small files -- ``config.json``, the presence of
  the tokenizer and image-processor files, the safetensors headers -- and imports neither
  torch nor transformers. It refuses a folder that is no checkpoint, a checkpoint of the
  wrong shape for the teacher's kind (a text encoder as a ``clip`` teacher, a CLIP model
  as a ``text`` teacher), a missing ``preprocessor_config.json``, missing tokenizer files
  (transformers would build a 2-token tokenizer under which every caption encodes the
  same) and a truncated weights file.
* :func:`check_tokenizer_fits` runs when a teacher is loaded: a tokenizer whose vocabulary
  is far smaller than the model's embedding table does not belong to the model.

The checks look at the checkpoint's structure (a text and a vision tower), never at model
names, so any CLIP look-alike passes as the ``clip`` kind does.
"""

from __future__ import annotations

import json
from pathlib import Path

from .models import ModelError, model_folder

#: files one of which every tokenizer transformers can load from a folder brings (byte- and
#: character-level tokenizers such as ByT5's bring only ``tokenizer_config.json``)
TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "vocab.txt", "tokenizer.model", "spiece.model",
                   "sentencepiece.bpe.model", "spm.model", "tokenizer_config.json")
#: a tokenizer with fewer tokens than this share of the model's vocabulary is refused
MIN_VOCAB_SHARE = 0.5


def check_teacher(t) -> None:
    """Refuse (:class:`ModelError`, one line naming teacher and folder) a checkpoint ``t`` cannot use."""
    from .kinds import kind_of

    encoder = kind_of(t).encoder_of(t)  # the built-in encoder whose checkpoint it loads, if any
    if encoder is None or not t.model:
        return
    try:
        folder = model_folder(t.model)
    except ModelError as e:
        raise ModelError(f"teacher {t.name}: {e}") from None
    check_checkpoint(t.name, encoder, folder)


def check_checkpoint(name: str, kind: str, folder: Path) -> None:
    """The structural checks of :func:`check_teacher` on a resolved ``folder``."""
    where = f"teacher {name}: model folder {folder}"
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise ModelError(f"{where} has no config.json, so it is not a transformers checkpoint")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise ModelError(f"{where}: config.json is not valid JSON ({e})") from None
    if not isinstance(config, dict):
        raise ModelError(f"{where}: config.json holds no JSON object")
    model_type = config.get("model_type", "unknown")
    two_towers = isinstance(config.get("text_config"), dict) and isinstance(config.get("vision_config"), dict)
    if kind == "clip" and not two_towers:
        raise ModelError(
            f"{where} holds a {model_type!r} model without a text and a vision tower; clip teachers take "
            "CLIP or SigLIP checkpoints (kind = \"text\" takes a text encoder)"
        )
    if kind == "text" and two_towers:
        raise ModelError(
            f"{where} holds a {model_type!r} text-and-vision model; text teachers take a text encoder "
            "(use kind = \"clip\" for this checkpoint)"
        )
    if kind == "clip" and not (folder / "preprocessor_config.json").is_file():
        raise ModelError(
            f"{where} has no preprocessor_config.json (the image processor's resize, crop and "
            "normalisation); save the processor with save_pretrained into the folder"
        )
    if not any((folder / f).is_file() for f in TOKENIZER_FILES):
        raise ModelError(
            f"{where} has no tokenizer files (none of {', '.join(TOKENIZER_FILES[:3])}, ...); without them "
            "transformers builds a tokenizer that encodes every caption the same; save the model's "
            "tokenizer with save_pretrained into the folder"
        )
    check_weights(where, folder)


def check_weights(where: str, folder: Path) -> None:
    """Every safetensors file the folder's weights need is present and complete (headers only)."""
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        try:
            files = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise ModelError(f"{where}: {index.name} is not a safetensors index ({e})") from None
    elif (folder / "model.safetensors").is_file():
        files = ["model.safetensors"]
    elif (folder / "pytorch_model.bin").is_file() or (folder / "pytorch_model.bin.index.json").is_file():
        return  # a pickled checkpoint: transformers checks it when loading
    else:
        raise ModelError(f"{where} holds no weights (model.safetensors or pytorch_model.bin)")
    for name in files:
        path = folder / name
        if not path.is_file():
            raise ModelError(f"{where}: {name}, listed in {index.name}, is missing")
        _check_safetensors(where, path)


def _check_safetensors(where: str, path: Path) -> None:
    """The 8-byte header length, the JSON header, and a file long enough for every tensor in it."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        n = int.from_bytes(head, "little") if len(head) == 8 else -1
        if n < 2 or n > size - 8:
            raise ModelError(f"{where}: {path.name} is not a safetensors file or is truncated ({size:,} bytes)")
        try:
            header = json.loads(f.read(n))
            end = max((int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"), default=0)
        except (ValueError, KeyError, TypeError, AttributeError, IndexError):
            raise ModelError(f"{where}: {path.name} has no readable safetensors header") from None
    if size < 8 + n + end:
        raise ModelError(f"{where}: {path.name} is truncated ({size:,} of {8 + n + end:,} bytes)")


def check_tokenizer_fits(tokenizer, vocab_size: int | None, folder) -> None:
    """Refuse a tokenizer with far fewer tokens than the model's vocabulary (see module docstring)."""
    if not vocab_size:
        return
    n = len(tokenizer)
    if n < MIN_VOCAB_SHARE * vocab_size:
        raise ModelError(
            f"model folder {folder}: its tokenizer has {n:,} tokens but the model's vocabulary has "
            f"{vocab_size:,}; the tokenizer does not belong to this model (save the model's own "
            "tokenizer into the folder)"
        )
