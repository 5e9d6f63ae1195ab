"""The demo's ground truth: what each video shows and whether each caption says so.

Nothing in the pipeline reads it; it is there to analyse teachers and students (which
events a frame-relevance score picks out, whether distillation learns to distrust the
wrong captions).
"""

from __future__ import annotations

import json

from .captions import describe
from .storyboard import DEMO_VERSION, Storyboard
from .render import Timeline
from .scenes import Scene


def _event_frames(described: Scene, truth: Scene, timeline: Timeline) -> list[dict]:
    """Each described event with the frames of the matching true event (None if absent)."""
    used: set[int] = set()
    out = []
    for e in described.events:
        obj = described.objects[e.obj]
        frames = None
        for j, t in enumerate(truth.events):
            if j not in used and truth.objects[t.obj] == obj and (t.action, t.param) == (e.action, e.param):
                used.add(j)
                frames = list(timeline.spans[j])
                break
        out.append({"shape": obj.shape, "colour": obj.colour, "action": e.action, "param": e.param, "frames": frames})
    return out


def ground_truth(p: Storyboard) -> dict:
    """The answers: each video's scene and event frames, each caption's correctness."""
    by_id = {v.video_id: v for v in p.videos}
    videos = {
        v.video_id: {
            "split": v.split,
            "scene": v.scene.to_json(),
            "description": describe(v.scene),
            "frames": p.options.frames,
            "events": [
                {**e, "frames": list(span)} for e, span in zip(v.scene.to_json()["events"], v.timeline.spans)
            ],
            "order_twin": v.twin,
        }
        for v in p.videos
    }
    captions = {}
    for c in p.captions:
        v = by_id[c.video_id]
        captions[c.caption_id] = {
            "video_id": c.video_id,
            "split": c.split,
            "wrong": c.noise is not None,
            "noise": c.noise,
            "described": c.described.to_json(),
            "description": describe(c.described),
            "correct_description": describe(v.scene),
            "events": _event_frames(c.described, v.scene, v.timeline),
        }
    return {"version": DEMO_VERSION, "options": p.options.to_json(), "videos": videos, "captions": captions}


def dump_ground_truth(gt: dict) -> str:
    """JSON with one line per video and per caption: greppable, and a third of indented JSON."""
    def compact(value) -> str:
        return json.dumps(value, separators=(",", ":"))

    lines = ["{", f'"version": {gt["version"]},', f'"options": {compact(gt["options"])},']
    for section in ("videos", "captions"):
        items = [f"  {compact(k)}: {compact(v)}" for k, v in gt[section].items()]
        lines += [f'"{section}": {{', ",\n".join(items), "}" + ("," if section == "videos" else "")]
    return "\n".join(lines + ["}"]) + "\n"
