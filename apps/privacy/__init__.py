"""Personal data: detection (apps.privacy.detection), stored spans, scans and the project policy.

The functions other apps call most are re-exported here.
"""

from apps.privacy.detection import pii_detect, placeholder_for, redact

__all__ = ["pii_detect", "placeholder_for", "redact"]
