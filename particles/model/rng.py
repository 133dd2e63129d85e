"""Named random streams derived from one seed (no global RNG anywhere).

Each stream is a ``numpy.random.Generator`` on PCG64 seeded by
``SeedSequence(seed, spawn_key=(k,))`` with a fixed key per name, so a stream does
not depend on which other streams a run happens to use.
"""
import numpy as np

from ..registry import STREAMS


def stream(seed, name):
    """Generator for the stream ``name`` of run seed ``seed``.

    Parameters
    ----------
    seed : int
        The run seed (>= 0).
    name : str
        One of ``teacher``, ``data``, ``init``, ``noise`` (online batches),
        ``monitor``, ``test``, ``probe`` (the kernel-drift probe inputs),
        ``diffusion`` (the Brownian increments of a run at a temperature > 0).
    """
    if name not in STREAMS:
        raise ValueError(f"stream name {name!r} is unknown; allowed: {', '.join(STREAMS)}")
    ss = np.random.SeedSequence(int(seed), spawn_key=(STREAMS[name],))
    return np.random.Generator(np.random.PCG64(ss))


def get_state(gen):
    """JSON-serialisable state of a Generator (PCG64)."""
    st = gen.bit_generator.state
    return {"bit_generator": st["bit_generator"],
            "state": {"state": int(st["state"]["state"]), "inc": int(st["state"]["inc"])},
            "has_uint32": int(st["has_uint32"]), "uinteger": int(st["uinteger"])}


def set_state(gen, state):
    """Restore a state produced by :func:`get_state` into ``gen``."""
    gen.bit_generator.state = {
        "bit_generator": state["bit_generator"],
        "state": {"state": int(state["state"]["state"]), "inc": int(state["state"]["inc"])},
        "has_uint32": int(state["has_uint32"]), "uinteger": int(state["uinteger"]),
    }


def check_state(state):
    """Raise ValueError unless ``state`` has the form :func:`get_state` writes (a PCG64
    state with integer ``state``, ``inc``, ``has_uint32`` and ``uinteger``)."""
    try:
        ok = (isinstance(state, dict) and state["bit_generator"] == "PCG64"
              and all(isinstance(state["state"][k], int) and not isinstance(
                  state["state"][k], bool) and state["state"][k] >= 0
                      for k in ("state", "inc"))
              and state["has_uint32"] in (0, 1) and isinstance(state["uinteger"], int))
    except (KeyError, TypeError):
        ok = False
    if not ok:
        raise ValueError(f"random stream state {state!r} is malformed; allowed: the PCG64 "
                         "state that particles writes (bit_generator, state, inc, "
                         "has_uint32, uinteger)")
