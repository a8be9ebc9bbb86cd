"""The mails identity sends: what they say, and the links they carry."""

from __future__ import annotations

from graphql_api.mail import Mail


def verify_email(to: str, token: str, public_url: str) -> Mail:
    return Mail(
        to=to,
        subject="Confirm your email address",
        body=(
            "Confirm your email address to finish creating your account:\n\n"
            f"  {public_url}/verify-email?token={token}\n\n"
            "Or run the `verifyEmail` mutation with this token (valid for one hour):\n\n"
            f"  {token}\n"
        ),
    )


def already_registered(to: str, public_url: str) -> Mail:
    return Mail(
        to=to,
        subject="You already have an account",
        body=(
            "Someone (hopefully you) tried to register with this address, which already "
            "has an account. If you forgot your password, reset it:\n\n"
            f"  {public_url}/reset-password\n"
        ),
    )


def reset_password(to: str, token: str, public_url: str) -> Mail:
    return Mail(
        to=to,
        subject="Reset your password",
        body=(
            "Choose a new password here:\n\n"
            f"  {public_url}/reset-password?token={token}\n\n"
            "Or run the `resetPassword` mutation with this token (valid for one hour, "
            f"single use):\n\n  {token}\n\n"
            "If you did not ask for this, ignore this mail: nothing changes.\n"
        ),
    )
