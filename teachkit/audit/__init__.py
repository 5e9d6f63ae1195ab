"""The caption audit: which training captions the teachers find implausible (TeachText's cleaning).

Reads only the store (teacher scores and run records through :func:`stores.connect`), so it
runs without torch or any teacher. :mod:`.signals` turns each teacher's scores into evidence and
decides which teacher may judge which caption; :mod:`.mixture` finds the threshold; :mod:`.run`
commits the result as a store run; :mod:`.measure` compares it with a known truth.
"""

from .mixture import Mixture, fit_mixture
from .run import AuditConfig, AuditOutcome, load_audit_config, parse_audit, run_audit
from .signals import AuditError

__all__ = ["AuditConfig", "AuditError", "AuditOutcome", "Mixture", "fit_mixture", "load_audit_config",
           "parse_audit", "run_audit"]
