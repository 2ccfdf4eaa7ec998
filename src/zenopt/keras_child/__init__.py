"""The child processes in which Keras and TensorFlow run for zenopt (``python -m
zenopt.keras_child.fit`` / ``.export``). Nothing here imports torch, and zenopt's own process
never imports these modules' TensorFlow: a package of its own, so that starting a child loads
neither torch nor the model registry (``zenopt.models`` does)."""
