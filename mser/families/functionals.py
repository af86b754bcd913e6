"""The field's baseline family: a whole utterance described by its functionals
(:mod:`mser.functionals`: openSMILE's sets, the statistics of the librosa features, or two
joined), standardised with the training speakers' statistics (``global``) or each speaker's
own (``speaker``), optionally reduced to the columns that best separate the training
speakers' emotions. No encoder: nothing to train before the classifier, nothing to probe.
"""

from __future__ import annotations

from typing import Callable, ClassVar, Mapping, Sequence

import numpy as np

from mser.audio import peak_dbfs, to_mono
from mser.dataset import UTTERANCE_UNIT, Dataset
from mser.errors import SkipFile
from mser.families import Family
from mser.functionals import FEATURE_SETS, FunctionalsParams, functionals, select_columns
from mser.pipeline import EmotionPipeline, Prediction, Standardizer, or_skip, prediction
from mser.splits import Split
from mser.train import EpochCallback, TrainConfig

#: The shortest signal an utterance-level model classifies, in seconds.
MIN_UTTERANCE_SECONDS = 0.25


class FunctionalsFamily(Family):
    """Models on an utterance's openSMILE functionals.

    A family of other utterance inputs reuses their normalisation, selection and per-speaker
    handling by overriding :attr:`params_type`, :meth:`raw_values` and :meth:`signal_values`
    (:class:`~mser.families.code_statistics.CodeStatisticsFamily`).
    """

    name = "functionals"
    unit = UTTERANCE_UNIT
    window_scores = False
    requirements = ("opensmile",)
    #: The settings of the ``functionals`` group, as :attr:`EmotionPipeline.functionals` holds them.
    params_type: ClassVar[type[FunctionalsParams]] = FunctionalsParams

    def groups(self, spec) -> Mapping[str, Callable]:
        return {"functionals": self.params_type}

    def requirements_of(self, pipeline: EmotionPipeline) -> tuple[str, ...]:
        """openSMILE, unless no part of the model's set is openSMILE's (``librosa`` is mser's own)."""
        return self.requirements if any(part in FEATURE_SETS for part in pipeline.functionals.parts) else ()

    def check(self, config: TrainConfig) -> None:
        self.params_type(**config.functionals)  # refuses an unknown set or normalisation
        if config.augment:
            raise ValueError(f"augment is for the models on windows; {config.model} takes none")

    def prepare(self, data: Dataset, config: TrainConfig, rows: Mapping[str, np.ndarray], split: Split, *,
                history: dict, on_epoch: EpochCallback | None = None, encoder_cache=None,
                probe: tuple | None = None) -> EmotionPipeline:
        """The functionals' settings and the training speakers' statistics (:meth:`fit_normalisation`)."""
        pipeline = EmotionPipeline(config.model, data.params, (0.0, 1.0), None, None, None, config.vote,
                                   functionals=self.params_type(**config.functionals), emotions=data.emotions)
        self.fit_normalisation(pipeline, data, rows["train"])
        return pipeline

    def fit_normalisation(self, pipeline: EmotionPipeline, data: Dataset, train: np.ndarray) -> None:
        """Set ``pipeline``'s standardiser to the statistics of the training utterances at
        ``train`` (every utterance of the training speakers); with ``select``, the columns kept,
        ranked on those utterances' normalised inputs and labels only."""
        values = self.raw_values(pipeline, data, train)
        pipeline.standardizer = Standardizer.fit(values, axis=1)
        select = pipeline.functionals.select
        if 0 < select < values.shape[1]:
            speakers = data.utterances["speaker"].to_numpy()[train]
            labels = data.examples(self.unit)["label"].to_numpy()[train]
            pipeline.columns = select_columns(pipeline.utterance_inputs(values, speakers), labels, select)
            pipeline.standardizer = Standardizer(pipeline.standardizer.mean[pipeline.columns],
                                                 pipeline.standardizer.scale[pipeline.columns])

    def raw_values(self, pipeline: EmotionPipeline, data: Dataset, utterances: np.ndarray) -> np.ndarray:
        """The raw inputs ``(n, columns)`` of the utterances at ``utterances`` of ``data``, before
        normalisation and selection: here, their functionals."""
        return data.functional_values(pipeline.functionals.feature_set)[utterances]

    def signal_values(self, pipeline: EmotionPipeline, samples: np.ndarray, rate: int) -> np.ndarray:
        """The raw inputs of one signal, as :meth:`raw_values` gives a training utterance's.

        Raises:
            SkipFile: The signal is silent or too short.
        """
        return _signal_functionals(pipeline, samples, rate)

    def inputs(self, pipeline: EmotionPipeline, data: Dataset, index: np.ndarray) -> np.ndarray:
        """Under ``speaker`` normalisation, each utterance is standardised with the statistics
        of its speaker's utterances in ``data``, whatever ``index`` selects, so a speaker's
        inputs are the same on every side and in every call."""
        if pipeline.functionals.normalisation == "global":
            return pipeline.utterance_inputs(self.raw_values(pipeline, data, index))
        speakers = data.utterances["speaker"].to_numpy()
        wanted = np.flatnonzero(np.isin(speakers, np.unique(speakers[index])))
        normalised = pipeline.utterance_inputs(self.raw_values(pipeline, data, wanted), speakers[wanted])
        inputs = np.zeros((len(speakers), normalised.shape[1]), dtype=np.float32)
        inputs[wanted] = normalised
        return inputs[index]

    def predict_signals(self, pipeline: EmotionPipeline, signals: Sequence[tuple[np.ndarray, int]],
                        speakers: Sequence[str | None] | None = None) -> list[Prediction | SkipFile]:
        """The signals' raw inputs (:meth:`signal_values`), standardised together (per speaker under
        ``speaker`` normalisation, see :meth:`~mser.pipeline.EmotionPipeline.utterance_inputs`)."""
        answers: list = [or_skip(self.signal_values, pipeline, samples, rate) for samples, rate in signals]
        usable = [i for i, a in enumerate(answers) if not isinstance(a, SkipFile)]
        if usable:
            names = None if speakers is None else [speakers[i] for i in usable]
            inputs = pipeline.utterance_inputs(np.stack([answers[i] for i in usable]), names)
            for i, row in zip(usable, pipeline.probabilities(inputs)):
                answers[i] = prediction(row, 1, pipeline.emotions)
        return answers


def _signal_functionals(pipeline: EmotionPipeline, samples: np.ndarray, rate: int) -> np.ndarray:
    """The raw functionals of a signal, as the training utterances' were computed.

    Raises:
        SkipFile: The signal is silent or too short.
    """
    mono = to_mono(samples)
    level = peak_dbfs(mono)
    silence = pipeline.params.silence_dbfs
    if level < silence:
        raise SkipFile(f"silent: peak level {level:.0f} dBFS is below {silence:.0f} dBFS")
    if len(mono) < MIN_UTTERANCE_SECONDS * rate:
        raise SkipFile(f"too short: {len(mono) / rate:.2f} s, the model needs {MIN_UTTERANCE_SECONDS} s")
    return functionals(samples, rate, feature_set=pipeline.functionals.feature_set, params=pipeline.params)
