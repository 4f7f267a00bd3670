"""The car: motion models and DeepRacer action spaces; no track, no pixels."""
