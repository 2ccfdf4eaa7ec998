"""Microsoft Olive's ONNX static quantization of a file, run in Olive's own environment (it
is not one of zenopt's dependencies): ``bench_foreign.py --olive-python ENV/bin/python``.

    python foreign_olive.py MODEL.onnx CALIBRATION.npy OUT_DIR   # prints the quantized file

Its environment, as made for the measurement in RESULTS.md (torch first: a plain ``torch``
would pull a CUDA build; Olive's telemetry imports ``requests`` without requiring it):

    python -m venv /tmp/olive-venv
    /tmp/olive-venv/bin/pip install torch==2.13.0
    /tmp/olive-venv/bin/pip install olive-ai==0.13.0 onnxruntime onnx requests

The calibration rows are the same 512 training rows zenopt and the ORT anchor calibrate on;
every option of Olive's ``OnnxStaticQuantization`` pass is left at its default.
"""

from __future__ import annotations

import sys
from pathlib import Path

SCRIPT = """
import numpy as np
import torch
from olive.data.registry import Registry


class _Rows(torch.utils.data.Dataset):
    def __init__(self, path, name):
        self.rows, self.name = np.load(path), name

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        return {self.name: torch.from_numpy(self.rows[i])}, 0


@Registry.register_dataset()
def zenopt_calibration(path, name, **kwargs):
    return _Rows(path, name)
"""


def main() -> None:
    model, calibration, out = (Path(a).resolve() for a in sys.argv[1:4])
    out.mkdir(parents=True, exist_ok=True)
    script = out / "olive_data.py"
    script.write_text(SCRIPT)
    import onnx
    from olive import run

    name = onnx.load(str(model)).graph.input[0].name
    config = {
        "input_model": {"type": "ONNXModel", "model_path": str(model)},
        "data_configs": [{
            "name": "calibration",
            "user_script": str(script),
            "load_dataset_config": {"type": "zenopt_calibration",
                                    "params": {"path": str(calibration), "name": name}},
            "dataloader_config": {"params": {"batch_size": 1}},
        }],
        "passes": {"quantize": {"type": "OnnxStaticQuantization",
                                "data_config": "calibration"}},
        "output_dir": str(out / "output"),
        "log_severity_level": 3,
    }  # fmt: skip
    run(config)
    found = sorted((out / "output").rglob("*.onnx"))
    if not found:
        raise SystemExit("Olive wrote no ONNX model")
    print(found[0])


if __name__ == "__main__":
    main()
