from django.conf import settings
from django.db import models


class ApiKey(models.Model):
    """A user's API key. Only a SHA-256 digest is stored: the key itself is shown once, when issued.

    A user may hold several keys (one per integration); each can be revoked on its own.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=8, help_text="First characters of the key, to tell keys apart.")
    # Keys are 160 random bits, so a fast digest is as safe as a slow one and keeps auth cheap.
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.prefix}… ({self.user})"

    @property
    def is_active(self):
        return self.revoked_at is None
