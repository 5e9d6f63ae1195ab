"""What the tests share: synthetic data, stores and a plugin teacher, made on the spot.

``tests/conftest.py`` puts ``tests/support`` on ``sys.path`` (the test folders are not
packages), so every test folder imports these as ``teachkit_fixtures.<module>``; a subprocess
or a Ray worker that must import them gets :data:`SUPPORT` on its ``PYTHONPATH``.

- :mod:`~teachkit_fixtures.vocab`: the captions and words the teacher-stage tests use;
- :mod:`~teachkit_fixtures.colour`: the ``plugin`` teacher that scores by colour, no model;
- :mod:`~teachkit_fixtures.media`: the frames of the test clips (flat gray, a moving square),
  written by the one MP4 writer, :func:`pipeline.teachers.testing.write_video`;
- :mod:`~teachkit_fixtures.store`: the one manifest builder, the small store and the
  synthetic store of the student tests (tiny videos, two teachers, a tokenizer).
"""

from pathlib import Path

SUPPORT = Path(__file__).resolve().parent.parent  # the folder that holds this package
