"""The fake Google Workspace's user directory (Admin SDK Directory API v1) and the
identity rules delegation follows.

As Google does it:
- a user has an immutable `id` (21 digits), one `primaryEmail` and any number of
  `aliases`; `users.get(userKey)` takes any of the three and answers with the
  user (404 `Resource Not Found: userKey` otherwise);
- only an admin may read the directory (else 403 `Not Authorized to access this
  resource/api`), with a token carrying admin.directory.user(.readonly);
- the calendar id of a user's primary calendar is their primary email;
- domain-wide delegation impersonates a primary email only: an alias, a former
  address or a deleted user gives invalid_grant "Invalid email or User ID";
- renaming a user changes the primary email (and the calendar's id); the old one
  stays an alias unless removed; the id never changes.

Every calendar of the store is a user's primary calendar: its owner is enrolled
on first sight with an id derived from the address, so scenarios need no
directory of their own. Admins without a calendar are added with `add_user`."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from service.sandbox.errors import GoogleApiError, ScenarioError

DIRECTORY_SCOPES = frozenset(
    f"https://www.googleapis.com/auth/{s}" for s in ("admin.directory.user", "admin.directory.user.readonly")
)
CUSTOMER_ID = "C03az79cb"


@dataclass
class DirectoryUser:
    id: str
    primary_email: str
    aliases: list[str] = field(default_factory=list)
    is_admin: bool = False
    suspended: bool = False

    def resource(self) -> dict[str, Any]:
        """The `User` resource users.get returns (projection basic)."""
        local = self.primary_email.split("@", 1)[0]
        out: dict[str, Any] = {
            "kind": "admin#directory#user",
            "id": self.id,
            "etag": f'"{hashlib.sha1(repr(self).encode()).hexdigest()[:27]}"',
            "primaryEmail": self.primary_email,
            "name": {"givenName": local, "familyName": "", "fullName": local},
            "isAdmin": self.is_admin,
            "isDelegatedAdmin": False,
            "agreedToTerms": True,
            "suspended": self.suspended,
            "archived": False,
            "changePasswordAtNextLogin": False,
            "ipWhitelisted": False,
            "customerId": CUSTOMER_ID,
            "orgUnitPath": "/",
            "isMailboxSetup": True,
            "includeInGlobalAddressList": True,
        }
        if self.aliases:
            out["aliases"] = list(self.aliases)
        return out


def user_id_for(email: str) -> str:
    """A stable 21-digit id, as Google's look."""
    return "1" + str(int(hashlib.sha256(email.lower().encode()).hexdigest(), 16))[:20]


class GoogleDirectory:
    """Users by id, with every address (primary and aliases) indexed. Thread-safe."""

    def __init__(self, calendars: Callable[[], Iterable[str]] = tuple) -> None:
        self._calendars = calendars  # the store's calendar ids: their owners are users
        self._users: dict[str, DirectoryUser] = {}
        self._addresses: dict[str, str] = {}  # lower-cased address → user id
        self.lock = threading.RLock()  # held by GoogleFake across a rename of user and calendar

    # -- the test's or the scenario's set-up -------------------------------------------------------
    def add_user(
        self, email: str, *, aliases: Iterable[str] = (), admin: bool = False, user_id: str | None = None
    ) -> DirectoryUser:
        with self.lock:
            key = email.lower()
            if key in self._addresses:
                raise ScenarioError(f"{email} is already a user's address")
            user = DirectoryUser(user_id or user_id_for(key), key, is_admin=admin)
            self._users[user.id] = user
            self._addresses[key] = user.id
            for alias in aliases:
                self.add_alias(key, alias)
            return user

    def add_alias(self, email: str, alias: str) -> None:
        with self.lock:
            user = self._known(email)
            key = alias.lower()
            if key in self._addresses or key in set(self._calendars()):
                raise ScenarioError(f"{alias} is already a user's address")
            user.aliases.append(key)
            self._addresses[key] = user.id

    def remove_alias(self, alias: str) -> None:
        with self.lock:
            user = self._known(alias)
            if alias.lower() == user.primary_email:
                raise ScenarioError(f"{alias} is a primary address, not an alias")
            user.aliases.remove(alias.lower())
            del self._addresses[alias.lower()]

    def rename(self, email: str, new: str, *, keep_alias: bool = True) -> DirectoryUser:
        """The primary address becomes `new`; the old one stays an alias if `keep_alias`."""
        with self.lock:
            user = self._known(email)
            old, key = user.primary_email, new.lower()
            if key in self._addresses and self._addresses[key] != user.id:
                raise ScenarioError(f"{new} is already another user's address")
            if key in user.aliases:
                user.aliases.remove(key)
            user.primary_email = key
            self._addresses[key] = user.id
            if keep_alias:
                user.aliases.append(old)
            else:
                del self._addresses[old]
            return user

    def delete(self, email: str) -> DirectoryUser:
        with self.lock:
            user = self._known(email)
            del self._users[user.id]
            for address in [user.primary_email, *user.aliases]:
                self._addresses.pop(address, None)
            return user

    def set_suspended(self, email: str, suspended: bool = True) -> None:
        with self.lock:
            self._known(email).suspended = suspended

    # -- reading ----------------------------------------------------------------------------------
    def user(self, key: str) -> DirectoryUser | None:
        """By primary email, alias or id."""
        with self.lock:
            self._enroll_calendars()
            if key in self._users:
                return self._users[key]
            user_id = self._addresses.get(key.lower())
            return self._users.get(user_id) if user_id is not None else None

    def impersonable(self, email: str) -> bool:
        """Whether delegation may act as `email`: the primary address of an active user."""
        user = self.user(email)
        return user is not None and user.primary_email == email.lower() and not user.suspended

    def get(self, caller: str | None, scopes: Iterable[str], user_key: str) -> dict[str, Any]:
        """users.get as `caller` (the token's user) with `scopes`."""
        if not DIRECTORY_SCOPES & set(scopes):
            raise GoogleApiError(403, "insufficientPermissions", "Request had insufficient authentication scopes.")
        admin = self.user(caller or "")
        if admin is None or not admin.is_admin or admin.suspended:
            raise GoogleApiError(403, "forbidden", "Not Authorized to access this resource/api")
        user = self.user(user_key)
        if user is None:
            raise GoogleApiError(404, "notFound", "Resource Not Found: userKey")
        return user.resource()

    def _known(self, email: str) -> DirectoryUser:
        user = self.user(email)
        if user is None:
            raise ScenarioError(f"no user has the address {email}")
        return user

    def _enroll_calendars(self) -> None:
        for calendar in self._calendars():
            if calendar not in self._addresses:
                user = DirectoryUser(user_id_for(calendar), calendar)
                while user.id in self._users:  # an id taken by a renamed user's first address
                    user.id = user_id_for(user.id + calendar)
                self._users[user.id] = user
                self._addresses[calendar] = user.id
