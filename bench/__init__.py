"""twinwatch benchmarks: accuracy, calibration, speed and index scale (issue #4).

Each module is one command (``python -m bench.<name>``); each prints its figures and writes
``bench/results/<name>.json`` and ``.md`` (and a PNG plot for the accuracy benchmarks).
"""
