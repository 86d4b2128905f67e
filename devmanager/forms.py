"""Form plumbing shared by the admin's forms."""

from django import forms


class ExactTextModelForm(forms.ModelForm):
    """Keeps text exactly as typed, as the API does (Django's form fields trim white space by default), so that the
    admin and the API accept and store the same values."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            if isinstance(field, forms.CharField):
                field.strip = False
