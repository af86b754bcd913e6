"""The trained pipeline as an MLflow model that takes raw audio and returns the emotion.

Input: a table with, per row, either ``audio`` (the bytes of a wav file, base64 in
JSON requests) or ``path`` (a wav file on the machine that serves), and optionally
``speaker``: a model on openSMILE functionals with per-speaker normalisation
standardises the recordings of one speaker in a request with that speaker's own
statistics (others with the training speakers'). Output: per row, the emotion, the
probability of each emotion, and the number of 1-s windows read (1 for a model on the
whole utterance). A row whose audio cannot be used gets an empty emotion and the
reason in ``error``, so one bad file does not fail a whole request.
"""

from __future__ import annotations

import functools
import io
import logging
import tempfile
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import soundfile as sf
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema

import mser
from mser.audio import check_samples, read_wav
from mser.errors import MserError, SkipFile
from mser.metrics import probability_column


def signature(emotions: tuple[str, ...]) -> ModelSignature:
    """The model's signature: audio (a wav file's bytes, base64) or path (and speaker) in; the
    emotion, one probability column per emotion of the label set, the windows read and the
    error out. The audio is typed a base64 string, not MLflow's binary: MLflow fails a whole
    request whose binary column misses a value in one row, where each row must get its own answer."""
    return ModelSignature(
        inputs=Schema([ColSpec("string", "audio", required=False), ColSpec("string", "path", required=False),
                       ColSpec("string", "speaker", required=False)]),
        outputs=Schema([ColSpec("string", "emotion"), *[ColSpec("double", probability_column(e)) for e in emotions],
                        ColSpec("long", "windows"), ColSpec("string", "error")]),
    )


class _PickleNotice(logging.Filter):
    """MLflow warns on every model logged as a Python object (cloudpickled), as this one is on
    purpose (its code travels in ``code_paths``): the notice is said once in the docs, not per trial."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Passing a Python object as `python_model`" not in record.getMessage()


logging.getLogger("mlflow.pyfunc").addFilter(_PickleNotice())


class EmotionModel(mlflow.pyfunc.PythonModel):
    """MLflow wrapper of a trained model: an :class:`mser.pipeline.EmotionPipeline`, or an ensemble of them."""

    def load_context(self, context) -> None:
        from mser.pipeline import load_trained

        self.pipeline = load_trained(context.artifacts["pipeline"])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        rows = model_input.to_dict("records")
        answers: list = [_or_failure(_signal, row) for row in rows]
        usable = [i for i, answer in enumerate(answers) if not isinstance(answer, Exception)]
        speakers = [_speaker(rows[i].get("speaker")) for i in usable]
        predictions = self.pipeline.predict_signals([answers[i] for i in usable], speakers)
        for i, prediction in zip(usable, predictions):
            answers[i] = prediction
        return pd.DataFrame([_row(answer, self.pipeline.emotions) for answer in answers])


def _signal(row: dict) -> tuple[np.ndarray, int]:
    audio, path = row.get("audio"), row.get("path")
    if audio is not None and not (isinstance(audio, float) and np.isnan(audio)):
        return _decode(audio)
    if isinstance(path, str) and path:
        samples, info = read_wav(path)
        return samples, info.rate
    raise SkipFile("the row has neither 'audio' (wav bytes) nor 'path'")


def _or_failure(function, *args):
    try:
        return function(*args)
    except (SkipFile, OSError) as error:  # one bad row must not fail the others
        return error
    except Exception as error:  # noqa: BLE001 - an unforeseen fault is that row's answer, not the batch's
        return SkipFile(f"could not be read ({type(error).__name__}: {error})")


def _speaker(value) -> str | None:
    return value if isinstance(value, str) and value else None


def _row(answer, emotions: tuple[str, ...]) -> dict:
    if isinstance(answer, Exception):
        return {"emotion": "", **{probability_column(e): float("nan") for e in emotions}, "windows": 0,
                "error": getattr(answer, "reason", None) or _os_reason(answer)}
    return {"emotion": answer.emotion, **{probability_column(e): p for e, p in answer.probabilities.items()},
            "windows": answer.windows, "error": ""}


def _os_reason(error: OSError) -> str:
    if isinstance(error, FileNotFoundError):
        return "no such file"
    if isinstance(error, IsADirectoryError):
        return "is a folder, not a wav file"
    return error.strerror or str(error)


def _decode(audio) -> tuple[np.ndarray, int]:
    if isinstance(audio, str):
        import base64

        audio = base64.b64decode(audio)
    try:
        samples, rate = sf.read(io.BytesIO(bytes(audio)), dtype="float64", always_2d=True)
    except sf.LibsndfileError as error:
        raise SkipFile(f"the audio bytes are not a readable wav file ({error})") from None
    check_samples(samples)
    return samples, rate


def example_wav(seconds: float = 1.5, rate: int = 16_000) -> bytes:
    """A short voiced-like wav as bytes, the logged model's input example."""
    t = np.arange(int(seconds * rate)) / rate
    tone = 0.2 * np.sin(2 * np.pi * 180 * t) * (1 + 0.5 * np.sin(2 * np.pi * 4 * t))
    buffer = io.BytesIO()
    sf.write(buffer, tone, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def log_pipeline(pipeline, *, name: str = "model") -> "mlflow.models.model.ModelInfo":
    """Log ``pipeline`` to the active run as a pyfunc model carrying the ``mser`` code, with
    its signature and an input example (a served model's documentation).

    MLflow's own check of the example (load the model back, predict it, and only warn if
    that fails) is left out: it took a third of the logging of every trial's model (0.1-0.2 s,
    more than fitting a model on functionals), and :func:`check_model` makes the same check a
    refusal where it matters, when a model is promoted.
    """
    from mlflow.models import Model

    with tempfile.TemporaryDirectory() as folder:
        saved = pipeline.save(Path(folder) / "pipeline")
        return Model.log(
            artifact_path=None,
            name=name,
            flavor=_UncheckedPyfunc,
            flavor_name="mlflow.pyfunc",
            validate_serving_input=False,  # read by Model.log, dropped by the flavor below
            python_model=EmotionModel(),
            artifacts={"pipeline": str(saved)},
            code_paths=[str(Path(mser.__file__).parent)],
            signature=signature(pipeline.emotions),
            input_example=pd.DataFrame({"audio": [example_wav()]}),
            pip_requirements=list(_requirements(pipeline.requirements)),
        )


class _UncheckedPyfunc:
    """The pyfunc flavor for ``mlflow.models.Model.log`` (what ``mlflow.pyfunc.log_model``
    calls) with ``validate_serving_input=False``, an option ``Model.log`` reads from the
    flavor's arguments but ``mlflow.pyfunc.save_model`` does not accept."""

    __name__ = "mlflow.pyfunc"

    @staticmethod
    def save_model(**kwargs):
        kwargs.pop("validate_serving_input", None)
        return mlflow.pyfunc.save_model(**kwargs)


def load_pipeline(model_uri: str):
    """The :class:`mser.pipeline.EmotionPipeline` inside a model logged by :func:`log_pipeline`."""
    return mlflow.pyfunc.load_model(model_uri).unwrap_python_model().pipeline


def score_logged_model(run, dataset, speakers, *, pipeline=None):
    """The :class:`~mser.metrics.Evaluation` of the model ``run`` logged (its ``model_uri``
    tag; or ``pipeline``, that model already loaded) on the utterances of ``speakers`` in
    ``dataset``: the one place a logged model is scored (a study's best trials on their test
    speakers, the transfer matrix, an ensemble's candidates)."""
    from mser.train import score_speakers
    from tracking.schema import MODEL_URI_TAG

    if pipeline is None:
        pipeline = load_pipeline(run.data.tags[MODEL_URI_TAG])
    return score_speakers(pipeline, dataset, list(speakers))


def check_model(model_uri: str) -> None:
    """Load a logged model and classify its input example, as ``mlflow models serve`` would.

    Raises :class:`mser.errors.MserError` naming the model and what went wrong.
    """
    try:
        answer = mlflow.pyfunc.load_model(model_uri).predict(pd.DataFrame({"audio": [example_wav()]}))
    except Exception as error:  # noqa: BLE001 - any failure to load or predict is the answer
        raise MserError(f"the model {model_uri} does not load and predict: {type(error).__name__}: {error}") from None
    row = answer.iloc[0]
    emotions = [c[2:] for c in answer.columns if c.startswith(probability_column(""))]
    if row["error"] or row["emotion"] not in emotions:
        raise MserError(f"the model {model_uri} gave no emotion for its input example: "
                        f"{row['error'] or repr(row['emotion'])}")


@functools.cache
def _requirements(extra: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The packages a served model needs, pinned to this machine's versions (read once per process)."""
    from importlib.metadata import version

    return tuple(f"{package}=={version(package)}" for package in
                 ("tensorflow", "keras", "librosa", "scipy", "scikit-learn", "pandas", "soundfile", "numpy", "mlflow",
                  *extra))
