"""Reads on the identity side."""

from accounts.models import Role, User, VettingStatus


def user_is_vetted_officer(user: User) -> bool:
    if not user.is_authenticated or not user.has_role(Role.OFFICER):
        return False
    profile = getattr(user, "officer_profile", None)
    return profile is not None and profile.vetting_status == VettingStatus.VETTED
