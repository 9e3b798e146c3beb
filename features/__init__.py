"""Your feature code: functions named by `features.custom` ('features.<module>:<function>').

Each is a pure `DataFrame -> DataFrame` function: it gets the raw columns after the declared
rules (conf `features`), returns a frame with the same rows and index, and computes each row
from that row alone. It is pickled by value into the logged model, so serving needs neither
this folder nor mlgate. The train stage depends on this folder in dvc.yaml: editing a module
here reruns training.
"""
