"""What Dataset and TrainingRun Jobs run: profiling, training and ONNX export (``yardarm.training``)."""
