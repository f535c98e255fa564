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


# --- whose account it is (issue 17) -------------------------------------------------------------
class TalentHasAccountError(TwinwatchError):
    """The talent has an account already: one talent, one account (hers)."""

    code = "talent_has_account"
    category = ErrorCategory.CONFLICT


class AccountActiveError(TwinwatchError):
    """The account's password is set: an invitation is only for an account never used."""

    code = "account_active"
    category = ErrorCategory.CONFLICT


class InvitationNeedsOperatorError(TwinwatchError):
    """No SMTP server is configured, so an invitation link cannot go to the talent by
    e-mail; only an operator (an admin, or the ``twinwatch users`` command) hands one out."""

    code = "invitation_needs_operator"
    category = ErrorCategory.CONFLICT


class EmailNotConfiguredError(TwinwatchError):
    """What was asked needs e-mail, and this installation has no SMTP server."""

    code = "email_not_configured"
    category = ErrorCategory.CONFLICT


class EmailNotSentError(TwinwatchError):
    """The SMTP server did not take an account message (its link was voided)."""

    code = "email_not_sent"
    category = ErrorCategory.UNAVAILABLE


class AccountLinkInvalidError(TwinwatchError):
    """A password-reset or address-confirmation link that is unknown, used or expired."""

    code = "account_link_invalid"
    category = ErrorCategory.NOT_FOUND


class PasswordWrongError(TwinwatchError):
    """The current password, asked again before a change to the account, was wrong."""

    code = "password_wrong"
    category = ErrorCategory.FORBIDDEN
