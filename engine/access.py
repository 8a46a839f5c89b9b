"""Who may do what. Lane name = role; an admin may do everything."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["ADMIN", "PROCESS_OWNER", "READER", "SYSTEM", "Actor"]

ADMIN = "Admin"
PROCESS_OWNER = "Process Owner"
READER = "Reader"


@dataclass(frozen=True)
class Actor:
    """The person or integration acting: a user name and the roles (groups) it holds."""

    name: str
    roles: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.roles

    def holds(self, role: str | None) -> bool:
        return self.is_admin or (role is not None and role in self.roles)

    def may_work_on(self, lane: str | None, assignee: str | None) -> bool:
        """A claimed task belongs to its assignee; an open one to every holder of its lane."""
        if self.is_admin or assignee == self.name:
            return True
        if assignee is not None:
            return False
        return lane is None or lane in self.roles

    def may_see_all_instances(self) -> bool:
        return self.is_admin or READER in self.roles

    def may_deploy(self) -> bool:
        return self.is_admin or PROCESS_OWNER in self.roles


# The actor for work the system does by itself (timers, routed events).
SYSTEM = Actor("system", frozenset({ADMIN}))
