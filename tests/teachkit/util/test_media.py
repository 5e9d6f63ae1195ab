"""Frame sampling (CLIP4Clip's linspace) and decoding of generated videos."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.teachers.testing import corrupt_mid_file, textured_clip
from teachkit.util.media import MediaError, decode_frames, probe, sample_indices


@pytest.mark.parametrize("n, k", [(100, 12), (37, 12), (12, 12), (1000, 32), (13, 1)])
def test_sample_indices_is_clip4clip_linspace(n, k):
    # CLIP4Clip, slice_framepos=2: np.linspace(0, n - 1, num=max_frames, dtype=int)
    np.testing.assert_array_equal(sample_indices(n, k), np.linspace(0, n - 1, num=k, dtype=int))


def test_sample_indices_short_clips_and_fps():
    np.testing.assert_array_equal(sample_indices(5, 12), np.arange(5))
    assert sample_indices(0, 12).size == 0
    # 30 fps resampled at 1 fps: one candidate per second, all kept when fewer than num_frames
    np.testing.assert_array_equal(sample_indices(95, 12, video_fps=30, fps=1), [0, 30, 60, 90])
    # 20 one-per-second candidates, then linspace(0, 19, 4) over them
    np.testing.assert_array_equal(sample_indices(600, 4, video_fps=30, fps=1), np.arange(0, 600, 30)[[0, 6, 12, 19]])
    with pytest.raises(ValueError):
        sample_indices(10, 0)


def test_probe_and_decode_generated_mp4(tmp_path, write_mp4):
    path = write_mp4(tmp_path / "clip.mp4", n_frames=10, size=32, fps=8)
    info = probe(path)
    assert (info.frames, info.fps, info.duration) == (10, 8.0, 1.25)

    s = decode_frames(path, 4)
    np.testing.assert_array_equal(s.indices, [0, 3, 6, 9])
    assert s.mask.all() and s.frames.shape == (4, 32, 32, 3) and s.frames.dtype == np.uint8
    np.testing.assert_allclose(s.frames.mean(axis=(1, 2, 3)), 20.0 * s.indices, atol=3)

    s = decode_frames(path, 12)
    np.testing.assert_array_equal(s.indices, list(range(10)) + [-1, -1])
    np.testing.assert_array_equal(s.mask, [True] * 10 + [False] * 2)
    assert not s.frames[10:].any()
    np.testing.assert_allclose(s.frames[:10].mean(axis=(1, 2, 3)), 20.0 * np.arange(10), atol=3)


def test_container_without_frame_count_decodes_the_same(tmp_path, write_mp4):
    mp4 = decode_frames(write_mp4(tmp_path / "a.mp4", n_frames=9), 4)
    mkv = decode_frames(write_mp4(tmp_path / "a.mkv", n_frames=9), 4)  # Matroska stores no count
    np.testing.assert_array_equal(mkv.indices, mp4.indices)
    np.testing.assert_allclose(mkv.frames.astype(float), mp4.frames.astype(float), atol=3)
    assert probe(tmp_path / "a.mkv").frames == 9


def test_missing_and_corrupt_files_raise_media_error(tmp_path):
    with pytest.raises(MediaError, match="not found"):
        probe(tmp_path / "nope.mp4")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 50)
    with pytest.raises(MediaError):
        probe(bad)
    with pytest.raises(MediaError):
        decode_frames(bad, 4)


def test_decoding_goes_past_corrupt_packets_and_says_what_it_recovered(tmp_path):
    """One corrupt stretch used to drop the whole video (``container.decode`` stops at it)."""
    import av

    clean = textured_clip(tmp_path / "bikes.mp4")
    bad = corrupt_mid_file(clean, 1 / 12)
    with pytest.raises(av.FFmpegError), av.open(str(bad)) as c:  # what decoding did before
        sum(1 for _ in c.decode(c.streams.video[0]))

    got = decode_frames(bad, 12)
    assert got.mask.all() and got.frames.shape == (12, 64, 96, 3)
    recovered, claimed = (int(x) for x in got.warning.split("recovered ")[1].split(" frames")[0].split(" of "))
    assert claimed == 250 and 0.8 * 250 < recovered < 250
    assert got.warning.count(str(bad)) == 1 and "corrupt packets skipped" in got.warning
    # the sampled indices are CLIP4Clip's linspace over the frames that did decode
    np.testing.assert_array_equal(got.indices, sample_indices(recovered, 12))
    assert decode_frames(clean, 12).warning is None
    assert probe(bad).frames == 250  # the container's count; decoding is where frames are lost


def test_too_little_left_after_corrupt_packets_is_a_media_error(tmp_path):
    bad = corrupt_mid_file(textured_clip(tmp_path / "bikes.mp4"), 0.7)
    with pytest.raises(MediaError, match=r"only \d+ of 250 frames decode"):
        decode_frames(bad, 12)


def test_a_directory_named_like_a_video_says_so(tmp_path):
    (tmp_path / "x.mp4").mkdir()
    for fn in (probe, lambda p: decode_frames(p, 4)):
        with pytest.raises(MediaError, match=r"x\.mp4 is a directory, not a video file"):
            fn(tmp_path / "x.mp4")
