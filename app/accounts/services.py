"""The verbs of accounts: create users, check credentials."""

from sqlalchemy import func, select

from app.accounts.models import User
from app.accounts.passwords import MIN_PASSWORD_LENGTH, hash_password, verify_password
from app.extensions import db
from app.service_errors import Conflict, ServiceError
from app.timestamps import utcnow


def normalize_email(email):
    """Emails are compared case-insensitively and without surrounding blanks."""
    return email.strip().lower()


def find_user(email):
    """Return the user with this email, or ``None``."""
    return db.session.scalar(select(User).where(User.email == normalize_email(email)))


def check_password_rules(password):
    """Raise if the password is too weak to accept."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ServiceError(
            f"Use at least {MIN_PASSWORD_LENGTH} characters for the password.", field="password"
        )


def create_user(email, password, is_superuser=False):
    """Create a user; the email must be new."""
    email = normalize_email(email)
    if find_user(email) is not None:
        raise Conflict(f"An account for {email} already exists.", field="email")
    check_password_rules(password)
    user = User(email=email, password_hash=hash_password(password), is_superuser=is_superuser)
    db.session.add(user)
    db.session.flush()
    return user


def change_password(user, current_password, new_password):
    """Replace a user's password after checking the current one."""
    if not verify_password(user.password_hash, current_password):
        raise ServiceError("The current password is not correct.", field="current_password")
    check_password_rules(new_password)
    user.password_hash = hash_password(new_password)
    db.session.flush()


def authenticate(email, password):
    """Return the user these credentials belong to, or ``None`` (taking as long either way)."""
    user = find_user(email)
    if not verify_password(user.password_hash if user else None, password):
        return None
    user.last_login_at = utcnow()
    return user


def load_user(user_id):
    """Flask-Login's loader: the user for a session's id."""
    return db.session.get(User, user_id)


def user_count():
    """Return how many accounts exist."""
    return db.session.scalar(select(func.count()).select_from(User))
