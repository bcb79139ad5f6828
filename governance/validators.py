import string

from django.core.exceptions import ValidationError


class ComplexityValidator:
    """At least three of: lower case, upper case, digits, symbols (the seed's 'password complexity' rule)."""

    def __init__(self, classes: int = 3):
        self.classes = classes

    def validate(self, password: str, user=None) -> None:
        present = sum(
            any(test(c) for c in password)
            for test in (str.islower, str.isupper, str.isdigit, lambda c: c in string.punctuation or c == " ")
        )
        if present < self.classes:
            raise ValidationError(
                f"This password must mix at least {self.classes} of: lower case, upper case, digits, symbols.",
                code="password_too_simple",
            )

    def get_help_text(self) -> str:
        return f"Your password must mix at least {self.classes} of: lower case, upper case, digits, symbols."
