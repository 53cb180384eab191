"""Layers with PyTorch's names, constructor arguments, parameter names and initialisation."""

from tinymm.nn import init
from tinymm.nn.activation import LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from tinymm.nn.container import ModuleList, Sequential
from tinymm.nn.linear import Linear
from tinymm.nn.module import Module, Parameter

__all__ = [
    "Linear", "LogSoftmax", "Module", "ModuleList", "Parameter", "ReLU", "Sequential",
    "Sigmoid", "Softmax", "Tanh", "init",
]
