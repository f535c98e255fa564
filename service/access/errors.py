"""Errors of signing in and accounts: failed or throttled logins, invitations, passwords, CSRF."""

from __future__ import annotations

from indexer.errors import ErrorCategory, TwinwatchError
from service.core.errors import OverloadedError


# --- human accounts and the console ---------------------------------------------------------
class LoginFailedError(TwinwatchError):
    """Wrong e-mail or password, or a disabled account (one message for all three)."""

    code = "login_failed"
    category = ErrorCategory.UNAUTHORIZED


class LoginThrottledError(OverloadedError):
    """Too many failed sign-ins for this e-mail or from this address: wait ``retry_after_s``."""

    code = "login_throttled"
    category = ErrorCategory.RATE_LIMITED


class InvitationInvalidError(TwinwatchError):
    """The invitation link is unknown, used already, or expired."""

    code = "invitation_invalid"
    category = ErrorCategory.NOT_FOUND


class PasswordRejectedError(TwinwatchError):
    code = "password_rejected"
    category = ErrorCategory.INVALID


class UserExistsError(TwinwatchError):
    code = "user_exists"
    category = ErrorCategory.CONFLICT


class CsrfError(TwinwatchError):
    """A console form arrived without this session's CSRF token."""

    code = "csrf_failed"
    category = ErrorCategory.FORBIDDEN
