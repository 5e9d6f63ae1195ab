"""The bundled demo dataset: procedurally drawn videos of coloured shapes and ordered events.

``generate(out, DemoOptions(...))`` writes ``videos/*.mp4``, ``annotations.jsonl`` (the input
of ``teachkit data manifest --dataset jsonl``), ``ground_truth.json`` (answers for analysis,
never read by the pipeline) and ``demo.json`` (options, counts, content fingerprint; written
last). ``teachkit data demo`` is its command line.
"""

from .generate import DemoResult, generate
from .storyboard import DemoError, DemoOptions

__all__ = ["DemoError", "DemoOptions", "DemoResult", "generate"]
