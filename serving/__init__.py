"""The ONNX Runtime inference server that ModelDeployment pods run (installed as ``yardarm.serving``)."""
