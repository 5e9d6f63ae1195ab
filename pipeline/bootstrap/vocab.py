"""A word-level CLIP tokenizer built from training captions.

No CLIP BPE vocabulary can be downloaded here, so the bootstrapped teachers (and the
student, which reuses the saved folder) use a lowercase word vocabulary: every word of the
training captions, most frequent first, after four special tokens. It is wrapped as a
``PreTrainedTokenizerFast`` and saved with ``save_pretrained``, so ``AutoTokenizer`` gives
the same ids as the one that trained the model.

The EOS id is 3, never 2: transformers' CLIP text model treats ``eos_token_id == 2`` as a
legacy config and pools the token with the highest id instead of the EOS token.
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable

PAD, BOS, EOS, UNK = "<|pad|>", "<|startoftext|>", "<|endoftext|>", "<|unk|>"
#: special tokens in id order: pad=0, bos=1, unk=2, eos=3
SPECIALS = (PAD, BOS, UNK, EOS)


def _normalizer_and_splitter():
    from tokenizers import normalizers, pre_tokenizers

    normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase(), normalizers.Strip()])
    return normalizer, pre_tokenizers.Whitespace()


def word_counts(texts: Iterable[str]) -> Counter:
    """Words as the tokenizer will see them (lowercased, punctuation split off)."""
    normalizer, splitter = _normalizer_and_splitter()
    counts: Counter = Counter()
    for text in texts:
        counts.update(w for w, _ in splitter.pre_tokenize_str(normalizer.normalize_str(text)))
    return counts


def build_tokenizer(texts: Iterable[str], max_length: int):
    """A ``PreTrainedTokenizerFast`` over the words of ``texts``: ``BOS words EOS``, padded with PAD.

    Ids are deterministic: specials, then words by descending frequency, ties alphabetical.
    """
    from tokenizers import Tokenizer, models, processors
    from transformers import PreTrainedTokenizerFast

    counts = word_counts(texts)
    if not counts:
        raise ValueError("cannot build a tokenizer from no caption words")
    words = sorted(counts, key=lambda w: (-counts[w], w))
    vocab = {tok: i for i, tok in enumerate(SPECIALS)}
    for w in words:
        vocab.setdefault(w, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    tok.normalizer, tok.pre_tokenizer = _normalizer_and_splitter()
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A {EOS}", special_tokens=[(BOS, vocab[BOS]), (EOS, vocab[EOS])]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        model_max_length=max_length,
        padding_side="right",
        truncation_side="right",
    )
    assert (fast.pad_token_id, fast.bos_token_id, fast.unk_token_id, fast.eos_token_id) == (0, 1, 2, 3)
    return fast


def tokenize(tokenizer, texts: list[str], max_length: int):
    """``(input_ids, attention_mask)`` int64 tensors, padded to ``max_length``, EOS kept on truncation."""
    enc = tokenizer(
        texts, padding="max_length", truncation=True, max_length=max_length, return_tensors="pt"
    )
    return enc["input_ids"], enc["attention_mask"]
