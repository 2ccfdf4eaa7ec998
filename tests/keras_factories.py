"""Keras model factories for the tests of ``model.name: package.module:factory`` returning a
``keras.Model``. zenopt reads that this module imports Keras and trains its models in Keras,
in a child process; zenopt's own process never imports it."""

from __future__ import annotations

import keras


def logits_mlp(input_shape: tuple[int, ...], num_outputs: int, width: int = 16) -> keras.Model:
    """A functional MLP giving logits (no final activation)."""
    inputs = keras.Input(input_shape)
    hidden = keras.layers.Dense(width, activation="relu")(inputs)
    return keras.Model(inputs, keras.layers.Dense(num_outputs)(hidden))


def selu_mlp(input_shape: tuple[int, ...], num_outputs: int, width: int = 16) -> keras.Model:
    """An MLP with SELU (ONNX's Selu), an operator zenopt's PyTorch converter lacks."""
    return keras.Sequential([
        keras.Input(input_shape),
        keras.layers.Dense(width, activation="selu"),
        keras.layers.Dense(num_outputs, activation="softmax"),
    ])  # fmt: skip


def wrong_width(input_shape: tuple[int, ...], num_outputs: int) -> keras.Model:
    """One output too many, in a Sequential without keras.Input (zenopt builds it)."""
    return keras.Sequential([keras.layers.Dense(num_outputs + 1)])


def sigmoid_binary(input_shape: tuple[int, ...], num_outputs: int) -> keras.Model:
    """Dense(1, sigmoid), whatever num_outputs says: needs train.loss=bce."""
    return keras.Sequential([keras.Input(input_shape), keras.layers.Dense(1, activation="sigmoid")])


def not_a_model(input_shape: tuple[int, ...], num_outputs: int) -> object:
    return object()
