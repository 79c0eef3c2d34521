"""The runtime: settings and profiles, device and speed switches, processes, checkpoints, caches.

Nothing here knows about a model family; every other package may import from here.
"""
