"""The one scope list, and the code that names scopes on its own agreeing with it (the manifests and the README are
checked in tests/deploy/test_slack_manifests.py)."""

from __future__ import annotations

from bot.slack import directory
from bot.slack.scopes import BOT_SCOPES, METHOD_SCOPES, OPTIONAL_SCOPES, REQUIRED_SCOPES, SCOPE_NAMES


def test_each_scope_once_and_only_chat_write_required() -> None:
    assert len(set(SCOPE_NAMES)) == len(SCOPE_NAMES) == len(BOT_SCOPES)
    assert list(REQUIRED_SCOPES) == ["chat:write"]
    assert set(REQUIRED_SCOPES) | set(OPTIONAL_SCOPES) == set(SCOPE_NAMES)
    assert all(scope.purpose for scope in BOT_SCOPES)


def test_each_method_needs_one_scope() -> None:
    methods = [method for scope in BOT_SCOPES for method in scope.methods]
    assert len(methods) == len(set(methods)) == len(METHOD_SCOPES)
    assert METHOD_SCOPES["chat.postMessage"] == METHOD_SCOPES["chat.update"] == "chat:write"


def test_the_directory_needs_the_scopes_of_the_one_list() -> None:
    """The directory keeps each method's scope beside its rate tier; it must be the one list's."""
    assert {method.value: tier.scope for method, tier in directory.METHODS.items()} == {
        method: METHOD_SCOPES[method] for method in (m.value for m in directory.DirectoryMethod)
    }
    assert directory.EMAIL_SCOPE in SCOPE_NAMES
