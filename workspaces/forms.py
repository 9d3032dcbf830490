"""Forms of the web pages. They validate; the services write."""
from django import forms
from django.contrib.auth.forms import UserCreationForm

from workspaces import services


class SignupForm(UserCreationForm):
    """Django's standard signup fields (username, password1, password2).

    Saving goes through `user_register`, the same service the API uses.
    """

    def save(self, commit=True):
        return services.user_register(username=self.cleaned_data["username"],
                                      password=self.cleaned_data["password1"])


class WorkspaceForm(forms.Form):
    name = forms.CharField(max_length=200, strip=True)
    description = forms.CharField(max_length=5000, required=False, widget=forms.Textarea(attrs={"rows": 2}))
