"""Winnow core: detectors, data import, the store, the job queue and the services pages call."""
