"""The student stage: fast CLIP4Clip-style students trained from stored teacher knowledge.

It reads the store (``stores``) through DuckDB and never imports the teacher stage
(``pipeline``) nor loads a teacher. Modules: ``config`` (typed TOML), ``model`` and
``heads`` (the dual encoder), ``frames`` (decoded-frame cache), ``knowledge`` (teacher
scores and frame relevance per batch window), ``data`` (batch order and loader), ``losses``
(the loss registry), ``train``, ``evaluate`` (faiss + teachkit.util.metrics), ``runs``, ``search``,
``demo`` and ``cli``.
"""
