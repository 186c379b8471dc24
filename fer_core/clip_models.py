"""Clip architectures (input ``(T, H, W, C)``: a short sequence of face crops), registered in the model registry."""
from __future__ import annotations

import keras
from keras import layers

from .models import register_model


def _td_conv(x, filters: int, dropout: float, pool: bool = True):
    """Two time-distributed 3x3 convs (he_normal, BatchNorm, ELU), then pooling and dropout, frame by frame."""
    for _ in range(2):
        x = layers.TimeDistributed(layers.Conv2D(filters, 3, padding="same", use_bias=False,
                                                 kernel_initializer="he_normal"))(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("elu")(x)
    if pool:
        x = layers.TimeDistributed(layers.MaxPooling2D())(x)
    return layers.Dropout(dropout)(x)


@register_model(
    "ck_convlstm", (3, 48, 48, 1),
    "Clip model (CK+48 article, ours tuned): time-distributed CNN 32-64-128 (ELU, he_normal, BN, dropout) "
    "-> BiLSTM 64 -> BiLSTM 32 -> dense 64 -> softmax, on 3-frame clips.",
    kind="clip", optimizer="adam", lr=1e-3, schedule="plateau", plateau_patience=5, plateau_factor=0.5,
    min_lr=1e-5, batch_size=32, epochs=60, augment="clip", label_smoothing=0.1, weight_decay=0.0,
)
def ck_convlstm(input_shape, n_classes):
    inp = keras.Input(shape=input_shape, name="clip")
    x = layers.Rescaling(1.0 / 255.0)(inp)  # raw 0-255 pixels in, like every registered model
    x = _td_conv(x, 32, 0.1)
    x = _td_conv(x, 64, 0.2)
    x = _td_conv(x, 128, 0.3)
    x = layers.TimeDistributed(layers.Conv2D(64, 1, kernel_initializer="he_normal", activation="elu"))(x)
    x = layers.TimeDistributed(layers.Flatten())(x)
    x = layers.Dropout(0.4)(x)
    x = layers.Bidirectional(layers.LSTM(64, return_sequences=True))(x)
    x = layers.Bidirectional(layers.LSTM(32))(x)
    x = layers.Dense(64, kernel_initializer="he_normal", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("elu")(x)
    x = layers.Dropout(0.5)(x)
    out = layers.Dense(n_classes, activation="softmax", dtype="float32")(x)
    return keras.Model(inp, out, name="ck_convlstm")
