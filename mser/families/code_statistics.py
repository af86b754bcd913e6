"""Models on an utterance's code statistics: the autoencoder's code of its 1-s windows,
summarised over the whole utterance as :mod:`mser.functionals` summarises its descriptors.

Each code unit's :data:`~mser.functionals.STATISTICS` (mean, deviation, minimum, maximum)
over every time step of every window of the utterance: ``4 x latent`` values, 64 with the
paper's autoencoder (16 units), unit by unit (:func:`code_statistics`). They may be joined
to a set of functionals the dataset holds (``librosa``, openSMILE's sets, a fused set),
code statistics first (``feature_set``; :data:`~mser.functionals.NO_SET`: none).

Its preprocessing, fitted on the training speakers only: the [0, 1] window scaler and the
autoencoder as the models on windows fit them (:func:`~mser.families.windows.fitted_encoder`:
the training speakers' windows, at most ``max_windows_per_utterance`` per file, early
stopping on the validation speakers' reconstruction, the same encoder cache, so a model on
the code statistics and a ``sae_*`` model with the same settings share one encoder); then,
as for the functionals (:class:`~mser.families.functionals.FunctionalsFamily`), the training
speakers' statistics of the inputs (``global``, or each speaker's own under ``speaker``)
and, with ``select``, the columns kept. The classifier reads one row per utterance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np

from mser.audio import signal_windows
from mser.dataset import WINDOW_UNIT, Dataset, capped_rows
from mser.families.functionals import FunctionalsFamily
from mser.families.windows import fitted_encoder
from mser.functionals import NO_SET, STATISTICS, FunctionalsParams, set_parts, utterance_statistics
from mser.models import build_autoencoder
from mser.pipeline import EmotionPipeline
from mser.splits import Split
from mser.train import EpochCallback, TrainConfig


@dataclass(frozen=True)
class CodeStatisticsParams(FunctionalsParams):
    """How a model's utterance inputs are made from the code (the ``functionals`` group of the
    ``sae_stats_*`` spaces): :class:`~mser.functionals.FunctionalsParams`, but the set is
    joined to the code statistics and may be none.

    Attributes:
        feature_set: The functionals joined to the code statistics: :data:`~mser.functionals.NO_SET`
            (none), or a set of :data:`~mser.functionals.INPUT_SETS`.
        normalisation: ``global`` (training speakers' statistics) or ``speaker`` (each speaker's own).
        select: Keep this many columns of the joined inputs (:func:`~mser.functionals.select_columns`);
            0, or at least their size: every column.
    """

    feature_set: str = NO_SET

    @property
    def parts(self) -> tuple[str, ...]:
        """The sets the dataset computes for this input: none for the code statistics alone."""
        return () if self.feature_set == NO_SET else set_parts(self.feature_set)


class CodeStatisticsFamily(FunctionalsFamily):
    """Models on an utterance's statistics of the autoencoder's code, alone or joined to functionals."""

    name = "code_statistics"
    params_type = CodeStatisticsParams

    def needs_keras(self, spec) -> bool:
        return True  # the autoencoder is a Keras model

    def groups(self, spec) -> Mapping[str, Callable]:
        return {"sae": build_autoencoder, **super().groups(spec)}

    def prepare(self, data: Dataset, config: TrainConfig, rows: Mapping[str, np.ndarray], split: Split, *,
                history: dict, on_epoch: EpochCallback | None = None, encoder_cache=None,
                probe: tuple | None = None) -> EmotionPipeline:
        """The scaler and encoder of the training speakers' windows (validation windows for early
        stopping only, ``probe`` judged on windows as for the ``sae_*`` models), then the
        training utterances' statistics and selected columns."""
        windows = data.examples(WINDOW_UNIT)
        speakers = windows["speaker"].to_numpy()
        window_rows = {side: split.indices(speakers, side) for side in rows}
        window_rows["train"] = capped_rows(windows, window_rows["train"], config.max_windows_per_utterance)
        train_windows = np.asarray(data.windows[window_rows["train"]])
        pipeline = EmotionPipeline(config.model, data.params, (float(train_windows.min()), float(train_windows.max())),
                                   None, None, None, config.vote, functionals=self.params_type(**config.functionals),
                                   emotions=data.emotions)
        if probe is not None:  # the utterances' probe, made of the same speakers' windows
            probe = (windows["label"].to_numpy()[window_rows["train"]],
                     windows.iloc[window_rows["validation"]].reset_index(drop=True))
        pipeline.encoder = fitted_encoder(pipeline, data, config, window_rows, split, history=history,
                                          on_epoch=on_epoch, encoder_cache=encoder_cache, probe=probe)
        self.fit_normalisation(pipeline, data, rows["train"])
        return pipeline

    def raw_values(self, pipeline: EmotionPipeline, data: Dataset, utterances: np.ndarray) -> np.ndarray:
        """The code statistics of the utterances at ``utterances`` (every window of each),
        joined to their functionals of ``feature_set``."""
        names = data.utterances["utterance"].to_numpy()[utterances]
        positions = data.meta.groupby("utterance", sort=False).indices
        counts = [len(positions[name]) for name in names]
        rows = np.concatenate([positions[name] for name in names]) if len(names) else np.zeros(0, dtype=int)
        code = pipeline.encode(np.asarray(data.windows[rows]))
        ends = np.cumsum(counts)
        values = (np.stack([code_statistics(code[end - count:end]) for end, count in zip(ends, counts)])
                  if len(names) else np.zeros((0, len(STATISTICS) * code.shape[-1]), np.float32))
        if not pipeline.functionals.parts:
            return values
        return np.hstack([values, data.functional_values(pipeline.functionals.feature_set)[utterances]])

    def signal_values(self, pipeline: EmotionPipeline, samples: np.ndarray, rate: int) -> np.ndarray:
        """The code statistics of a signal's 1-s windows (mono, 8 kHz, silence dropped), joined
        to its functionals, as a training utterance's."""
        params = pipeline.params
        windows = signal_windows(samples, rate, target_rate=params.target_rate, window=params.window,
                                 silence_dbfs=params.silence_dbfs)
        values = code_statistics(pipeline.encode(windows))
        if not pipeline.functionals.parts:
            return values
        return np.concatenate([values, super().signal_values(pipeline, samples, rate)])


def code_statistics(code: np.ndarray) -> np.ndarray:
    """One utterance's code statistics from its windows' code ``(windows, steps, latent)``: each
    unit's :data:`~mser.functionals.STATISTICS` over every step of every window, unit by unit
    (``4 x latent`` values: ``unit1_mean, unit1_std, unit1_min, unit1_max, unit2_mean``...)."""
    return utterance_statistics(np.asarray(code).transpose(0, 2, 1))

