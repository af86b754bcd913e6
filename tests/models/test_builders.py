import inspect

import numpy as np
import pytest

from mser.models import MODELS, code_rows, get_model, model_inputs
from mser.models.classifiers import build_code_cnn, build_dnn, build_matrix_cnn, build_mlp, build_svm
from mser.models.sae import build_autoencoder, code_length


def test_paper_autoencoder_turns_8000_samples_into_2000_code_values():
    autoencoder, encoder = build_autoencoder()
    assert encoder.output_shape == (None, 125, 16)
    assert autoencoder.output_shape == (None, 8000, 1)
    conv = [layer for layer in encoder.layers if layer.name.startswith("enc_conv")]
    assert [layer.filters for layer in conv] == [20, 30, 40]
    assert autoencoder.layers[-1].activation.__name__ == "sigmoid"
    assert autoencoder.optimizer.__class__.__name__ == "Adadelta"


@pytest.mark.parametrize("depth, stride, pool", [(2, 2, 2), (4, 2, 2), (3, 3, 2), (1, 4, 4)])
def test_other_depths_still_reconstruct_the_whole_window(depth, stride, pool):
    autoencoder, encoder = build_autoencoder(depth=depth, stride=stride, pool=pool, latent=8)
    assert autoencoder.output_shape == (None, 8000, 1)
    assert encoder.output_shape == (None, code_length(8000, depth=depth, stride=stride, pool=pool), 8)


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="must be positive"):
        build_autoencoder(depth=0)
    with pytest.raises(ValueError, match="dropout"):
        build_autoencoder(dropout=1.0)
    with pytest.raises(ValueError, match="unknown optimizer"):
        build_autoencoder(optimizer="adamw2")
    with pytest.raises(ValueError, match="longer than the code"):
        build_code_cnn(input_length=50)


def test_stacked_input_is_166_by_16():
    code = np.zeros((3, 125, 16), dtype=np.float32)
    features = np.zeros((3, 41, 16), dtype=np.float32)
    stacked = model_inputs(MODELS["sae_cnn_features"], code, features)
    assert stacked.shape == (3, 166, 16)
    model = build_matrix_cnn(input_shape=stacked.shape[1:])
    assert model.output_shape == (None, 6)
    assert model_inputs(MODELS["sae_cnn"], code, None).shape == (3, 2000, 1)
    assert model_inputs(MODELS["sae_svm"], code, None).shape == (3, 2000)
    assert model_inputs(MODELS["cnn_features"], None, features).shape == (3, 41, 16)


def test_code_rows_pad_to_whole_rows():
    assert code_rows(np.ones((2, 31, 8)), 16).shape == (2, 16, 16)


def test_paper_classifier_defaults():
    cnn = build_code_cnn()
    conv = cnn.get_layer("conv")
    assert (conv.filters, conv.kernel_size, conv.strides) == (16, (100,), (10,))
    assert cnn.get_layer("emotion").activation.__name__ == "sigmoid"
    mlp = build_mlp().steps[-1][1]
    assert mlp.hidden_layer_sizes == (6, 6) and mlp.activation == "relu" and mlp.max_iter == 200
    assert build_svm().steps[-1][1].estimator.kernel == "rbf"
    assert build_dnn().output_shape == (None, 6)


def test_every_hyperparameter_is_a_keyword_with_a_default():
    for spec in MODELS.values():
        for name, parameter in inspect.signature(spec.builder).parameters.items():
            assert parameter.kind is inspect.Parameter.KEYWORD_ONLY, (spec.name, name)
            assert parameter.default is not inspect.Parameter.empty, (spec.name, name)


def test_unknown_model():
    with pytest.raises(ValueError, match="unknown model 'svm'.*sae_svm"):
        get_model("svm")


def test_tensorflow_loads_quietly_unless_asked_not_to():
    """TensorFlow's C++ start-up lines (oneDNN, no CUDA) are silenced, as are its Python
    retracing notices; TF_CPP_MIN_LOG_LEVEL=0 brings them back."""
    import os
    import subprocess
    import sys

    code = "import mser.models._keras, tensorflow as tf; print(tf.constant(2) * 2)"
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    quiet = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert quiet.returncode == 0 and "tf.Tensor(4" in quiet.stdout
    assert quiet.stderr == ""
    loud = subprocess.run([sys.executable, "-c", code], env={**env, "TF_CPP_MIN_LOG_LEVEL": "0"},
                          capture_output=True, text=True, timeout=120)
    assert loud.returncode == 0 and loud.stderr.strip()  # oneDNN, CUDA probing: what this machine logs


def test_svm_models_logged_before_the_calibration_moved_still_unpickle():
    import pickle

    from mser.models.calibration import FoldsByRarestClass

    assert pickle.loads(b"cmser.models.classifiers\nFoldsByRarestClass\n.") is FoldsByRarestClass
