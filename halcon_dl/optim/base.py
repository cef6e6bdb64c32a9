"""What every optimiser's state looks like: one dict (parameter name -> array) per slot.

A solver names its slots (SGD: ``velocity``; Adam: ``m`` and ``v``) and any scalars it keeps
besides the arrays (Adam: the update count ``t``).  Device moves, dtype casts, dropping the state
of replaced parameters and saving/loading the state (model files) then work the same for all.
"""
from __future__ import annotations

from ..errors import HalconDLError


class Solver:
    """Base class: ``slots`` are attribute names of dicts parameter name -> state array."""

    name: str = ''
    slots: tuple = ()

    def state(self) -> dict:
        """Arrays of the optimiser state, by key '<slot>.<parameter name>' (live)."""
        return {f'{slot}.{k}': a for slot in self.slots for k, a in getattr(self, slot).items()}

    def scalars(self) -> dict:
        """The state besides the arrays, as JSON scalars by name (none unless a solver adds)."""
        return {}

    def load_state(self, arrays: dict, scalars: dict) -> None:
        """Replace the whole state by ``arrays`` (keys as ``state()`` gives them) and
        ``scalars`` (names as ``scalars()`` gives them); raises on a key of neither."""
        if set(scalars) != set(self.scalars()):
            raise HalconDLError(f'{self.name} state scalars: expected {sorted(self.scalars())}, '
                                f'got {sorted(scalars)}')
        slots = {slot: {} for slot in self.slots}
        for key, a in arrays.items():
            slot, _, param = key.partition('.')
            if slot not in slots or not param:
                raise HalconDLError(f'{self.name} state: key {key!r} is not <slot>.<parameter> '
                                    f'with a slot in {list(self.slots)}')
            slots[slot][param] = a
        for slot, values in slots.items():
            setattr(self, slot, values)

    def map_arrays(self, fn) -> None:
        """Replace every state array by ``fn(array)`` (device moves, dtype casts)."""
        for slot in self.slots:
            setattr(self, slot, {k: fn(x) for k, x in getattr(self, slot).items()})

    def forget(self, names) -> None:
        """Drop the state of parameters that were replaced (e.g. a rebuilt output layer)."""
        for slot in self.slots:
            for name in names:
                getattr(self, slot).pop(name, None)
