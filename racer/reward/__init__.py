"""The reward boundary: DeepRacer's params dict and the user's reward function."""
