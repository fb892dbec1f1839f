"""Yardarm: a Kubernetes-native MLOps operator."""

__version__ = "0.1.0"
