"""Scene descriptors: which objects a demo video shows and which events happen, in order.

A :class:`Scene` is the whole content of a video up to jitter (positions, speeds, sizes):
its objects (shape, colour) and its timed events. Two videos with the same ``key()`` show
the same thing, so the test split is made of distinct keys. Objects are kept in a canonical
order (by first mention in the events, motionless ones last) so equal content gives equal
keys. Captions mention every object, so a caption determines its scene's key: a caption
made from a different key is a wrong caption for the video.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

import numpy as np

from .vocab import ACTIONS, COLOURS, SHAPES

ACTION_WEIGHTS: dict[str, float] = {
    "move": 0.3,
    "grow": 0.1,
    "shrink": 0.1,
    "appear": 0.1,
    "disappear": 0.1,
    "blink": 0.1,
    "recolour": 0.2,
}


@dataclass(frozen=True)
class SceneObject:
    shape: str
    colour: str


@dataclass(frozen=True)
class Event:
    obj: int
    action: str
    param: str | None = None


@dataclass(frozen=True)
class Scene:
    objects: tuple[SceneObject, ...]
    events: tuple[Event, ...]

    def to_json(self) -> dict:
        return {
            "objects": [{"shape": o.shape, "colour": o.colour} for o in self.objects],
            "events": [{"object": e.obj, "action": e.action, "param": e.param} for e in self.events],
        }

    @classmethod
    def from_json(cls, data: dict) -> Scene:
        return cls(
            tuple(SceneObject(o["shape"], o["colour"]) for o in data["objects"]),
            tuple(Event(e["object"], e["action"], e["param"]) for e in data["events"]),
        )

    def key(self) -> str:
        """Canonical identity of the content (what a caption can say about it)."""
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))

    def static_objects(self) -> list[int]:
        """Objects that take part in no event."""
        moving = {e.obj for e in self.events}
        return [i for i in range(len(self.objects)) if i not in moving]

    def colours_at(self, event_index: int) -> list[str]:
        """Each object's colour just before event ``event_index`` (after earlier recolours)."""
        colours = [o.colour for o in self.objects]
        for e in self.events[:event_index]:
            if e.action == "recolour":
                colours[e.obj] = e.param
        return colours


def canonical(objects: tuple[SceneObject, ...], events: tuple[Event, ...]) -> Scene:
    """Reorder objects by first mention in ``events`` (motionless ones last, kept in order)."""
    order: list[int] = []
    for e in events:
        if e.obj not in order:
            order.append(e.obj)
    order += [i for i in range(len(objects)) if i not in order]
    remap = {old: new for new, old in enumerate(order)}
    return Scene(
        tuple(objects[i] for i in order),
        tuple(Event(remap[e.obj], e.action, e.param) for e in events),
    )


def is_valid(scene: Scene) -> bool:
    """Whether the scene can be drawn and described without ambiguity.

    Objects differ in both colour and shape (so "the circle" or "the red one" is never
    ambiguous); events are distinct; an object appears only before anything else happens to
    it and disappears only after; a recolour picks a colour no object shows at the time.
    """
    objs = scene.objects
    if not 1 <= len(objs) <= 2 or not scene.events:
        return False
    if len({o.colour for o in objs}) != len(objs) or len({o.shape for o in objs}) != len(objs):
        return False
    if len(set(scene.events)) != len(scene.events):
        return False
    for i, e in enumerate(scene.events):
        if not 0 <= e.obj < len(objs) or e.action not in ACTIONS:
            return False
        choices = ACTIONS[e.action]
        if (choices is None) != (e.param is None) or (choices is not None and e.param not in choices):
            return False
        own = [j for j, f in enumerate(scene.events) if f.obj == e.obj]
        if e.action == "appear" and i != own[0]:
            return False
        if e.action == "disappear" and i != own[-1]:
            return False
        if e.action == "recolour":
            if e.param in scene.colours_at(i) or e.param in {o.colour for o in objs}:
                return False
    return scene == canonical(scene.objects, scene.events)


def _sample_event(rng: np.random.Generator, n_objects: int) -> Event:
    names = list(ACTION_WEIGHTS)
    p = np.array([ACTION_WEIGHTS[n] for n in names])
    action = names[rng.choice(len(names), p=p / p.sum())]
    choices = ACTIONS[action]
    param = None if choices is None else choices[rng.integers(len(choices))]
    return Event(int(rng.integers(n_objects)), action, param)


def sample_scene(rng: np.random.Generator, n_events: int = 2) -> Scene:
    """A random valid scene with 1-2 objects and ``n_events`` events."""
    while True:
        n_objects = 1 + int(rng.integers(2))
        shapes = rng.choice(len(SHAPES), n_objects, replace=False)
        colours = rng.choice(len(COLOURS), n_objects, replace=False)
        names = list(COLOURS)
        objects = tuple(SceneObject(SHAPES[s], names[c]) for s, c in zip(shapes, colours))
        events = tuple(_sample_event(rng, n_objects) for _ in range(n_events))
        scene = canonical(objects, events)
        if is_valid(scene):
            return scene


def swapped(scene: Scene) -> Scene | None:
    """The same events in reverse order, or None when that is not a valid scene."""
    out = canonical(scene.objects, tuple(reversed(scene.events)))
    return out if is_valid(out) and out.key() != scene.key() else None


PERTURBATIONS: tuple[str, ...] = ("colour", "shape", "action", "order", "other_video")


def perturb(scene: Scene, kind: str, rng: np.random.Generator, pool: list[Scene]) -> Scene | None:
    """A valid scene that differs from ``scene`` in one way (``kind``), or None if none found.

    ``colour``/``shape`` change one object's attribute, ``action`` replaces one event,
    ``order`` swaps the events, ``other_video`` takes a different scene from ``pool``.
    """
    for _ in range(20):
        if kind == "order":
            out = swapped(scene)
        elif kind == "other_video":
            out = pool[int(rng.integers(len(pool)))]
        elif kind in ("colour", "shape"):
            i = int(rng.integers(len(scene.objects)))
            obj = scene.objects[i]
            if kind == "colour":
                obj = replace(obj, colour=list(COLOURS)[rng.integers(len(COLOURS))])
            else:
                obj = replace(obj, shape=SHAPES[rng.integers(len(SHAPES))])
            objects = scene.objects[:i] + (obj,) + scene.objects[i + 1 :]
            out = canonical(objects, scene.events)
        elif kind == "action":
            i = int(rng.integers(len(scene.events)))
            new = replace(_sample_event(rng, len(scene.objects)), obj=scene.events[i].obj)
            out = canonical(scene.objects, scene.events[:i] + (new,) + scene.events[i + 1 :])
        else:
            raise ValueError(f"unknown perturbation {kind!r}; known: {', '.join(PERTURBATIONS)}")
        if out is not None and is_valid(out) and out.key() != scene.key():
            return out
    return None
