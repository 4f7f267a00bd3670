"""DeepRacer's configuration file formats, parsed once each: ``model_metadata.json``.

(The log formats, written and read, are in ``racer.logs``; the track files in ``racer.track``.)
"""
