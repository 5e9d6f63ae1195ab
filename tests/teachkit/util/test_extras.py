"""faiss comes from an extra: without it, one error line that names both extras."""

import sys

import pytest

from teachkit.util.errors import InputError
from teachkit.util.extras import require_faiss


def test_missing_faiss_names_the_extras(monkeypatch):
    monkeypatch.setitem(sys.modules, "faiss", None)  # makes `import faiss` raise ImportError
    with pytest.raises(InputError, match=r"teachkit\[cpu\].*teachkit\[gpu\]") as e:
        require_faiss()
    assert e.value.exit_code == 2 and "\n" not in str(e.value)


def test_installed_faiss_is_returned():
    faiss = require_faiss()
    assert faiss.IndexFlatIP(4).d == 4
