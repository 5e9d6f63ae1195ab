"""``teachkit report``: the results as figures, in one self-contained HTML page.

It sits above both stages: it reads the store (teachers' metrics, frame relevance, scores,
a caption audit when one exists) and a group of student runs (metrics over seeds, training
logs, the student's AFA weights), plus ``bench/results.json`` and, for the demo, the
ground truth. Modules: :mod:`.results` and :mod:`.relevance` and :mod:`.agreement` read,
:mod:`.figures` draws (matplotlib), :mod:`.page` writes, :mod:`.build` puts them together.
"""

__all__ = ["build_report"]


def __getattr__(name: str):
    # lazy: `teachkit --help` imports teachkit.report.cli, which must not pull in matplotlib
    if name == "build_report":
        from .build import build_report

        return build_report
    raise AttributeError(name)
