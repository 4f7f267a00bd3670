"""Objects on the track: boxes, bot cars and the other racers of a multi-car race.

Their placement (`obstacles`, `bots`), their collisions with a car (`collision`), their params
keys (`params`), how the camera draws them (`drawing`) and, over all of it, `world.ObjectWorld`:
the per-car object arrays that the env's core asks to place, move, hit and describe.
Import from the modules; this package imports nothing.
"""
