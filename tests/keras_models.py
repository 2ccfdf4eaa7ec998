"""A Keras model made the way Keras users make one: a small CNN trained with Adam on the
bundled 8×8 digits (raw 0–16 pixels, channels last), saved as ``.keras`` and exported as a
TensorFlow SavedModel, with Keras's own predictions on every digit, for the tests of
``model.name: keras:PATH``. TensorFlow runs in a child process, as zenopt runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

__all__ = ["keras_digits", "keras_predict"]

_SCRIPT = """
import sys
import numpy as np
import keras
from sklearn.datasets import load_digits

folder = sys.argv[1]
keras.utils.set_random_seed(0)
digits = load_digits()
X = digits.images.astype("float32")[..., None]
model = keras.Sequential([
    keras.Input((8, 8, 1)),
    keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
    keras.layers.MaxPooling2D(),
    keras.layers.Flatten(),
    keras.layers.Dense(10, activation="softmax"),
])
model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
model.fit(X, digits.target, epochs=4, batch_size=64, verbose=0)
model.save(f"{folder}/digits.keras")
model.export(f"{folder}/saved_model", verbose=False)
np.save(f"{folder}/keras_scores.npy", model.predict(X, verbose=0))

# A table model with an adapted Normalization layer (Keras's ONNX export makes its mean and
# variance graph inputs; zenopt goes through a SavedModel then).
from sklearn.datasets import load_breast_cancer
table = load_breast_cancer()
features = table.data.astype("float32")
norm = keras.layers.Normalization()
norm.adapt(features)
mlp = keras.Sequential([keras.Input((30,)), norm, keras.layers.Dense(16, activation="relu"),
                        keras.layers.Dense(1, activation="sigmoid")])
mlp.compile(keras.optimizers.Adam(3e-3), "binary_crossentropy")
mlp.fit(features, table.target, epochs=10, batch_size=32, verbose=0)
mlp.save(f"{folder}/cancer.keras")
np.save(f"{folder}/cancer_scores.npy", mlp.predict(features, verbose=0))
"""


def keras_digits(folder: Path) -> tuple[Path, Path, np.ndarray]:
    """The saved ``.keras`` file, the SavedModel folder, and Keras's scores on every digit
    (in ``load_digits`` order). The same folder also gets ``cancer.keras`` (breast_cancer,
    with a Normalization layer) and its scores, ``cancer_scores.npy``."""
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", _SCRIPT, str(folder)], env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return folder / "digits.keras", folder / "saved_model", np.load(folder / "keras_scores.npy")


_PREDICT = """
import sys
import numpy as np
import keras

model = keras.models.load_model(sys.argv[1], compile=False)
np.save(sys.argv[3], model.predict(np.load(sys.argv[2]), verbose=0))
"""


def keras_predict(model: Path, rows: np.ndarray, folder: Path) -> np.ndarray:
    """Keras's own outputs of the saved model ``model`` on ``rows`` (in its input layout),
    computed in a child process."""
    np.save(folder / "rows.npy", rows)
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, "-c", _PREDICT, str(model), str(folder / "rows.npy"),
               str(folder / "outputs.npy")]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return np.load(folder / "outputs.npy")
