"""edgelnn: liquid neural networks and RNN baselines, from training to the edge.

Stages, one subpackage each: data -> models -> train -> export -> runtime -> bench -> report
(plus targets for devices and study for the whole comparison).
"""
__version__ = "0.1.0"
