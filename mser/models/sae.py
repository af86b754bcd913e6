"""The stacked convolutional autoencoder on raw 8 kHz windows (paper, section 5.3, Table 3).

The encoder is ``depth`` blocks of Conv1D + MaxPool + Dropout and a per-step Dense;
8000 samples become 125 steps x 16 units = 2000 code values with the paper's values.
The decoder mirrors it with UpSampling + Conv1DTranspose and ends in a sigmoid
Conv1DTranspose, so it reconstructs windows scaled to [0, 1].
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported when a model is built: naming the models does not import TensorFlow
    from mser.models._keras import keras


def block_filters(depth: int, filters: int, filter_step: int) -> list[int]:
    """Filters of each encoder block: ``filters``, ``filters + filter_step``, ... (20, 30, 40)."""
    return [filters + i * filter_step for i in range(depth)]


def code_length(input_length: int, *, depth: int, stride: int, pool: int) -> int:
    """Time steps of the code for ``input_length`` samples ('same' padding rounds up)."""
    steps = input_length
    for _ in range(depth):
        steps = math.ceil(math.ceil(steps / stride) / pool)
    return steps


def build_autoencoder(
    *,
    input_length: int = 8000,
    depth: int = 3,
    filters: int = 20,
    filter_step: int = 10,
    kernel: int = 3,
    stride: int = 2,
    pool: int = 2,
    dropout: float = 0.2,
    latent: int = 16,
    optimizer: str = "adadelta",
    learning_rate: float = 1.0,
) -> tuple[keras.Model, keras.Model]:
    """Build and compile the autoencoder and its encoder (the paper's Table 3 by default).

    Adadelta's learning rate defaults to 1.0, the value of the original method [8];
    Keras 3 would default to 0.001, at which it barely moves in 100 epochs.

    Returns:
        ``(autoencoder, encoder)``: the autoencoder maps ``(input_length, 1)`` to itself
        (MSE loss); the encoder maps it to the code ``(steps, latent)``.
    """
    if depth < 1 or min(filters, kernel, stride, pool, latent) < 1 or filter_step < 0:
        raise ValueError(f"autoencoder sizes must be positive, got depth={depth} filters={filters} "
                         f"filter_step={filter_step} kernel={kernel} stride={stride} pool={pool} latent={latent}")
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    steps = code_length(input_length, depth=depth, stride=stride, pool=pool)
    if steps < 1:
        raise ValueError(f"{depth} blocks of stride {stride} and pool {pool} leave no code for {input_length} samples")
    from mser.models._keras import compile_model, keras, layers

    sizes = block_filters(depth, filters, filter_step)

    inputs = keras.Input((input_length, 1), name="window")
    x = inputs
    for i, size in enumerate(sizes):
        x = layers.Conv1D(size, kernel, strides=stride, padding="same", activation="relu", name=f"enc_conv{i}")(x)
        x = layers.MaxPooling1D(pool, padding="same", name=f"enc_pool{i}")(x)
        x = layers.Dropout(dropout, name=f"enc_drop{i}")(x)
    code = layers.Dense(latent, name="code")(x)
    encoder = keras.Model(inputs, code, name="encoder")

    y = code
    for i, size in reversed(list(enumerate(sizes))):
        y = layers.UpSampling1D(pool, name=f"dec_up{i}")(y)
        y = layers.Conv1DTranspose(size, kernel, strides=stride, padding="same", activation="relu",
                                   name=f"dec_conv{i}")(y)
    y = layers.Conv1DTranspose(1, kernel, padding="same", activation="sigmoid", name="reconstruction")(y)
    excess = steps * (stride * pool) ** depth - input_length
    if excess:
        y = layers.Cropping1D((0, excess), name="crop")(y)
    autoencoder = keras.Model(inputs, y, name="autoencoder")
    compile_model(autoencoder, optimizer, learning_rate, "mse")
    return autoencoder, encoder
