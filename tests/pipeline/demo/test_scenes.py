"""Demo scenes, captions and drawing: event order matters in pixels and in words."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.demo.captions import captions, describe
from pipeline.demo.storyboard import DemoOptions, storyboard
from pipeline.demo.render import draw, make_timeline, write_mp4
from pipeline.demo.scenes import Event, Scene, SceneObject, is_valid, perturb, sample_scene, swapped
from pipeline.demo.vocab import COLOURS
from teachkit.util.media import decode_frames

RED_CIRCLE = SceneObject("circle", "red")
BLUE_SQUARE = SceneObject("square", "blue")
MOVE_LEFT, GROW = Event(0, "move", "left"), Event(0, "grow")


def _red(frames: np.ndarray) -> np.ndarray:
    """(frames, H, W) mask of pixels close to the palette's red."""
    return np.linalg.norm(frames.astype(float) - COLOURS["red"], axis=-1) < 60


def _track(scene: Scene, tmp_path, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Centre x and area of the red object per frame, read back from the encoded video."""
    tl = make_timeline(scene, 64, 24, np.random.default_rng(0))
    write_mp4(tmp_path / f"{name}.mp4", draw(tl), fps=8, crf=20)
    mask = _red(decode_frames(tmp_path / f"{name}.mp4", 24).frames)
    area = mask.sum(axis=(1, 2))
    x = np.array([np.nonzero(m)[1].mean() for m in mask])
    return x, area


def test_same_events_in_other_order_differ_in_pixels_and_words(tmp_path):
    move_then_grow = Scene((RED_CIRCLE,), (MOVE_LEFT, GROW))
    grow_then_move = swapped(move_then_grow)
    assert grow_then_move == Scene((RED_CIRCLE,), (GROW, MOVE_LEFT))
    x1, a1 = _track(move_then_grow, tmp_path, "a")
    x2, a2 = _track(grow_then_move, tmp_path, "b")
    # first half: moves left at constant size, second half: grows in place; and the reverse
    assert x1[11] < x1[0] - 10 and abs(int(a1[11]) - int(a1[0])) < 0.1 * a1[0]
    assert a1[23] > 1.8 * a1[12] and abs(x1[23] - x1[12]) < 1.5
    assert a2[11] > 1.8 * a2[0] and abs(x2[11] - x2[0]) < 1.5
    assert x2[23] < x2[12] - 10 and abs(int(a2[23]) - int(a2[12])) < 0.1 * a2[12]
    rng = np.random.default_rng(0)
    words1, words2 = set(captions(move_then_grow, 8, rng)), set(captions(grow_then_move, 8, rng))
    assert not words1 & words2
    assert describe(move_then_grow) == "a red circle moves left, then it grows"
    assert describe(grow_then_move) == "a red circle grows, then it moves left"


def test_two_objects_in_both_orders_are_different_scenes():
    a = Scene((RED_CIRCLE, BLUE_SQUARE), (MOVE_LEFT, Event(1, "grow")))
    b = swapped(a)
    assert b == Scene((BLUE_SQUARE, RED_CIRCLE), (Event(0, "grow"), Event(1, "move", "left")))
    assert a.key() != b.key()
    assert describe(a) == "a red circle moves left, then a blue square grows"
    assert describe(b) == "a blue square grows, then a red circle moves left"


def test_captions_vary_but_keep_the_order():
    """'b after a' templates name the later event first; every caption orders events right."""
    scene = Scene((RED_CIRCLE, BLUE_SQUARE), (MOVE_LEFT, Event(1, "recolour", "green")))
    texts = captions(scene, 40, np.random.default_rng(1))
    assert len(set(texts)) == 40
    for t in texts:
        mover = min(t.find(w) for w in ("red", "crimson", "scarlet") if w in t)
        recolour = max(t.find(w) for w in ("green", "emerald"))
        assert (" after " in t and " after that " not in t) == (recolour < mover), t


def test_static_objects_are_always_mentioned():
    scene = Scene((RED_CIRCLE, BLUE_SQUARE), (MOVE_LEFT, GROW))
    assert describe(scene) == "a red circle moves left, then it grows, while a blue square stays still"
    for t in captions(scene, 10, np.random.default_rng(2)):
        assert any(w in t for w in ("blue", "cobalt")) and any(w in t for w in ("square", "box", "block"))


@pytest.mark.parametrize(
    "scene",
    [
        Scene((RED_CIRCLE,), (GROW, Event(0, "appear"))),  # appears after something happened to it
        Scene((RED_CIRCLE,), (Event(0, "disappear"), GROW)),  # acts after it disappeared
        Scene((RED_CIRCLE,), (GROW, GROW)),  # the same event twice
        Scene((RED_CIRCLE, SceneObject("square", "red")), (MOVE_LEFT, GROW)),  # two red objects
        Scene((RED_CIRCLE, BLUE_SQUARE), (Event(0, "recolour", "blue"), GROW)),  # colour already taken
        Scene((RED_CIRCLE, BLUE_SQUARE), (Event(1, "grow"), GROW)),  # objects not in mention order
    ],
)
def test_invalid_scenes_are_rejected(scene):
    assert not is_valid(scene)


def test_sampled_scenes_and_perturbations_are_valid_and_different():
    rng = np.random.default_rng(0)
    pool = [sample_scene(rng) for _ in range(50)]
    assert all(is_valid(s) for s in pool)
    for kind in ("colour", "shape", "action", "order", "other_video"):
        made = 0
        for s in pool:
            wrong = perturb(s, kind, rng, pool)
            if wrong is not None:
                made += 1
                assert is_valid(wrong) and wrong.key() != s.key()
        assert made >= 25, kind


def test_storyboard_includes_order_twins_with_different_captions():
    p = storyboard(DemoOptions(train_videos=40, test_videos=10, noise=0.0))
    by_id = {v.video_id: v for v in p.videos}
    twins = [(v, by_id[v.twin]) for v in p.videos if v.twin]
    assert twins
    texts = {}
    for c in p.captions:
        texts.setdefault(c.video_id, set()).add(c.text)
    for a, b in twins:
        assert a.split == b.split and swapped(a.scene) == b.scene
        assert not texts[a.video_id] & texts[b.video_id]
