"""The classic TensorFlow/Keras MNIST CNN, as a zenopt model factory.

This is the network of TensorFlow's "Deep MNIST" tutorial (the one zenopt's ``tf_cnn``
rewrites in PyTorch), written the Keras way: conv 32 5×5 same → ReLU → pool 2 → conv 64 5×5
same → ReLU → pool 2 → dense 1024 → ReLU → dropout → dense → softmax, trained with Adam.
zenopt trains it with Keras's own ``fit`` (in a child process) and optimizes its ONNX export::

    PYTHONPATH=. zenopt run --config examples/keras_mnist.yaml   # from the repository root

A factory is called as ``factory(input_shape, num_outputs, **model.params)``; image input
comes channels last, ``(height, width, channels)``.
"""

from __future__ import annotations

import keras


def classic_cnn(
    input_shape: tuple[int, ...], num_outputs: int, dropout: float = 0.4
) -> keras.Model:
    return keras.Sequential(
        [
            keras.Input(input_shape),
            keras.layers.Conv2D(32, 5, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Conv2D(64, 5, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(),
            keras.layers.Dense(1024, activation="relu"),
            keras.layers.Dropout(dropout),
            keras.layers.Dense(num_outputs, activation="softmax"),
        ],
        name="classic_mnist_cnn",
    )
