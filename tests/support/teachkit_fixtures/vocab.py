"""The captions of the teacher-stage tests and one word list that covers them all.

:data:`VIDEOS` maps video id -> (split, captions), the argument of
:func:`pipeline.teachers.testing.write_dataset`; ``bad`` is written as bytes that are not a
video (pass ``corrupt=("bad",)``), so a run over it has one undecodable video.
"""

from __future__ import annotations

# every word a test caption uses: the tiny tokenizers (CLIP, SigLIP, BERT) are built on it
WORDS = ("a the red green blue white dark ball box cone cube star cat thing "
         "moves goes left jumps up sits down").split()

VIDEOS = {
    "t0": ("test", ["a red ball", "red box moves"]),
    "t1": ("test", ["a green ball"]),
    "t2": ("test", ["blue box"]),
    "t3": ("test", ["a blue ball moves", "blue"]),
    "t4": ("test", ["green box"]),
    "bad": ("test", ["a red box"]),  # not a video: its bytes are garbage
    "r0": ("train", ["red", "a red ball"]),
    "r1": ("train", ["green"]),
    "r2": ("train", ["blue ball"]),
}
CORRUPT = ("bad",)
N_TEST_VIDEOS = 5  # decodable test videos
N_TEST_CAPTIONS = 7  # captions of decodable test videos
N_TRAIN_VIDEOS, N_TRAIN_CAPTIONS = 3, 4
