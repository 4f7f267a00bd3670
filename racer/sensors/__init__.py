"""Sensors: the batched front camera and the top-down ground texture it samples.

``racer.sensors.texture`` rasterises a track once (numpy only); ``racer.sensors.camera`` renders
N cars' grayscale frames per call with a numba kernel. Import them from their modules: this package
imports nothing, so loading the texture does not pull in numba.
"""
