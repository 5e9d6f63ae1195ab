"""Captions of a scene in varied wording: templates, synonyms and pronouns.

Every caption mentions every object of its scene and its events in order, so the wording
varies while the content stays exact. ``describe`` gives the one plain wording the ground
truth records.
"""

from __future__ import annotations

import numpy as np

from .scenes import Event, Scene
from .vocab import ACTION_WORDS, COLOUR_WORDS, MOVE_WORDS, PAIR_TEMPLATES, SHAPE_WORDS, STATIC_PHRASES


def _pick(words: tuple[str, ...], rng: np.random.Generator | None) -> str:
    return words[0] if rng is None else words[int(rng.integers(len(words)))]


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def noun_phrase(scene: Scene, obj: int, rng: np.random.Generator | None) -> str:
    """'a red circle' (or a synonym) for object ``obj`` in its initial colour."""
    o = scene.objects[obj]
    colour = _pick(COLOUR_WORDS[o.colour], rng)
    return f"{_article(colour)} {colour} {_pick(SHAPE_WORDS[o.shape], rng)}"


def verb_phrase(event: Event, rng: np.random.Generator | None) -> str:
    if event.action == "move":
        return _pick(MOVE_WORDS[event.param], rng)
    phrase = _pick(ACTION_WORDS[event.action], rng)
    if event.action == "recolour":
        phrase = phrase.format(c=_pick(COLOUR_WORDS[event.param], rng))
    return phrase


def caption(scene: Scene, rng: np.random.Generator | None = None) -> str:
    """One caption of ``scene``; ``rng=None`` gives the plain wording of :func:`describe`."""
    if len(scene.events) != 2:
        raise ValueError(f"captions are defined for two events, got {len(scene.events)}")
    a, b = scene.events
    template, a_first = PAIR_TEMPLATES[0 if rng is None else int(rng.integers(len(PAIR_TEMPLATES)))]
    first, second = (a, b) if a_first else (b, a)
    first_text = f"{noun_phrase(scene, first.obj, rng)} {verb_phrase(first, rng)}"
    subject = "it" if second.obj == first.obj else noun_phrase(scene, second.obj, rng)
    second_text = f"{subject} {verb_phrase(second, rng)}"
    a_text, b_text = (first_text, second_text) if a_first else (second_text, first_text)
    text = template.format(a=a_text, b=b_text)
    for obj in scene.static_objects():
        text += ", " + _pick(STATIC_PHRASES, rng).format(np=noun_phrase(scene, obj, rng))
    return text


def describe(scene: Scene) -> str:
    """The plain wording of ``scene`` (first synonym, first template)."""
    return caption(scene, None)


def captions(scene: Scene, k: int, rng: np.random.Generator) -> list[str]:
    """``k`` captions of ``scene``, distinct where the vocabulary allows."""
    out: list[str] = []
    for _ in range(50 * k):
        if len(out) == k:
            break
        text = caption(scene, rng)
        if text not in out:
            out.append(text)
    while len(out) < k:
        out.append(caption(scene, rng))
    return out
