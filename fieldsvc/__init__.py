"""fieldsvc: the backend that makes home-visit service standards checkable."""
