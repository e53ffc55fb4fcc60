"""Expiring links to evidence photos, and the signed route that serves local-backend blobs."""
