"""KServe 0.21 Python ModelServer wrapping the benchmark's ONNX model with ONNX Runtime.

The peer for the benchmark: a custom ``kserve.Model`` as KServe's docs describe one, with the same
``model.onnx`` Yardarm serves (one input per feature) and a single-threaded ORT session like
``yardarm-serve --threads 1``. Runs in its own venv (see setup.sh), never imported by Yardarm.

Usage: ``python kserve_onnx_server.py --model_dir DIR --model_name bench --http_port 8082``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import onnxruntime as ort
from kserve import InferOutput, InferRequest, InferResponse, Model, ModelServer, model_server


class OnnxModel(Model):
    def __init__(self, name: str, model_dir: Path) -> None:
        super().__init__(name)
        self.model_dir = model_dir
        self.load()

    def load(self) -> bool:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(self.model_dir / "model.onnx"), options)
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.ready = True
        return self.ready

    def predict(self, payload: InferRequest, headers: dict[str, str] | None = None) -> InferResponse:
        x = payload.inputs[0].as_numpy().astype(np.float32)
        columns = np.ascontiguousarray(x.T)
        feeds = {name: columns[j].reshape(-1, 1) for j, name in enumerate(self.inputs)}
        label, probabilities = self.session.run(["label", "probabilities"], feeds)
        outputs = [
            InferOutput(name="label", shape=list(label.shape), datatype="INT64", data=label.tolist()),
            InferOutput(
                name="probabilities", shape=list(probabilities.shape), datatype="FP32", data=probabilities.tolist()
            ),
        ]
        return InferResponse(response_id=payload.id or "", model_name=self.name, infer_outputs=outputs)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(parents=[model_server.parser])
    parser.add_argument("--model_dir", type=Path, required=True)
    args, _ = parser.parse_known_args()
    model = OnnxModel(args.model_name, args.model_dir)
    ModelServer().start([model])
