"""Kopf handlers and the pure builders and reconcilers behind them (installed as ``yardarm.operator``)."""
