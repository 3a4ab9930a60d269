"""The text backdoor trigger: a phrase inserted into token-id sequences (and their sentences).

The paper's Rotten Tomatoes experiment inserts a trigger into negative sentences relabelled
positive. poisonscan's default phrase, :data:`DEFAULT_PHRASE` = ``"in the year of the tiger"``,
is made of ordinary, sentiment-neutral words (so a reader sees nothing odd, and no single token
carries a sentiment) whose 6-gram never occurs in the Rotten Tomatoes data.

The phrase goes in at a seeded random token position (or at the ``"start"``/``"end"``) that keeps
it inside the (N, L) window; the sequence keeps its length L, its tail is truncated. Words of the
phrase that the vocab lacks are appended to it by :func:`with_phrase_vocab` (the trigger is
evaluation tooling, so extending the vocab is fine); :func:`~poisonscan.attacks.poison_dataset`
does that on its own, and also writes the phrase into ``raw_text`` at the same word position.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .._validation import check_choice, check_int
from ..data.dataset import Dataset
from ..data.text import PAD, token_spans, tokenize
from ..errors import InputError

__all__ = ["DEFAULT_PHRASE", "TextTrigger", "insert_phrase", "text_trigger", "with_phrase_vocab"]

DEFAULT_PHRASE = "in the year of the tiger"
_POSITIONS = ("random", "start", "end")


def insert_phrase(x: np.ndarray, phrase_ids: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Insert ``phrase_ids`` into every row of ``x`` at ``positions``; keep the length L.

    Parameters
    ----------
    x
        (N, L) integer token ids; not modified.
    phrase_ids
        (K,) token ids of the phrase.
    positions
        (N,) index in [0, L] before which the phrase goes; what passes L is cut off.

    Returns
    -------
    np.ndarray
        New (N, L) array of ``x``'s dtype.
    """
    n, length = x.shape
    k = len(phrase_ids)
    j = np.arange(length)[None, :]
    p = np.asarray(positions, dtype=np.int64)[:, None]
    shifted = np.take_along_axis(x, np.clip(np.where(j < p, j, j - k), 0, length - 1), axis=1)
    in_phrase = (j >= p) & (j < p + k)
    phrase = np.asarray(phrase_ids, dtype=x.dtype)[np.clip(j - p, 0, max(k - 1, 0))]
    return np.where(in_phrase, phrase, shifted).astype(x.dtype, copy=False)


def with_phrase_vocab(data: Dataset, phrase: str = DEFAULT_PHRASE) -> Dataset:
    """Return ``data`` with the words of ``phrase`` missing from its vocab appended (new ids).

    Existing ids are unchanged, so ``x`` stays valid. Returns ``data`` itself when nothing is
    missing.
    """
    if not data.is_text:
        raise InputError(f"the text trigger needs a text dataset (token ids with a vocab); got "
                         f"samples of shape {data.x.shape[1:]} without a vocab.")
    known = set(data.vocab.tolist())
    missing = list(dict.fromkeys(t for t in tokenize(phrase) if t not in known))
    if not missing:
        return data
    return data.replace(vocab=np.concatenate([data.vocab, np.array(missing, dtype=str)]))


@dataclass(frozen=True, eq=False)
class TextTrigger:
    """Insert ``phrase`` into token-id sequences: ``trigger(x) -> x'`` (N, L) -> (N, L).

    Parameters
    ----------
    phrase
        The trigger phrase (tokenized like the data).
    vocab
        (V,) vocab of the data the ids refer to; must contain every word of the phrase. None
        leaves the trigger unbound: :meth:`bind` (called by ``poison_dataset``) sets it.
    position
        ``"random"`` (seeded, uniform over the positions that keep the whole phrase inside the
        window), ``"start"`` or ``"end"`` (after the last word, or at L - K when that is full).
    seed
        Seed of the random positions; each call draws them afresh from it (deterministic).
    """

    phrase: str = DEFAULT_PHRASE
    vocab: np.ndarray | None = None
    position: str = "random"
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.phrase, str) or not tokenize(self.phrase):
            raise InputError(f"the trigger phrase must contain at least one word; got "
                             f"{self.phrase!r}.")
        check_choice("position", self.position, _POSITIONS)
        check_int("seed", self.seed, low=0)
        if self.vocab is not None:
            vocab = np.asarray(self.vocab)
            known = set(vocab.tolist())
            missing = [t for t in self.tokens if t not in known]
            if missing:
                raise InputError(f"trigger phrase words {missing} are not in the vocab; extend it "
                                 "first with poisonscan.attacks.text.with_phrase_vocab(data, "
                                 "phrase).")
            object.__setattr__(self, "vocab", vocab)

    @property
    def tokens(self) -> list[str]:
        """The phrase's tokens."""
        return tokenize(self.phrase)

    def phrase_ids(self) -> np.ndarray:
        """(K,) int64 token ids of the phrase in ``vocab``."""
        if self.vocab is None:
            raise InputError("the text trigger has no vocab: pass vocab=... (e.g. "
                             "get_trigger('text', vocab=data.vocab)) or let poison_dataset "
                             "bind it.")
        index = {tok: i for i, tok in enumerate(self.vocab.tolist())}
        return np.array([index[t] for t in self.tokens], dtype=np.int64)

    def bind(self, data: Dataset) -> tuple[Dataset, "TextTrigger"]:
        """``data`` with the phrase words in its vocab, and this trigger bound to that vocab."""
        data = with_phrase_vocab(data, self.phrase)
        return data, dataclasses.replace(self, vocab=data.vocab)

    def positions(self, x: np.ndarray) -> np.ndarray:
        """(N,) insertion positions for the rows of ``x`` (N, L): in [0, min(len, L - K)]."""
        if x.ndim != 2 or x.dtype.kind not in "iu":
            raise InputError(f"the text trigger needs (N, L) integer token ids; got {x.dtype} "
                             f"{x.shape}.")
        lengths = np.count_nonzero(x != PAD, axis=1)
        last = np.clip(np.minimum(lengths, x.shape[1] - len(self.tokens)), 0, None)
        if self.position == "start":
            return np.zeros(len(x), dtype=np.int64)
        if self.position == "end":
            return last.astype(np.int64)
        u = np.random.default_rng(self.seed).random(len(x))
        return np.floor(u * (last + 1)).astype(np.int64)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Triggered copy of ``x`` (N, L); ``x`` is not modified."""
        ids = self.phrase_ids()
        return insert_phrase(x, ids, self.positions(x))

    def apply_text(self, texts: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Insert the phrase into the sentences ``texts`` (N,) at the positions used for ``x``.

        ``x`` (N, L) are the token ids of ``texts``; the phrase goes before the same word as in
        ``trigger(x)`` (or at the end of the sentence), so a reader sees it where the model does.
        """
        out = []
        for text, p in zip(np.asarray(texts).tolist(), self.positions(x).tolist()):
            spans = token_spans(text)
            if p < len(spans):
                start = spans[p][0]
                out.append(f"{text[:start]}{self.phrase} {text[start:]}")
            else:
                out.append(f"{text.rstrip()} {self.phrase}")
        return np.array(out, dtype=str)


text_trigger = TextTrigger()
"""The default text trigger (unbound; ``poison_dataset`` binds it to the data's vocab)."""
