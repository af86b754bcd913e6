"""Every name this project writes into MLflow and reads back: tags, params, metrics, artifacts.

Defined once here and imported by whoever writes or reads them (the trials, the driver,
the report, the registry, ``mser-train``), so a renamed tag cannot leave a reader
behind. The kappas themselves (``val_kappa``, ``test_kappa``) are the science's names,
from :mod:`mser.metrics`.
"""

from __future__ import annotations

from enum import Enum

from mser.metrics import TEST_KAPPA, VAL_KAPPA

# ---------------------------------------------------------------- every training run (trial or mser-train)
#: The model trained (a name of :data:`mser.models.MODELS`; a search trial's is its space).
MODEL_TAG = "model"
#: ``it``, ``de``, ``en`` or ``all``.
LANGUAGE_TAG = "language"
#: The command line that made the run (or the search).
COMMAND_TAG = "mser.command"
#: The data fingerprint (:attr:`mser.dataset.Dataset.key`).
DATASET_KEY_TAG = "dataset_key"
#: The data a run saw, logged with ``mlflow.data`` (:func:`tracking.runs.log_dataset_inputs`):
#: one dataset per side of the split, named by :func:`dataset_input_name`, its digest the
#: dataset key's first characters (MLflow keeps 36 at most), in MLflow's context per side.
DATASET_DIGEST_LENGTH = 32
DATASET_CONTEXTS = {"train": "training", "validation": "validation", "test": "test"}
#: The utterance table's columns a dataset input holds (its schema in the MLflow UI).
DATASET_INPUT_COLUMNS = ("utterance", "corpus", "language", "speaker", "gender", "emotion")


def dataset_input_name(dataset_key: str, side: str) -> str:
    """``mser-<first 12 characters of the dataset key>-<side>``."""
    return f"mser-{dataset_key[:12]}-{side}"


#: The classifier epoch whose weights were kept (by validation kappa).
BEST_EPOCH_TAG = "best_epoch"
#: Where the run's logged model is (``models:/m-...``).
MODEL_URI_TAG = "model_uri"
#: The sides of a speaker split, each logged as a ``speakers.<side>`` tag.
SPEAKER_SIDES = ("train", "validation", "test")
#: The training seed, a param (every field of mser.train.TrainConfig is one, see tracking.runs.config_params).
SEED_PARAM = "seed"
#: The classifier's epochs at most (for a refit: exactly), a param like the seed.
EPOCHS_PARAM = "epochs"
#: The parent run of a nested run (MLflow's own tag).
PARENT_TAG = "mlflow.parentRunId"  # MLflow's MLFLOW_PARENT_RUN_ID (a test checks): importing it costs a second

# ---------------------------------------------------------------- search trials
class Outcome(str, Enum):
    """How a search trial ended, as Tune saw it (Optuna's ``TrialState``, for our runs).

    The MLflow status says how the run's process ended its run; the outcome says what the
    trial means to the study: ``finished`` (it trained to its end and logged its model),
    ``pruned`` (the scheduler stopped it early: no failure, no candidate) or ``failed``.
    """

    FINISHED = "finished"
    PRUNED = "pruned"
    FAILED = "failed"


TRIAL_TAG = "trial_id"
NODE_TAG = "ray_node"
#: The process that ran the trial (one worker runs several trials in turn).
PID_TAG = "ray_worker_pid"
#: How a trial ended, one :class:`Outcome` value, written once, by the search's driver
#: (:mod:`search.callbacks`), from what Tune saw; read with :func:`tracking.query.outcome`.
OUTCOME_TAG = "outcome"
#: ``true`` on a trial the scheduler stopped early, in stores written before :data:`OUTCOME_TAG`.
LEGACY_PRUNED_TAG = "pruned"
#: ``true`` on the trial of the paper's configuration, the baseline every search is compared with.
PAPER_TAG = "paper_point"
#: ``true`` on the run of an attempt whose worker failed; the trial ran again under a new run.
RETRIED_TAG = "retried"
#: ``true`` on a run left RUNNING by a driver that died, ended KILLED when the search resumed.
INTERRUPTED_TAG = "interrupted"
#: Why a trial's run ended FAILED when the trial could not say it (its worker failed).
ERROR_TAG = "error"
#: On a repeat of a study's chosen trial with another seed (``--repeats``): the chosen run's id.
REPEAT_OF_TAG = "repeat_of"
#: Summary metrics of the repeats on the parent run: ``repeats_val_kappa_mean``, ``..._sd``...
REPEATS_PREFIX = "repeats_"
REPEATS_FILE = "repeats.json"
#: On the refit of a study's chosen trial on every training speaker (validation ones
#: included): the chosen run's id. A refit is the study's result, not a trial.
REFIT_OF_TAG = "refit_of"
#: On a refit: the objective value its configuration was chosen by (measured on the chosen
#: trial; the refit itself has no validation speakers left to be measured on).
CHOICE_VAL_KAPPA = "choice_val_kappa"
#: On a trial: the epochs its validation speakers chose (the classifier's best epoch, the
#: autoencoder's lowest validation loss, counted from 1; the mean over speaker folds with
#: --folds), the epochs a refit of it trains for.
EPOCHS_FOUND = "epochs_found"
SAE_EPOCHS_FOUND = "sae_epochs_found"
#: ``hit`` or ``miss``: whether the trial's autoencoder came from the encoder cache.
ENCODER_CACHE_TAG = "encoder_cache"
#: Encoder epochs a trial replayed from an earlier training of the same encoder that was
#: stopped (:meth:`mser.encoders.EncoderCache.interrupted_curve`) instead of training them.
ENCODER_REPLAYED_TAG = "encoder_replayed_epochs"
#: With --folds, the objective: mean validation kappa over speaker folds (one value per fold
#: under :data:`CV_FOLD_METRIC`).
CV_VAL_KAPPA = "cv_val_kappa"
CV_FOLD_METRIC = f"{CV_VAL_KAPPA}_fold"
#: The spread (standard deviation) of the fold kappas: ties on the objective go to the steadier trial.
CV_VAL_KAPPA_SD = f"{CV_VAL_KAPPA}_sd"
#: On a study's parent run: --folds (0, K, or "speakers" for leave-one-speaker-out).
FOLDS_PARAM = "folds"
#: Seconds a trial spent training and scoring, without logging and reporting (the
#: benchmark's measure of what Ray, MLflow and data loading add around it).
TRAIN_SECONDS = "train_seconds"
#: Per-epoch curves are logged under this prefix, so the final ``val_kappa`` (at the
#: restored best epoch) is not mistaken for the last epoch's.
CURVE_PREFIX = "epoch/"

# ---------------------------------------------------------------- a search's parent run
#: The space searched.
SPACE_TAG = "space"
#: ``parent`` on a search's parent run.
SEARCH_TAG = "search"
PARENT_ROLE = "parent"
#: The best trial's run, by the study's objective (the chosen trial).
BEST_RUN_TAG = "best_run_id"
#: The study's result: the refit of the chosen trial (or, with --no-refit, the chosen trial
#: itself). It is what the report, the transfer matrix and mser-promote use.
RESULT_RUN_TAG = "result_run_id"
#: The result's test kappa.
RESULT_TEST_KAPPA = "result_test_kappa"
#: On a study's parent run: whether the chosen trial was refit (``true``/``false``).
REFIT_PARAM = "refit"
#: Where the search's Optuna study is kept (an SQLAlchemy URL, :mod:`search.sampler`) and its name.
OPTUNA_STORAGE_TAG = "optuna_storage"
OPTUNA_STUDY_TAG = "optuna_study"
#: With --warm-start: the parent run of the earlier search whose trials seeded the sampler.
WARM_START_TAG = "warm_start_of"
#: With --fix: the parameters held at a value, as JSON (``{"functionals.feature_set": "ComParE_2016"}``).
FIXED_TAG = "fixed_params"
#: The other params of a study's parent run: its options (also :data:`SEED_PARAM`,
#: :data:`EPOCHS_PARAM`, :data:`FOLDS_PARAM`).
TRIALS_PARAM = "trials"
SAE_EPOCHS_PARAM = "sae_epochs"
GRACE_PERIOD_PARAM = "grace_period"
MAX_CONCURRENT_PARAM = "max_concurrent"
#: The folder of a study's parent run that holds the experiment's study report.
REPORT_ARTIFACT_DIR = "report"
#: The trials' wall time, with Tune's.
SEARCH_SECONDS = "search_seconds"
#: Trial counts are logged as ``trials_<outcome>`` (finished, pruned, failed, ...).
TRIALS_PREFIX = "trials_"
BEST_VAL_KAPPA = f"best_{VAL_KAPPA}"
BEST_TEST_KAPPA = f"best_{TEST_KAPPA}"

# ---------------------------------------------------------------- registered model versions
SELECTED_BY_TAG = "selected_by"
#: On a version chosen for one language from another study (the joint model serving ``it``):
#: that study's language (``all``).
SOURCE_STUDY_TAG = "source_study"
LABELS_TAG = "labels"
RUN_ID_TAG = "run_id"
RUN_NAME_TAG = "run_name"
EXPERIMENT_ID_TAG = "experiment_id"

# ---------------------------------------------------------------- artifacts
SPLIT_FILE = "split.json"
HISTORY_FILE = "history.json"
CURVES_FILE = "curves.png"
SPACE_FILE = "space.json"
BEST_TRIALS_FILE = "best_trials.json"
#: On each trained model's run: its :class:`mser.train.TrainConfig` as JSON, so the
#: configuration can be trained again exactly (stacking's out-of-fold models).
CONFIG_FILE = "train_config.json"
#: On each trial run: the languages of the data the trial received (a held-out language is not among them).
DATA_LANGUAGES_TAG = "data.languages"

# ---------------------------------------------------------------- an ensemble's run (mser-ensemble)
#: ``true`` on the run of an ensemble of trials (:mod:`tracking.ensemble`).
ENSEMBLE_TAG = "ensemble"
#: Its members (run id, name, space, weight, validation kappa) and the selection's path.
ENSEMBLE_FILE = "ensemble.json"
#: The validation and test kappa of the best candidate alone, and the test comparison with it.
BEST_SINGLE_PREFIX = "best_single_"
VS_BEST_SINGLE_PREFIX = "vs_best_single_"
#: The best candidate alone's test predictions, beside the ensemble's (the report compares them).
BEST_SINGLE_PREDICTIONS_FILE = "predictions_test_best_single.csv"
#: The validation kappa of each way of combining (``selection_val_kappa``, ``stacking_val_kappa``):
#: the ensemble is the one with the higher.
SELECTION_PREFIX = "selection_"
STACKING_PREFIX = "stacking_"
#: Stacking's out-of-fold predictions of the training speakers, one row per candidate and utterance.
OUT_OF_FOLD_FILE = "predictions_out_of_fold.csv"


def speakers_tag(side: str) -> str:
    """``speakers.train``, ``speakers.validation`` or ``speakers.test``."""
    if side not in SPEAKER_SIDES:
        raise ValueError(f"unknown side {side!r}: expected one of {', '.join(SPEAKER_SIDES)}")
    return f"speakers.{side}"


def confusion_file(side: str, ext: str) -> str:
    """``confusion_<side>.json`` (the matrix) or ``.png`` (its picture)."""
    return f"confusion_{side}.{ext}"


def predictions_file(side: str) -> str:
    """``predictions_<side>.csv``: one row per utterance of that side's speakers."""
    return f"predictions_{side}.csv"


def transfer_metric(train: str, test: str) -> str:
    """``transfer_kappa_it_to_de``: a model trained on ``train`` scored on ``test``'s test speakers."""
    return f"transfer_kappa_{train}_to_{test}"


def transfer_predictions_file(test: str) -> str:
    """``predictions_transfer_de.csv``: a run's predictions for another language's test speakers."""
    return f"predictions_transfer_{test}.csv"
