"""Describing clusters of *text* samples: their most distinctive words and sample sentences.

For text datasets the report cannot show thumbnails; it shows, for each cluster of a class, the
words and bigrams that set the cluster apart from the rest of its class (a textual trigger such
as a rare token or phrase rises to the top of the poison cluster), and a few of its sentences.

The ranking is the log-odds ratio with an informative Dirichlet prior (Monroe, Colaresi & Quinn
2008, "Fightin' Words"): for term ``w``, cluster counts ``y_i`` (total ``n_i``) and counts in the
rest of the class ``y_j`` (total ``n_j``), and a prior ``a_w`` proportional to the whole class's
count of ``w`` (total ``a_0``)::

    delta_w = log((y_iw + a_w) / (n_i + a_0 - y_iw - a_w))
            - log((y_jw + a_w) / (n_j + a_0 - y_jw - a_w))
    z_w     = delta_w / sqrt(1 / (y_iw + a_w) + 1 / (y_jw + a_w))

Terms are ranked by ``z_w``, which discounts differences that rest on a handful of counts. With
the default prior (a tenth of the class's own counts) a token in 15 of 95 texts and in no other
text of the class scores z ~ 4.3, while chance differences of common words stay near 2.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Term", "distinctive_terms", "render_text_cluster", "texts_of"]


@dataclass(frozen=True)
class Term:
    """A distinctive term of a cluster.

    Attributes
    ----------
    term
        The word or bigram (lower-cased, as tokenised).
    z
        Its log-odds-ratio z-score against the rest of the class (higher: more distinctive).
    log_odds
        The (unscaled) log-odds ratio ``delta``.
    count
        Occurrences in the cluster.
    """

    term: str
    z: float
    log_odds: float
    count: int


def distinctive_terms(texts_by_cluster: Sequence[Sequence[str]], *, top_k: int = 10,
                      ngram_range: tuple[int, int] = (1, 2), prior: float = 0.1,
                      min_count: int = 2, min_z: float = 3.0) -> list[list[Term]]:
    """The ``top_k`` most distinctive terms of each cluster of one class.

    Parameters
    ----------
    texts_by_cluster
        The texts of each cluster (cluster ``c`` is ``texts_by_cluster[c]``); clusters may be
        empty.
    top_k
        Most terms returned per cluster.
    ngram_range
        Word n-grams counted (default words and bigrams), as in scikit-learn's
        ``CountVectorizer``.
    prior
        Weight of the Dirichlet prior relative to the data: ``a_w = prior * (count of w in the
        class)``. Larger values shrink every score towards 0.
    min_count
        A term must occur at least this often in the cluster to be listed.
    min_z
        ... and have a z-score of at least this (3 keeps chance differences out when
        hundreds of terms are compared).

    Returns
    -------
    list of list of Term
        Per cluster, terms with ``z >= min_z`` in decreasing order of ``z`` (ties broken by
        term).
        Empty lists when there is no vocabulary (no words in any text).
    """
    from sklearn.feature_extraction.text import CountVectorizer  # noqa: PLC0415

    k = len(texts_by_cluster)
    docs = [str(t) for texts in texts_by_cluster for t in texts]
    if k == 0 or not docs:
        return [[] for _ in range(k)]
    vectorizer = CountVectorizer(ngram_range=ngram_range, lowercase=True)
    try:
        counts = vectorizer.fit_transform(docs)
    except ValueError:  # empty vocabulary: only stop characters / empty strings
        return [[] for _ in range(k)]
    vocab = vectorizer.get_feature_names_out()
    owner = np.repeat(np.arange(k), [len(t) for t in texts_by_cluster])
    per_cluster = np.vstack([np.asarray(counts[owner == c].sum(axis=0)).ravel()
                             for c in range(k)]).astype(np.float64)
    total = per_cluster.sum(axis=0)
    alpha = prior * total
    a_0 = alpha.sum()
    out = []
    for c in range(k):
        y_i = per_cluster[c]
        y_j = total - y_i
        n_i, n_j = y_i.sum(), y_j.sum()
        if n_i == 0:
            out.append([])
            continue
        delta = (np.log((y_i + alpha) / (n_i + a_0 - y_i - alpha))
                 - np.log((y_j + alpha) / (n_j + a_0 - y_j - alpha)))
        z = delta / np.sqrt(1.0 / (y_i + alpha) + 1.0 / (y_j + alpha))
        keep = np.flatnonzero((y_i >= min_count) & (z >= min_z) & (z > 0))
        # the vocabulary is sorted, so a stable sort on -z breaks ties alphabetically
        order = keep[np.argsort(-z[keep], kind="stable")][:top_k]
        out.append([Term(str(vocab[t]), float(z[t]), float(delta[t]), int(y_i[t]))
                    for t in order])
    return out


def _highlight(text: str, terms: Sequence[str]) -> str:
    """HTML-escape ``text`` and wrap occurrences of the single-word ``terms`` in ``<mark>``."""
    words = {t for t in terms if " " not in t}
    if not words:
        return html.escape(text)
    parts = re.split(r"(\b\w\w+\b)", text)
    return "".join(f"<mark>{html.escape(p)}</mark>" if i % 2 and p.lower() in words
                   else html.escape(p) for i, p in enumerate(parts))


def render_text_cluster(terms: Sequence[Term], samples: Sequence[str], *,
                        max_chars: int = 300) -> str:
    """HTML fragment for one cluster of texts: its distinctive terms and sample sentences.

    All text is escaped; distinctive single words are highlighted in the samples, and samples
    longer than ``max_chars`` are shortened with an ellipsis.
    """
    if terms:
        chips = "".join(f'<span class="term" title="z = {t.z:.2f}, {t.count}x">'
                        f"{html.escape(t.term)}</span>" for t in terms)
        head = f'<p class="terms">{chips}</p>'
    else:
        head = '<p class="muted">No term sets this cluster apart.</p>'
    names = [t.term for t in terms]
    items = []
    for s in samples:
        s = str(s)
        short = s if len(s) <= max_chars else s[:max_chars].rstrip() + "\u2026"
        items.append(f"<li>{_highlight(short, names)}</li>")
    body = f'<ol class="samples">{"".join(items)}</ol>' if items else ""
    return head + body


def texts_of(data: object, indices: np.ndarray | None = None) -> list[str] | None:
    """The samples of a text dataset as strings (only those at ``indices``, (M,) int, when
    given), or None for other data.

    Uses ``data.raw_text`` (the original sentences) when the dataset has it, else decodes the
    token ids in ``data.x`` with ``data.vocab`` (dropping ``<pad>``, id 0). Attributes are read
    with ``getattr``, so any object with ``x`` works.
    """
    pick = slice(None) if indices is None else np.asarray(indices, dtype=np.intp)
    raw = getattr(data, "raw_text", None)
    if raw is not None:
        return [str(t) for t in np.asarray(raw)[pick].tolist()]
    vocab = getattr(data, "vocab", None)
    x = np.asarray(getattr(data, "x", None))
    if vocab is None or x.ndim != 2 or x.dtype.kind not in "iu":
        return None
    x = x[pick]
    tokens = np.asarray(vocab, dtype=object)[x]
    tokens[x == 0] = ""
    return [" ".join(t for t in row if t) for row in tokens.tolist()]
