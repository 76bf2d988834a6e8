"""Tessera: image models on the GPU through WebGPU, with a Python shell around them."""

__version__ = "0.1.0"
