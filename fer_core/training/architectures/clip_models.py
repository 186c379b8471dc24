"""Clip architectures (input ``(T, H, W, C)``: a short sequence of face crops), registered in the model registry."""
from __future__ import annotations

import keras
from keras import layers

from .registry import register_model


def _frame_cnn(frame_shape: tuple[int, int, int]) -> keras.Sequential:
    """The per-frame feature extractor: each frame standardised (zero mean, unit variance: lighting varies between
    subjects), then conv blocks 16-32-64-128 (he_normal, BatchNorm, ELU, max-pooling, dropout)."""
    cnn = keras.Sequential([keras.Input(frame_shape), layers.Rescaling(1.0 / 255.0),
                            layers.LayerNormalization(axis=(1, 2, 3), center=False, scale=False)], name="frame_cnn")
    for filters, dropout in ((16, 0.05), (32, 0.1), (64, 0.2), (128, 0.3)):
        cnn.add(layers.Conv2D(filters, 3, padding="same", use_bias=False, kernel_initializer="he_normal"))
        cnn.add(layers.BatchNormalization())
        cnn.add(layers.Activation("elu"))
        cnn.add(layers.MaxPooling2D())
        cnn.add(layers.Dropout(dropout))
    cnn.add(layers.Flatten())
    return cnn


@register_model(
    "ck_convlstm", (3, 48, 48, 1),
    "Clip model (CK+48 article, ours tuned): per-frame standardisation, time-distributed CNN 16-32-64-128 (ELU, "
    "he_normal, BN, dropout) -> BiLSTM 64 -> BiLSTM 32 -> dense 64 -> softmax, on 3-frame clips of raw 0-255 pixels.",
    kind="clip", frame_layer="frames", optimizer="adam", lr=3e-3, schedule="plateau", plateau_patience=5,
    plateau_factor=0.5, min_lr=1e-5, batch_size=32, epochs=80, label_smoothing=0.1,
    # with the frame CNN pre-trained on FER2013 (--pretrain): fewer, gentler epochs on the clips
    pretrain_epochs=12, finetune_lr=1e-3, finetune_epochs=50,
)
def ck_convlstm(input_shape, n_classes):
    inp = keras.Input(shape=input_shape, name="clip")
    # One CNN applied to every frame (a single TimeDistributed wrapper: 4x faster on CPU than wrapping each layer).
    x = layers.TimeDistributed(_frame_cnn(tuple(input_shape[1:])), name="frames")(inp)
    x = layers.Bidirectional(layers.LSTM(64, return_sequences=True))(x)
    x = layers.Bidirectional(layers.LSTM(32))(x)
    x = layers.Dense(64, kernel_initializer="he_normal", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("elu")(x)
    x = layers.Dropout(0.5)(x)
    out = layers.Dense(n_classes, activation="softmax", dtype="float32")(x)
    return keras.Model(inp, out, name="ck_convlstm")
