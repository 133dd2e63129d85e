"""Time stepping: integrators (found through :data:`particles.registry.METHODS`),
observables as functions of the state, recording schedules, the in-memory simulation,
the file-backed runner and the resource checks done before a run starts.
"""
