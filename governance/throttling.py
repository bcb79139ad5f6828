"""Login throttling (django-axes) with three limits.

A username is locked from one address after AXES_FAILURE_LIMIT failures; an address is locked for every username
after TRIBUTARY_LOGIN_IP_FAILURE_LIMIT failures; a username is locked from every address after
TRIBUTARY_LOGIN_USER_FAILURE_LIMIT failures in all (guessing one password from many addresses). Someone typing
wrong passwords for alice from elsewhere locks themselves out, not alice, until they spread a guessing campaign
over many addresses; and every lockout ends after the cool-off time.
"""

from axes.handlers.database import AxesDatabaseHandler
from django.conf import settings
from django.db.models import Sum


class TributaryAxesHandler(AxesDatabaseHandler):
    def get_failures(self, request, credentials=None) -> int:
        per_user_and_address, per_address, per_user = (
            attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0
            for attempts in self.get_user_attempts(request, credentials)
        )
        # axes has one limit; the wider counts are scaled to it.
        limit = settings.AXES_FAILURE_LIMIT
        return max(
            per_user_and_address,
            int(per_address * limit / settings.TRIBUTARY_LOGIN_IP_FAILURE_LIMIT),
            int(per_user * limit / settings.TRIBUTARY_LOGIN_USER_FAILURE_LIMIT),
        )
