"""Evaluations against data the pipeline must never see while it chooses anything."""
