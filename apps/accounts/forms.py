"""Form parsing for the accounts pages. Rules live in services; forms only parse types."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.utils import timezone

from apps.accounts.models import OrgRole, ProjectRole

EXPIRY_CHOICES = [("1", "1 day"), ("7", "7 days"), ("30", "30 days"), ("90", "90 days"), ("", "Never")]


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, required=True, error_messages={"required": "Give the token a name."})


class InviteForm(forms.Form):
    role = forms.ChoiceField(choices=ProjectRole.choices, initial=ProjectRole.ANNOTATOR)
    expires_in_days = forms.ChoiceField(choices=EXPIRY_CHOICES, required=False, initial="7", label="Expires after")
    max_uses = forms.IntegerField(
        required=False, min_value=1, max_value=100_000, label="Use limit",
        help_text="How many people may join with this link; empty for no limit.",
    )
    label = forms.CharField(max_length=100, required=False, help_text="Only managers see this, e.g. “Prolific batch 2”.")

    def expires_at(self):  # type: ignore[no-untyped-def]
        days = self.cleaned_data.get("expires_in_days")
        return timezone.now() + timedelta(days=int(days)) if days else None


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=ProjectRole.choices)


class MemberAddForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=ProjectRole.choices, initial=ProjectRole.ANNOTATOR)


class OrgRoleForm(forms.Form):
    role = forms.ChoiceField(choices=OrgRole.choices)


class OrgMemberAddForm(forms.Form):
    username = forms.CharField(max_length=150)
    email = forms.CharField(max_length=254, required=False)
    role = forms.ChoiceField(choices=OrgRole.choices, initial=OrgRole.RESEARCHER)


class JoinForm(forms.Form):
    """A crowd worker's account: no email. An empty username takes the suggested one,
    which the page generated, so a double submit of an untouched form names the same user."""

    username = forms.CharField(max_length=150, required=False)
    suggested = forms.CharField(max_length=150, required=False, widget=forms.HiddenInput)
    password = forms.CharField(
        widget=forms.PasswordInput, strip=False, error_messages={"required": "Choose a password."}
    )

    def chosen_username(self) -> str:
        return (self.cleaned_data.get("username") or self.cleaned_data.get("suggested") or "").strip()
