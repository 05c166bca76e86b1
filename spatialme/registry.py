"""Short-name registries for swappable back-ends (depth models, hole fillers, stereo matchers).

Back-ends are chosen by short names (as iw3 registers its models), so a config or a CLI flag
can name one and a plug-in can add one without touching the caller.
"""

from __future__ import annotations

from typing import Callable, Generic, TypeVar

T = TypeVar("T")

__all__ = ["Registry"]


class Registry(Generic[T]):
    """Name -> entry mapping with a registering decorator.

    Args:
        kind: what the entries are, for messages (``"depth backend"``).
        argument: the user-facing argument that names an entry, for ``ValueError`` messages.
    """

    def __init__(self, kind: str, argument: str) -> None:
        self.kind = kind
        self.argument = argument
        self._entries: dict[str, T] = {}

    def register(self, name: str, *, overwrite: bool = False) -> Callable[[T], T]:
        """Decorator registering an entry under ``name``.

        Raises:
            ValueError: when ``name`` is taken (unless ``overwrite``) or the entry is not callable.
        """

        def wrap(entry: T) -> T:
            if name in self._entries and not overwrite:
                raise ValueError(f"name: a {self.kind} called {name!r} is already registered")
            if not callable(entry):
                raise ValueError(f"factory: expected a callable, got {type(entry).__name__}")
            self._entries[name] = entry
            return entry

        return wrap

    def names(self) -> tuple[str, ...]:
        """Registered names, sorted."""
        return tuple(sorted(self._entries))

    def get(self, name: str) -> T:
        """The entry registered as ``name``; ``ValueError`` naming the argument otherwise."""
        if name not in self._entries:
            raise ValueError(f"{self.argument}: unknown {self.kind} {name!r}; expected one of {', '.join(self.names())}")
        return self._entries[name]
