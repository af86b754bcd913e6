"""What a prepared dataset holds, as tables: per corpus, speaker, emotion and split.

Pure pandas on a :class:`~mser.dataset.Dataset`; the ``mser-data inspect`` command
renders these as text or JSON.
"""

from __future__ import annotations

import pandas as pd

from mser.dataset import Dataset

_KEYS = ["corpus", "language", "speaker", "gender", "split", "emotion"]


def counts(dataset: Dataset) -> pd.DataFrame:
    """Utterances and windows per corpus, language, speaker, gender, split and emotion."""
    table = (dataset.utterances.groupby(_KEYS, sort=False)
             .agg(utterances=("utterance", "size"), windows=("windows", "sum"))
             .reset_index())
    order = {name: i for i, name in enumerate(dataset.corpora["corpus"])}
    table["_corpus"] = table["corpus"].map(order)
    table["_emotion"] = table["emotion"].map(dataset.emotions.index)
    return (table.sort_values(["_corpus", "split", "speaker", "_emotion"], ascending=[True, False, True, True])
            .drop(columns=["_corpus", "_emotion"]).reset_index(drop=True))


def by_corpus(dataset: Dataset) -> pd.DataFrame:
    """Per corpus: speakers, utterances and windows in train and test, skipped and excluded files,
    where its split comes from (``paper``, ``index``, ``drawn``) and the emotions of the label set it lacks."""
    table = counts(dataset)
    rows = []
    for corpus in dataset.corpora.itertuples():
        name = corpus.corpus
        part = table[table["corpus"] == name]
        row = {"corpus": corpus.title, "language": corpus.language, "split": corpus.split,
               "speakers": part["speaker"].nunique()}
        for split in ("train", "test"):
            side = part[part["split"] == split]
            row[f"{split}_utterances"] = int(side["utterances"].sum())
            row[f"{split}_windows"] = int(side["windows"].sum())
        row["excluded"] = int((dataset.excluded["corpus"] == name).sum())
        row["skipped"] = int((dataset.skipped["corpus"] == name).sum())
        row["lacks"] = ",".join(e for e in dataset.emotions if e not in set(part["emotion"])) or "-"
        rows.append(row)
    frame = pd.DataFrame(rows)
    frame = frame[(frame["speakers"] > 0) | (frame["skipped"] > 0) | (frame["excluded"] > 0)]
    total = frame.drop(columns=["corpus", "language", "split", "lacks"]).sum().to_dict()
    return pd.concat([frame, pd.DataFrame([{"corpus": "all", "language": "", "split": "", **total, "lacks": ""}])],
                     ignore_index=True)


def missing_emotions(dataset: Dataset) -> dict[str, list[str]]:
    """Per corpus title, the emotions of the label set it has no utterance of (only corpora lacking some)."""
    present = dataset.utterances.groupby("corpus")["emotion"].agg(set).to_dict()
    return {corpus.title: missing for corpus in dataset.corpora.itertuples()
            if (missing := [e for e in dataset.emotions if e not in present.get(corpus.corpus, set())])}


def by_speaker(dataset: Dataset) -> pd.DataFrame:
    """One row per speaker: utterances per emotion, and utterance and window totals."""
    table = counts(dataset)
    keys = _KEYS[:-1]
    pivot = table.pivot_table(index=keys, columns="emotion", values="utterances",
                              aggfunc="sum", fill_value=0, sort=False)
    pivot = pivot.reindex(columns=list(dataset.emotions), fill_value=0)
    totals = table.groupby(keys, sort=False)[["utterances", "windows"]].sum()
    return pivot.join(totals).reset_index()


def by_emotion(dataset: Dataset) -> pd.DataFrame:
    """Utterances and windows of each emotion in train and test."""
    table = counts(dataset)
    pivot = table.pivot_table(index="emotion", columns="split", values=["utterances", "windows"],
                              aggfunc="sum", fill_value=0)
    pivot.columns = [f"{split}_{what}" for what, split in pivot.columns]
    pivot = pivot.reindex(index=[e for e in dataset.emotions if e in pivot.index])
    ordered = [c for c in ("train_utterances", "train_windows", "test_utterances", "test_windows")
               if c in pivot.columns]
    return pivot[ordered].reset_index()


def excluded_summary(dataset: Dataset) -> pd.DataFrame:
    """How many files the protocol leaves out, per corpus and reason."""
    return (dataset.excluded.groupby(["corpus", "reason"]).size().rename("files").reset_index()
            if len(dataset.excluded) else pd.DataFrame(columns=["corpus", "reason", "files"]))
