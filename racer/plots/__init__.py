"""Figures drawn with matplotlib (Agg backend), imported only by the commands that draw."""
