"""Modules, parameters, layers and networks."""
from .layers import (BatchNorm2d, Conv2d, ConvBNReLU, Dense, GlobalAvgPool2d, MaxPool2d, ReLU,
                     he_normal)
from .module import Buffer, Module, Parameter, Sequential

__all__ = ['Module', 'Parameter', 'Buffer', 'Sequential', 'Conv2d', 'Dense', 'BatchNorm2d',
           'ConvBNReLU', 'ReLU', 'MaxPool2d', 'GlobalAvgPool2d', 'he_normal']
