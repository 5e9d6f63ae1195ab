"""What both stages use but is not the store: the neutral layer below ``stores``.

Split by topic, as sentence-transformers' ``util`` is: the typed config loader
(:mod:`~teachkit.util.config`), the CLI error edge (:mod:`~teachkit.util.command`,
:mod:`~teachkit.util.errors`), progress on stderr (:mod:`~teachkit.util.progress`), the
process pool (:mod:`~teachkit.util.pool`), video decoding (:mod:`~teachkit.util.media`),
retrieval metrics (:mod:`~teachkit.util.metrics`), optional imports
(:mod:`~teachkit.util.extras`), atomic writes (:mod:`~teachkit.util.atomic`) and the
training pieces the bootstrap and the student share: the device (:mod:`~teachkit.util.device`),
the ``precision`` rule and its autocast (:mod:`~teachkit.util.precision`), AdamW with its
warmup + cosine schedule (:mod:`~teachkit.util.optim`), symmetric InfoNCE
(:mod:`~teachkit.util.contrastive`) and the training frames' slots (:mod:`~teachkit.util.slots`).
Nothing here imports ``stores``, ``pipeline`` or ``student``.
"""
