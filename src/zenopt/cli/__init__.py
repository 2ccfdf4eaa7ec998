"""The ``zenopt`` command line. Start-up imports no heavy library (torch, onnxruntime)."""
