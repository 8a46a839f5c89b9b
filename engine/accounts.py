"""Users, roles and API tokens.

Tokens are 256-bit random secrets shown once; only their SHA-256 is stored (a fast hash is
right for high-entropy secrets, unlike passwords). Password hashing belongs to the web layer,
which hands the engine a finished hash.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import clock
from engine.access import Actor
from engine.errors import Conflict, InvalidInput, NotFound
from storage.models import ApiToken, Group, Membership, User

__all__ = [
    "actor_for_token",
    "actor_for_user",
    "create_token",
    "ensure_user",
    "hash_token",
    "revoke_token",
    "user_exists",
    "user_roles",
]

TOKEN_PREFIX = "itsm_"


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def ensure_user(
    session: Session,
    name: str,
    roles: Iterable[str],
    *,
    display_name: str | None = None,
    password_hash: str | None = None,
    email: str | None = None,
) -> User:
    """Create the user if missing and add the given roles (roles must exist)."""
    if not name or len(name) > 100:
        raise InvalidInput("a user name is 1 to 100 characters")
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        user = User(name=name, display_name=display_name or name, email=email,
                    password_hash=password_hash, active=True, created_at=clock.now())
        session.add(user)
        session.flush()
    elif password_hash is not None:
        user.password_hash = password_hash
    _add_roles(session, user, roles)
    return user


def _add_roles(session: Session, user: User, roles: Iterable[str]) -> None:
    wanted = set(roles)
    groups = {g.name: g for g in session.scalars(select(Group).where(Group.name.in_(wanted)))}
    unknown = wanted - set(groups)
    if unknown:
        raise InvalidInput(f"unknown role(s): {', '.join(sorted(unknown))}")
    held = set(session.scalars(select(Membership.group_id).where(Membership.user_id == user.id)))
    for group in groups.values():
        if group.id not in held:
            session.add(Membership(user_id=user.id, group_id=group.id))
    session.flush()


def user_exists(session: Session, name: str) -> bool:
    return session.scalar(select(User.id).where(User.name == name)) is not None


def user_roles(session: Session, user_id: int) -> frozenset[str]:
    return frozenset(session.scalars(
        select(Group.name).join(Membership, Membership.group_id == Group.id)
        .where(Membership.user_id == user_id)
    ))


def actor_for_user(session: Session, name: str) -> Actor:
    user = session.scalar(select(User).where(User.name == name, User.active.is_(True)))
    if user is None:
        raise NotFound(f"no active user {name!r}")
    return Actor(user.name, user_roles(session, user.id))


def create_token(session: Session, user_name: str, token_name: str = "default") -> str:
    """A new token for the user; the secret is returned once and never stored."""
    user = session.scalar(select(User).where(User.name == user_name))
    if user is None:
        raise NotFound(f"no user {user_name!r}")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, name=token_name, token_hash=hash_token(secret),
                         prefix=secret[:12], created_at=clock.now()))
    session.flush()
    return secret


def actor_for_token(session: Session, secret: str) -> Actor | None:
    """The actor a token stands for, or None when it is unknown, revoked or its user inactive."""
    row = session.execute(
        select(User.id, User.name)
        .join(ApiToken, ApiToken.user_id == User.id)
        .where(ApiToken.token_hash == hash_token(secret), ApiToken.revoked_at.is_(None),
               User.active.is_(True))
    ).first()
    if row is None:
        return None
    return Actor(row.name, user_roles(session, row.id))


def revoke_token(session: Session, prefix: str) -> None:
    token = session.scalar(select(ApiToken).where(ApiToken.prefix == prefix))
    if token is None:
        raise NotFound(f"no token starting with {prefix!r}")
    if token.revoked_at is not None:
        raise Conflict("token already revoked")
    token.revoked_at = clock.now()
