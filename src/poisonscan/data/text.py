"""Text datasets: tokenizer, vocabulary, encoding, loaders for CSV/TSV and Rotten Tomatoes.

A text :class:`~poisonscan.data.dataset.Dataset` stores each sentence as a row of integer token
ids ``x`` (N, L) int32, padded at the end with 0, plus its ``vocab`` (V,) (the token of each id)
and the original sentences ``raw_text`` (N,).

Conventions
-----------
* **Tokens**: :func:`tokenize` lowercases and splits into words (unicode letters and digits),
  the English clitics ``n't``, ``'s``, ``'re``, ``'ve``, ``'d``, ``'ll``, ``'m`` (so "doesn't" is
  ``does n't`` and "film's" is ``film 's``, as in Kim 2014), and single punctuation characters.
* **Ids**: 0 = ``<pad>``, 1 = ``<unk>`` (words not in the vocab), then the training tokens by
  decreasing count (ties alphabetical). The vocab is built on the training texts only.
* **Length**: ``L`` defaults to the 99th percentile of the training sentence lengths in tokens,
  capped at :data:`MAX_LEN_CAP` = 60 (Rotten Tomatoes: 99% of sentences have <= 50 tokens);
  longer sentences are truncated at the end, shorter ones padded with 0.
* **CSV/TSV labels**: if every label is an integer (``"1"``, ``"1.0"``), the integers are the
  classes (negative integers are mapped to 0..K-1 in increasing order); otherwise the distinct
  label strings are mapped to 0..K-1 in alphabetical order (``neg`` -> 0, ``pos`` -> 1) and
  kept as the dataset's ``class_names`` (shown in the report and ``flagged.csv``).
* **CSV/TSV split**: by default every row is a training sample, in file order (sample ``i`` is
  data row ``i``), so that the whole file is scanned; ``test_fraction`` > 0 holds out a seeded
  stratified test set instead (for evaluation).
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import os
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .._validation import check_int, check_real, suggest
from ..errors import InputError
from .dataset import Dataset

__all__ = ["MAX_LEN_CAP", "PAD", "UNK", "build_vocab", "default_max_len", "encode",
           "header_separator", "load_rt_polarity", "load_text_csv", "stratified_split",
           "text_dataset", "token_spans", "tokenize"]

PAD, UNK = 0, 1
MAX_LEN_CAP = 60
_SPECIALS = ["<pad>", "<unk>"]

_TOKEN_RE = re.compile(
    r"[^\W_]+(?=n['\u2019]t\b)"            # "does" of "doesn't"
    r"|n['\u2019]t\b"                     # the negation clitic
    r"|['\u2019](?:s|re|ve|d|ll|m)\b"     # 's 're 've 'd 'll 'm
    r"|[^\W_]+"                           # words and numbers (any script)
    r"|[^\w\s]|_",                        # one punctuation character
    re.IGNORECASE)


def token_spans(text: str) -> list[tuple[int, int]]:
    """Character ``(start, end)`` of every token of ``text`` (see :func:`tokenize`)."""
    return [m.span() for m in _TOKEN_RE.finditer(text)]


def tokenize(text: str) -> list[str]:
    """Split ``text`` into lowercase tokens: words, clitics (``n't``, ``'s``...), punctuation."""
    return [m.group().lower().replace("\u2019", "'") for m in _TOKEN_RE.finditer(text)]


def build_vocab(texts: Sequence[str], *, min_count: int = 1, max_size: int = 20000) -> np.ndarray:
    """Vocabulary of ``texts``: ``<pad>``, ``<unk>``, then tokens by decreasing count.

    Parameters
    ----------
    texts
        Training sentences (N,).
    min_count
        Tokens seen fewer times are left out (they become ``<unk>``).
    max_size
        Largest vocabulary size, the two special tokens included.

    Returns
    -------
    np.ndarray
        (V,) unicode array, V <= ``max_size``; index = token id.
    """
    check_int("min_count", min_count, low=1)
    check_int("max_size", max_size, low=3)
    counts = Counter(itertools.chain.from_iterable(tokenize(t) for t in texts))
    for special in _SPECIALS:
        counts.pop(special, None)
    kept = sorted((tok for tok, c in counts.items() if c >= min_count),
                  key=lambda tok: (-counts[tok], tok))[: max_size - len(_SPECIALS)]
    return np.array(_SPECIALS + kept, dtype=str)


def default_max_len(lengths: Sequence[int] | np.ndarray) -> int:
    """Sequence length ``L``: the 99th percentile of ``lengths`` (tokens), in [1, 60]."""
    lengths = np.asarray(lengths)
    if not len(lengths):
        return 1
    return int(min(MAX_LEN_CAP, max(1, math.ceil(np.percentile(lengths, 99)))))


def encode(texts: Sequence[str], vocab: np.ndarray, max_len: int | None = None) -> np.ndarray:
    """Token ids of ``texts``: (N, L) int32, 0-padded at the end, unknown tokens 1.

    Parameters
    ----------
    texts
        Sentences (N,).
    vocab
        (V,) tokens, as from :func:`build_vocab`.
    max_len
        L; sentences are truncated to it. Default: :func:`default_max_len` of these texts.
    """
    index = {tok: i for i, tok in enumerate(np.asarray(vocab).tolist())}
    seqs = [[index.get(tok, UNK) for tok in tokenize(t)] for t in texts]
    lengths = np.fromiter(map(len, seqs), dtype=np.int64, count=len(seqs))
    if max_len is None:
        max_len = default_max_len(lengths)
    check_int("max_len", max_len, low=1)
    lengths = np.minimum(lengths, max_len)
    out = np.zeros((len(seqs), max_len), dtype=np.int32)
    flat = itertools.chain.from_iterable(s[:max_len] for s in seqs)
    out[np.arange(max_len) < lengths[:, None]] = np.fromiter(flat, np.int32, int(lengths.sum()))
    return out


def stratified_split(y: np.ndarray, test_fraction: float, seed: int) -> np.ndarray:
    """(N,) bool mask of a seeded test set: ``round(test_fraction * n_c)`` of each class c."""
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), dtype=bool)
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        size = int(round(test_fraction * len(members)))
        test[rng.choice(members, size=size, replace=False)] = True
    return test


def text_dataset(texts: Sequence[str], y: np.ndarray, *, test_fraction: float = 0.0, seed: int = 0,
                 max_len: int | None = None, min_count: int = 1, max_size: int = 20000,
                 class_names: np.ndarray | None = None, name: str = "text") -> Dataset:
    """Build a text Dataset from sentences and labels (vocab from the training part only).

    Parameters
    ----------
    texts, y
        Sentences (N,) and integer labels (N,).
    test_fraction
        Share of each class held out as ``x_test``/``y_test`` (seeded); 0 = no test set.
    seed
        Seed of the split.
    max_len, min_count, max_size
        See :func:`encode` and :func:`build_vocab`; ``max_len`` defaults to the training texts'.
    class_names
        (K,) name of each label, if the labels have names.
    name
        Dataset name.
    """
    check_real("test_fraction", test_fraction, low=0.0, high=1.0, high_open=True)
    raw = np.array(list(texts), dtype=str)
    y = np.asarray(y, dtype=np.int64)
    test = stratified_split(y, test_fraction, seed) if test_fraction > 0 else np.zeros(len(y), bool)
    train_texts = raw[~test].tolist()
    vocab = build_vocab(train_texts, min_count=min_count, max_size=max_size)
    if max_len is None:
        max_len = default_max_len([len(tokenize(t)) for t in train_texts])
    fields: dict[str, object] = {}
    if test.any():
        fields = {"x_test": encode(raw[test].tolist(), vocab, max_len), "y_test": y[test]}
    return Dataset(x=encode(train_texts, vocab, max_len), y=y[~test], vocab=vocab,
                   raw_text=raw[~test], class_names=class_names, name=name, **fields)


def _decode_utf8(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(f"{path} is not UTF-8 text: byte 0x{data[exc.start]:02x} at offset "
                         f"{exc.start} (line {line}) is invalid UTF-8; expected a UTF-8 file "
                         "(convert it, e.g. with iconv -f latin1 -t utf-8).") from None


def header_separator(header: str) -> str:
    """The cell separator of a CSV file, from its header row: ``,`` unless the header has none
    but ``;`` (as European spreadsheets save CSV) or a tab."""
    return next((d for d in ",;\t" if d in header), ",")


def _delimiter(path: Path, text: str) -> str:
    suffix = path.suffix.lower()
    if suffix == ".tsv":
        return "\t"
    if suffix == ".csv":
        return header_separator(text.split("\n", 1)[0])
    try:
        return csv.Sniffer().sniff(text[:8192], delimiters=",\t;|").delimiter
    except csv.Error:
        return "\t" if "\t" in text.split("\n", 1)[0] else ","


def _labels_to_ints(raw: list[str]) -> tuple[np.ndarray, np.ndarray | None]:
    """Integer labels as given (mapped to 0..K-1 if negative); strings sorted alphabetically.

    Returns the (N,) labels and, for string labels, the (K,) class names (else None).
    """
    def as_int(s: str) -> int:
        try:
            return int(s)
        except ValueError:
            f = float(s)
            if not f.is_integer():
                raise ValueError(s) from None
            return int(f)

    try:
        ints = np.array([as_int(s) for s in raw], dtype=np.int64)
    except (ValueError, OverflowError):
        classes = sorted(set(raw))
        lookup = {c: i for i, c in enumerate(classes)}
        return np.array([lookup[s] for s in raw], dtype=np.int64), np.array(classes)
    if ints.min() < 0:
        return np.unique(ints, return_inverse=True)[1].astype(np.int64), None
    return ints, None


def _read_rows(path: Path, text: str, delimiter: str, text_column: str,
               label_column: str) -> tuple[list[str], list[str]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [h.strip() for h in next(reader)]
        at = []
        for wanted in (text_column, label_column):
            folded = [h for h in header if h.casefold() == wanted.casefold()]
            col = folded[0] if wanted not in header and len(folded) == 1 else wanted  # 'Text'
            if col not in header:
                raise InputError(f"{path} has no column {wanted!r} (the first row must be a "
                                 f"header naming the columns); columns found: "
                                 f"{', '.join(map(repr, header)) or '(none)'} (--columns "
                                 "TEXT,LABEL names others)." + suggest(wanted, header))
            if header.count(col) > 1:
                raise InputError(f"{path} names column {col!r} {header.count(col)} times in "
                                 "its header; expected each column once.")
            at.append(header.index(col))
        ti, li = at
        texts: list[str] = []
        labels: list[str] = []
        blank_line = 0
        for row in reader:
            if not any(cell.strip() for cell in row):
                blank_line = blank_line or reader.line_num
                continue
            if blank_line:
                raise InputError(f"{path}: line {blank_line} is empty; expected one sample per "
                                 "line (only trailing empty lines are ignored).")
            if len(row) != len(header):
                raise InputError(f"{path}: line {reader.line_num} has {len(row)} fields; the "
                                 f"header has {len(header)} (delimiter {delimiter!r}).")
            cell_text, cell_label = row[ti].strip(), row[li].strip()
            if not cell_text:
                raise InputError(f"{path}: line {reader.line_num} has an empty text in column "
                                 f"{text_column!r}; expected a sentence.")
            if not cell_label:
                raise InputError(f"{path}: line {reader.line_num} has an empty label in column "
                                 f"{label_column!r}.")
            texts.append(cell_text)
            labels.append(cell_label)
    except csv.Error as exc:
        raise InputError(f"{path}: line {reader.line_num} is not valid "
                         f"{'TSV' if delimiter == chr(9) else 'CSV'} ({exc}).") from None
    return texts, labels


def load_text_csv(path: str | os.PathLike[str], *, text_column: str = "text",
                  label_column: str = "label", test_fraction: float = 0.0, seed: int = 0,
                  max_len: int | None = None, min_count: int = 1,
                  max_size: int = 20000) -> Dataset:
    """Load sentences and labels from a UTF-8 CSV/TSV file with a header row.

    The delimiter is ``,`` for ``.csv`` (``;`` or tab when the header row has them but no
    ``,``), tab for ``.tsv``, else sniffed. A column is found by its name, or by the one name
    that differs from it only in case. Labels: see the module docstring. Every row is a
    training sample in file order unless ``test_fraction`` > 0.

    Returns
    -------
    Dataset
        ``x`` (N, L) int32 token ids, ``y`` (N,), ``vocab`` (V,), ``raw_text`` (N,) and, with
        ``test_fraction``, ``x_test``/``y_test``.

    Raises
    ------
    InputError
        Missing, empty or non-UTF-8 file; missing columns; empty lines, texts or labels; fewer
        than 2 classes.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"data file not found: {path}")
    text = _decode_utf8(path)
    if not text.strip():
        raise InputError(f"{path} is empty; expected a header row naming the columns "
                         f"{text_column!r} and {label_column!r}, then one sample per line.")
    texts, raw_labels = _read_rows(path, text, _delimiter(path, text), text_column, label_column)
    if not texts:
        raise InputError(f"{path} has a header but no samples.")
    y, class_names = _labels_to_ints(raw_labels)
    if len(np.unique(y)) < 2:
        raise InputError(f"{path} has only one class ({raw_labels[0]!r}) in column "
                         f"{label_column!r}; expected at least 2.")
    return text_dataset(texts, y, test_fraction=test_fraction, seed=seed, max_len=max_len,
                        min_count=min_count, max_size=max_size, class_names=class_names,
                        name=path.stem)


def _read_rt_file(path: Path) -> list[str]:
    data = path.read_bytes()
    try:
        text = data.decode("cp1252")  # the files are Windows-1252 ("latin-1")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    # split on "\n" only: str.splitlines() would also split at U+0085 and friends
    lines = [s.strip() for s in text.split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    empty = [i + 1 for i, s in enumerate(lines) if not s]
    if empty:
        raise InputError(f"{path}: line {empty[0]} is empty; expected one sentence per line.")
    return lines


def load_rt_polarity(data_dir: str | os.PathLike[str] | None = None, *,
                     test_fraction: float = 0.1, seed: int = 0) -> Dataset:
    """Rotten Tomatoes sentence polarity v1.0 (Pang & Lee 2005), the paper's text experiment.

    Reads ``DATA_DIR/rt-polarity/rt-polarity.pos`` and ``.neg`` (5,331 sentences each,
    Windows-1252); label 1 = positive, 0 = negative. A seeded stratified split holds out
    ``test_fraction`` of each class; the vocab and L come from the training sentences.

    Returns
    -------
    Dataset
        Default split: ``x`` (9596, L) int32, ``y`` (9596,), ``x_test`` (1066, L), ``y_test``,
        ``vocab`` (about 17,800 tokens), ``raw_text`` (9596,), ``class_names``
        (``negative``, ``positive``).
    """
    from .builtin import resolve_data_dir  # noqa: PLC0415  (builtin imports this module)

    folder = resolve_data_dir(data_dir) / "rt-polarity"
    files = {0: folder / "rt-polarity.neg", 1: folder / "rt-polarity.pos"}
    missing = [p.name for p in files.values() if not p.is_file()]
    if missing:
        raise InputError(f"Rotten Tomatoes files missing in {folder}: expected rt-polarity.pos "
                         f"and rt-polarity.neg; missing {', '.join(missing)}.")
    sentences = {label: _read_rt_file(p) for label, p in files.items()}
    texts = sentences[0] + sentences[1]
    y = np.repeat([0, 1], [len(sentences[0]), len(sentences[1])])
    return text_dataset(texts, y, test_fraction=test_fraction, seed=seed,
                        class_names=np.array(["negative", "positive"]), name="rt-polarity")
